// The metadata analysis reads and scans records on several threads when
// the source allows concurrent reads (tpkg/metadata.h): the result is the
// same, field for field, as the one-thread analysis of the same records,
// errors included; and ParallelFor (base/parallel_for.h) runs every index
// once and reports the lowest index's exception.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/parallel_for.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/policy.h"

namespace tpkg {
namespace {

// Records in memory; `concurrent` says whether the analysis may use threads.
class MemoryRecords : public RecordSource {
 public:
  MemoryRecords(std::vector<std::pair<std::string, std::string>> records, bool concurrent)
      : records_(std::move(records)), concurrent_(concurrent) {
    for (size_t i = 0; i < records_.size(); ++i) index_[records_[i].first] = i;
  }
  std::vector<std::string> RecordNames() const override {
    std::vector<std::string> out;
    for (const auto& [name, bytes] : records_) out.push_back(name);
    return out;
  }
  std::string ReadRecord(const std::string& name) const override {
    const auto it = index_.find(name);
    if (it == index_.end()) throw Error(Errc::kNotFound, "no record " + name);
    {
      std::lock_guard lock(mu_);
      readers_.insert(std::this_thread::get_id());
    }
    // Long enough for the helper threads to start and claim records too,
    // even on a loaded machine.
    if (concurrent_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return records_[it->second].second;
  }
  bool concurrent_reads() const override { return concurrent_; }
  // Every record is its own unchanged content (so the cache may keep it).
  std::optional<RecordContentId> ContentOf(const std::string& name) const override {
    const auto it = index_.find(name);
    if (it == index_.end()) return std::nullopt;
    return RecordContentId{it->second, records_[it->second].second.size(),
                           records_[it->second].second.size(), 0};
  }
  size_t reader_threads() const {
    std::lock_guard lock(mu_);
    return readers_.size();
  }

 private:
  std::vector<std::pair<std::string, std::string>> records_;
  std::map<std::string, size_t> index_;
  const bool concurrent_;
  mutable std::mutex mu_;
  mutable std::set<std::thread::id> readers_;  // guarded by mu_
};

// A package of many sources importing each other, the standard library, a
// missing module and `__import__` targets, with a pickle and a mock stub.
std::vector<std::pair<std::string, std::string>> ManySources(int count) {
  std::vector<std::pair<std::string, std::string>> records;
  records.emplace_back("_mock.py", "# support\n");
  records.emplace_back("p/__init__.py", "from . import m0\n");
  for (int i = 0; i < count; ++i) {
    std::string text = "import json\nfrom . import m" + std::to_string((i + 1) % count) + "\n";
    if (i % 7 == 0) text += "def f():\n    import collections.abc as c\n    return c\n";
    if (i % 11 == 0) text += "x = __import__('os.path', fromlist=['join'])\n";
    if (i % 13 == 0) text += "s = 'import secret'  # import nothing\n";
    text += "def g" + std::to_string(i) + "(x):\n    return x + " + std::to_string(i) + "\n";
    records.emplace_back("p/m" + std::to_string(i) + ".py", std::move(text));
  }
  records.emplace_back("p/stub.py", std::string(kMockStubSource));
  records.emplace_back("p/model.pkl", std::string("\x80\x03" "cp.m1\nC\nq\x00.", 13));
  return records;
}

void ExpectSame(const Metadata& a, const Metadata& b) {
  EXPECT_EQ(a.extern_modules_text, b.extern_modules_text);
  EXPECT_EQ(a.deps_dot, b.deps_dot);
  EXPECT_EQ(a.problems, b.problems);
  EXPECT_EQ(a.new_externs, b.new_externs);
  EXPECT_EQ(a.interned, b.interned);
  EXPECT_EQ(a.mocked, b.mocked);
  EXPECT_EQ(a.externs, b.externs);
}

TEST(ParallelAnalysisTest, SameResultAsOneThread) {
  const MemoryRecords serial(ManySources(300), false);
  const MemoryRecords parallel(ManySources(300), true);
  const Metadata one = RegenerateMetadata(serial);
  const Metadata many = RegenerateMetadata(parallel);
  EXPECT_EQ(one.problems, "");
  EXPECT_NE(one.extern_modules_text.find("json\n"), std::string::npos);
  EXPECT_NE(one.extern_modules_text.find("os.path\n"), std::string::npos);
  ExpectSame(one, many);
  EXPECT_EQ(serial.reader_threads(), 1u);
  if (std::thread::hardware_concurrency() > 1) {
    EXPECT_GT(parallel.reader_threads(), 1u);
  }
}

// A syntax error in one of many sources: the same problem text either way.
TEST(ParallelAnalysisTest, SameProblemsAsOneThread) {
  auto records = ManySources(100);
  records[40].second += "def broken(:\n";
  const Metadata one = RegenerateMetadata(MemoryRecords(records, false));
  const Metadata many = RegenerateMetadata(MemoryRecords(records, true));
  EXPECT_NE(one.problems, "");
  ExpectSame(one, many);
}

// With a cache: the threads fill it, and a second analysis reuses it all.
TEST(ParallelAnalysisTest, FillsTheCache) {
  const MemoryRecords records(ManySources(100), true);
  MetadataOptions options;
  options.cache = std::make_shared<RecordAnalysisCache>();
  const Metadata first = RegenerateMetadata(records, options);
  const uint64_t misses = options.cache->misses();
  const Metadata second = RegenerateMetadata(records, options);
  EXPECT_EQ(options.cache->misses(), misses);
  ExpectSame(first, second);
  ExpectSame(first, RegenerateMetadata(MemoryRecords(ManySources(100), false)));
}

TEST(ParallelForTest, RunsEveryIndexOnce) {
  std::vector<std::atomic<int>> runs(1000);
  ParallelFor(runs.size(), 4, [&](size_t i) { runs[i].fetch_add(1); });
  for (size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i].load(), 1) << i;
  ParallelFor(0, 4, [&](size_t) { FAIL(); });
}

TEST(ParallelForTest, RethrowsTheLowestIndexError) {
  std::atomic<int> done{0};
  try {
    ParallelFor(200, 3, [&](size_t i) {
      if (i == 150 || i == 40 || i == 90) throw std::runtime_error("item " + std::to_string(i));
      done.fetch_add(1);
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "item 40");
  }
  EXPECT_EQ(done.load(), 197);  // an error stops no other item
}

}  // namespace
}  // namespace tpkg
