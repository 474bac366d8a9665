// The name index's sort and search helpers (src/lib/zip/zip_name_index.h):
// the same order and positions as std::sort and std::lower_bound, for every
// shape of input, and the index's checks on names out of order.
#include "zip/zip_name_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tpkg/error.h"

namespace tpkg {
namespace {

// Keys with ties, compared as the index does: by key, then by position.
struct ByKeyThenIndex {
  const std::vector<int>* keys;
  bool operator()(uint32_t a, uint32_t b) const {
    return (*keys)[a] != (*keys)[b] ? (*keys)[a] < (*keys)[b] : a < b;
  }
};

std::vector<uint32_t> Identity(size_t n) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  return order;
}

void ExpectSameAsStdSort(const std::vector<int>& keys, const char* shape) {
  const ByKeyThenIndex less{&keys};
  std::vector<uint32_t> ours = Identity(keys.size());
  SortMostlyInOrder(ours, less);
  std::vector<uint32_t> reference = Identity(keys.size());
  std::sort(reference.begin(), reference.end(), less);
  EXPECT_EQ(ours, reference) << shape;
}

TEST(SortMostlyInOrder, GivesStdSortsOrderForEveryShape) {
  std::mt19937 random(15);
  for (const size_t n : {0u, 1u, 2u, 3u, 17u, 1000u}) {
    std::vector<int> keys(n);
    std::iota(keys.begin(), keys.end(), 0);
    ExpectSameAsStdSort(keys, "sorted");
    std::reverse(keys.begin(), keys.end());
    ExpectSameAsStdSort(keys, "reversed");
    std::shuffle(keys.begin(), keys.end(), random);
    ExpectSameAsStdSort(keys, "shuffled");
    for (int& k : keys) k %= 5;
    ExpectSameAsStdSort(keys, "many ties");
    // A torch package's shape: sorted sources, a few records at the front
    // and the end that belong elsewhere.
    std::iota(keys.begin(), keys.end(), 0);
    if (n > 4) {
      keys.front() = static_cast<int>(n) / 2;
      keys.back() = 1;
      keys[n - 2] = 0;
    }
    ExpectSameAsStdSort(keys, "mostly sorted");
  }
}

TEST(GallopLowerBound, FindsWhatStdLowerBoundFinds) {
  std::vector<int> sorted;
  for (int v = 0; v < 300; v += 3) sorted.insert(sorted.end(), {v, v});
  const auto less = [](int element, int key) { return element < key; };
  for (int key = -2; key < 305; ++key) {
    const size_t expected =
        static_cast<size_t>(std::lower_bound(sorted.begin(), sorted.end(), key) - sorted.begin());
    // Any start at or before the answer (its precondition) gives it.
    for (size_t from = 0; from <= expected; ++from)
      ASSERT_EQ(GallopLowerBound(sorted, from, key, less), expected) << key << " from " << from;
  }
  EXPECT_EQ(GallopLowerBound(std::vector<int>{}, 0, 1, less), 0u);
}

ZipEntry Named(const std::string& name) {
  ZipEntry e;
  e.full_name = "pkg/" + name;
  e.name = name;
  return e;
}

// The central directory's order does not change what the checks find.
// The write plan's searches (journal/write_plan.cc): whatever order the keys
// come in, repeated, out of order or past either end, the answer is
// std::lower_bound's.
TEST(LowerBoundNear, FindsWhatStdLowerBoundFindsForKeysInAnyOrder) {
  std::vector<int> sorted;
  for (int v = 0; v < 200; v += 4) sorted.insert(sorted.end(), {v, v, v + 1});
  const auto less = [](int element, int key) { return element < key; };
  const auto expected = [&](int key) {
    return static_cast<size_t>(std::lower_bound(sorted.begin(), sorted.end(), key) -
                               sorted.begin());
  };
  std::vector<std::vector<int>> sequences = {
      {},                                   // filled below: every key in order
      {5, 5, 5, 4, 4, 8, 8, 0, 0, 300},     // repeats, one step back, both ends
      {199, 198, 197, 3, 2, 1, 0, -1, -1},  // descending
  };
  for (int key = -3; key < 205; ++key) sequences[0].push_back(key);
  uint32_t x = 12345;  // and a random walk with jumps both ways
  std::vector<int> random;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1664525u + 1013904223u;
    random.push_back(static_cast<int>(x >> 24) - 20);
  }
  sequences.push_back(random);
  std::vector<int> empty;
  for (const std::vector<int>& keys : sequences) {
    size_t hint = 0;
    for (const int key : keys)
      ASSERT_EQ(LowerBoundNear(sorted, key, less, hint), expected(key)) << key;
    size_t empty_hint = 0;
    for (const int key : keys) ASSERT_EQ(LowerBoundNear(empty, key, less, empty_hint), 0u);
  }
}

TEST(NameIndex, FindsClashesAndNamesWhateverTheirOrder) {
  const std::vector<std::string> names = {"z.py",   "a/b.py", "a/c.py", "A/C.PY",  "m",
                                          "m/x.py", "b.py",   "a/a.py", "m-1/y.py"};
  std::vector<ZipEntry> entries;
  for (const std::string& n : names) entries.push_back(Named(n));
  const NameIndex index(entries);
  for (const std::string& n : names) {
    const ZipEntry* found = index.Find(entries, n);
    ASSERT_NE(found, nullptr) << n;
    EXPECT_EQ(found->name, n);
  }
  EXPECT_EQ(index.Find(entries, "a"), nullptr);
  EXPECT_EQ(index.Find(entries, "m/x"), nullptr);
  Problems problems("/x.pt", Problems::Mode::kCollect);
  index.Check(entries, problems);
  std::vector<std::string> found;
  for (const Error& e : problems.found()) found.push_back(e.what());
  ASSERT_EQ(found.size(), 2u) << testing::PrintToString(found);
  EXPECT_NE(found[0].find("differs only in case"), std::string::npos) << found[0];
  EXPECT_NE(found[1].find("is both a file and a folder"), std::string::npos) << found[1];
  EXPECT_NE(found[1].find("pkg/m/x.py"), std::string::npos) << found[1];
}

}  // namespace
}  // namespace tpkg
