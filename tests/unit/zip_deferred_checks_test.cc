// ZipReaderOptions::defer_record_checks: Open() reads the central directory
// only; each record's local header and region are checked at its first read,
// with the eager reader's rules and reasons (zip/zip_deferred_checks.h).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"
#include "zip/zip_format.h"
#include "zip_hostile_cases.h"
#include "zip_hostile_util.h"
#include "zip_test_util.h"

namespace tpkg {
namespace {

using namespace tpkg::testing;


// A base archive whose record p/dup1 has a local header that disagrees with
// the central directory (its compression method).
std::string OneBadLocalHeader() {
  std::string b = BaseArchive();
  Put16(b, LocalAt(b, "p/dup1") + 8, 8);
  return b;
}

class DeferredChecksTest : public ::testing::TestWithParam<HostileCase> {};

// Every refusal of the eager reader is still made: at Open() when the
// central directory shows it, else at the first read of the record it
// concerns, with the same reason. Nothing is lost by deferring.
TEST_P(DeferredChecksTest, RefuseWhatTheEagerReaderRefusesAtOpenOrAtTheRecordsFirstRead) {
  const HostileCase& c = GetParam();
  TempDir dir;
  std::string bytes = c.base();
  c.mutate(bytes);
  const std::string path = dir.Write("hostile.pt", bytes);
  std::vector<std::string> refusals;
  try {
    const ZipReader zip = ZipReader::Open(path, kDeferred);
    EXPECT_TRUE(zip.deferred());
    for (const ZipEntry& e : zip.entries()) {
      try {
        zip.ReadAll(e);
      } catch (const Error& err) {
        EXPECT_TRUE(err.code() == Errc::kCorrupt || err.code() == Errc::kUnsupported) << err.what();
        refusals.push_back(err.what());
      }
    }
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), c.code) << e.what();
    refusals.push_back(e.what());
  }
  bool named = false;
  for (const std::string& r : refusals) named |= r.find(c.reason) != std::string::npos;
  EXPECT_TRUE(named) << (refusals.empty() ? "nothing refused" : refusals.front());
}

INSTANTIATE_TEST_SUITE_P(EachRefusal, DeferredChecksTest, ::testing::ValuesIn(HostileCases()),
                         [](const auto& info) { return info.param.name; });

TEST(DeferredChecksTest, OpenReadsNoLocalHeader) {
  // Every local header signature destroyed: an eager open refuses the
  // archive, a deferred one lists it (names, sizes, CRCs) without reading them.
  std::string b = BaseArchive();
  const std::string sig = "PK\x03\x04";
  for (size_t at = b.find(sig); at != std::string::npos; at = b.find(sig, at + 4))
    b.replace(at, 4, "XXXX");
  TempDir dir;
  const std::string path = dir.Write("headless.pt", b);
  EXPECT_THROW(ZipReader::Open(path), Error);
  const ZipReader zip = ZipReader::Open(path, kDeferred);
  ASSERT_NE(zip.Find("dup1"), nullptr);
  EXPECT_EQ(zip.Find("dup1")->size, 3u);
  EXPECT_EQ(zip.Find("dup1")->data_offset, 0u) << "unknown until the first read";
  EXPECT_NE(What([&] { zip.ReadAll(*zip.Find("dup1")); }).find("no local header at offset"),
            std::string::npos);
}

TEST(DeferredChecksTest, ABadLocalHeaderFailsOnlyItsRecordAndEveryTime) {
  TempDir dir;
  const std::string path = dir.Write("bad.pt", OneBadLocalHeader());
  EXPECT_THROW(ZipReader::Open(path), Error) << "eager: the whole archive is refused";
  const ZipReader zip = ZipReader::Open(path, kDeferred);
  const ZipEntry* bad = zip.Find("dup1");
  ASSERT_NE(bad, nullptr) << "listed";
  EXPECT_EQ(bad->size, 3u);
  const std::string reason =
      path + ": record 'p/dup1': local header disagrees with the central directory "
             "(compression method)";
  EXPECT_EQ(What([&] { zip.DataOffset(*bad); }), reason);
  EXPECT_EQ(What([&] { zip.ReadAll(*bad); }), reason) << "sticky";
  EXPECT_EQ(What([&] { RecordStream in(zip, *bad); }), reason);
  char buf[4];
  EXPECT_EQ(What([&] { zip.ReadAt(*bad, 0, buf); }), reason);
  // A copy of the entry (as callers keep) gets the same verdict.
  const ZipEntry copy = *bad;
  EXPECT_EQ(What([&] { zip.DataOffset(copy); }), reason);
  // The other records read, at the offsets an eager open finds.
  std::string good = BaseArchive();
  const std::string good_path = dir.Write("good.pt", good);
  const ZipReader eager = ZipReader::Open(good_path);
  for (const ZipEntry& e : zip.entries()) {
    if (&e == bad) continue;
    EXPECT_EQ(zip.DataOffset(e), eager.Find(e.name)->data_offset) << e.name;
    EXPECT_EQ(zip.ReadAll(e), eager.ReadAll(*eager.Find(e.name))) << e.name;
  }
}

// First checks run without a lock (zip_deferred_checks.h): threads that
// check the same records at once, good and bad, all get the verdicts one
// thread gets, and later reads keep them.
TEST(DeferredChecksTest, ThreadsCheckingTheSameRecordsAtOnceAgree) {
  TempDir dir;
  const std::string path = dir.Write("bad.pt", OneBadLocalHeader());
  const ZipReader eager = ZipReader::Open(dir.Write("good.pt", BaseArchive()));
  const std::string reason =
      path + ": record 'p/dup1': local header disagrees with the central directory "
             "(compression method)";
  for (int round = 0; round < 100; ++round) {
    const ZipReader zip = ZipReader::Open(path, kDeferred);
    constexpr int kThreads = 4;
    std::vector<std::vector<std::string>> seen(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&zip, &seen, t] {
        for (const ZipEntry& e : zip.entries()) {
          std::string verdict;
          try {
            verdict = std::to_string(zip.DataOffset(e));
          } catch (const Error& err) {
            verdict = err.what();
          }
          seen[static_cast<size_t>(t)].push_back(e.name + " " + verdict);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    std::vector<std::string> expected;
    for (const ZipEntry& e : zip.entries()) {
      expected.push_back(e.name + " " +
                         (e.name == "dup1" ? reason
                                           : std::to_string(eager.Find(e.name)->data_offset)));
    }
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(seen[static_cast<size_t>(t)], expected) << t;
    EXPECT_EQ(What([&] { zip.DataOffset(*zip.Find("dup1")); }), reason) << "sticky";
  }
}

TEST(DeferredChecksTest, ARawCopyChecksTheRecordItCopies) {
  TempDir dir;
  const ZipReader zip = ZipReader::Open(dir.Write("bad.pt", OneBadLocalHeader()), kDeferred);
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "q");
  w.CopyRawRecord(zip, *zip.Find("first.txt"));
  EXPECT_NE(What([&] { w.CopyRawRecord(zip, *zip.Find("dup1")); }).find("local header disagrees"),
            std::string::npos);
}

TEST(DeferredChecksTest, OverlappingRecordsAreStillRefusedAtOpen) {
  // The central sizes alone make p/data.bin run into p/dup1.
  std::string b = BaseArchive();
  for (size_t at : {20, 24}) Put32(b, CentralAt(b, "p/data.bin") + at, 250);
  TempDir dir;
  const std::string path = dir.Write("overlap.pt", b);
  for (const bool strict : {true, false}) {
    EXPECT_NE(What([&] {
                ZipReader::Open(path, {.strict = strict, .defer_record_checks = true});
              }).find("record 'p/dup1': overlaps record 'p/data.bin'"),
              std::string::npos)
        << strict;
  }
}

TEST(DeferredChecksTest, DuplicatesAndBadNamesAreStillRefusedAtOpen) {
  std::string b = BaseArchive();
  Rename(b, "p/dup2", "p/dup1");
  TempDir dir;
  EXPECT_NE(What([&] { ZipReader::Open(dir.Write("dup.pt", b), kDeferred); })
                .find("record 'p/dup1': duplicate name"),
            std::string::npos);
}

TEST(DeferredChecksTest, CheckArchiveStaysTheFullCheck) {
  TempDir dir;
  const std::vector<Error> problems = CheckArchive(dir.Write("bad.pt", OneBadLocalHeader()));
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(std::string(problems.front().what()).find("local header disagrees"),
            std::string::npos);
}

// ReadSmallRecords (what an analysis reads its sources with): a run of small
// stored records on one pread, each with ReadAll's bytes, and for a record
// that fails a check or its CRC-32 nothing, its ReadAll then throwing what
// is wrong; a record too big for a window is left to ReadAll. For a deferred
// reader and an eager one alike.
TEST(DeferredChecksTest, SmallRecordsReadTogetherGiveReadAllsBytesAndVerdicts) {
  std::vector<Record> records;
  for (int i = 0; i < 200; ++i)
    records.push_back(
        {"r" + std::to_string(1000 + i),
         std::string(static_cast<size_t>(1000 + i), static_cast<char>('a' + i % 26))});
  records.insert(records.begin() + 100, {"empty", ""});
  records.push_back({"big", std::string(100 << 10, 'b')});
  const std::string good = BuildArchive("p", records);
  std::string bad = good;
  Put16(bad, LocalAt(bad, "p/r1050") + 8, 8);        // its local header's method disagrees
  bad[bad.find(std::string(1100, 'w')) + 10] = 'x';  // r1100's data: its CRC-32 fails
  TempDir dir;
  for (const bool damaged : {false, true}) {
    const std::string path = dir.Write("many.pt", damaged ? bad : good);
    for (const bool deferred : {true, false}) {
      if (!deferred && damaged) continue;  // an eager open refuses it
      const ZipReader zip = ZipReader::Open(path, deferred ? kDeferred : ZipReaderOptions{});
      std::vector<const ZipEntry*> entries;
      std::vector<std::string> data;  // what each entry holds
      for (const Record& r : records) {
        entries.push_back(zip.Find(r.name));
        data.push_back(r.data);
      }
      entries.push_back(zip.Find("r1010"));  // asked for twice
      data.push_back(records[10].data);
      const uint64_t before = ReadCalls();
      std::vector<std::optional<std::string>> got = zip.ReadSmallRecords(entries);
      EXPECT_LE(ReadCalls() - before, 10u) << "200 KB of records in windows of 256 KiB";
      ASSERT_EQ(got.size(), entries.size());
      for (size_t i = 0; i < entries.size(); ++i) {
        const std::string& name = entries[i]->name;
        const bool broken = damaged && (name == "r1050" || name == "r1100");
        if (name == "big" || broken) {
          EXPECT_FALSE(got[i].has_value()) << name;
        } else {
          ASSERT_TRUE(got[i].has_value()) << name;
          EXPECT_EQ(*got[i], data[i]) << name;
        }
      }
      // What one call holds at once is bounded: the records asked for three
      // times over, and those past ZipReader::kMaxReadTogether come back empty.
      std::vector<const ZipEntry*> thrice;
      for (int k = 0; k < 3; ++k) thrice.insert(thrice.end(), entries.begin(), entries.end());
      uint64_t held = 0;
      for (const std::optional<std::string>& r : zip.ReadSmallRecords(thrice))
        held += r ? r->size() : 0;
      EXPECT_GE(held, ZipReader::kMaxReadTogether);
      EXPECT_LT(held, ZipReader::kMaxReadTogether + (64 << 10));
      if (damaged) {
        EXPECT_NE(What([&] {
                    zip.ReadAll(*zip.Find("r1050"));
                  }).find("local header disagrees with the central directory"),
                  std::string::npos);
        EXPECT_NE(What([&] { zip.ReadAll(*zip.Find("r1100")); }).find("CRC"), std::string::npos);
      }
    }
  }
}

}  // namespace
}  // namespace tpkg
