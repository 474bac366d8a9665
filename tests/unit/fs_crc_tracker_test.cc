// CrcTracker: the verdict depends only on the bytes served, not on the
// order in which the kernel's read-ahead delivered them.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <utility>
#include <vector>

#include "crc_tracker.h"

namespace tpkg::fs {
namespace {

using Verdict = CrcTracker::Verdict;
using Chunk = std::pair<uint64_t, uint64_t>;  // [begin, end)

std::string Data(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

uint32_t Crc(const std::string& s) {
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

Verdict FeedAll(CrcTracker& t, const std::string& data, const std::vector<Chunk>& chunks) {
  Verdict v = Verdict::kPending;
  for (auto [b, e] : chunks) v = t.Feed(b, std::span(data.data() + b, e - b));
  return v;
}

TEST(CrcTrackerTest, VerdictIsTheSameForEveryDeliveryOrder) {
  const std::string data = Data(300);
  const std::vector<std::vector<Chunk>> orders = {
      {{0, 300}},
      {{0, 100}, {100, 200}, {200, 300}},
      {{100, 200}, {0, 100}, {200, 300}},
      {{200, 300}, {100, 200}, {0, 100}},
      {{0, 100}, {50, 150}, {150, 300}},  // overlapping re-read of the prefix
      {{0, 100}, {0, 100}, {100, 300}},   // the same chunk twice
      {{100, 200}, {100, 200}, {0, 100}, {200, 300}},
  };
  for (const auto& order : orders) {
    CrcTracker good(data.size(), Crc(data));
    EXPECT_EQ(FeedAll(good, data, order), Verdict::kGood) << order.size();
    CrcTracker bad(data.size(), Crc(data) ^ 1);
    EXPECT_EQ(FeedAll(bad, data, order), Verdict::kBad) << order.size();
    EXPECT_EQ(bad.actual(), Crc(data));
  }
}

TEST(CrcTrackerTest, StaysPendingUntilEveryByteWasSeen) {
  const std::string data = Data(300);
  CrcTracker t(data.size(), Crc(data));
  EXPECT_EQ(FeedAll(t, data, {{0, 100}, {200, 300}}), Verdict::kPending);
  EXPECT_EQ(FeedAll(t, data, {{100, 200}}), Verdict::kGood);
}

TEST(CrcTrackerTest, VerdictsAreSticky) {
  const std::string data = Data(10);
  CrcTracker t(data.size(), Crc(data) + 1);
  EXPECT_EQ(FeedAll(t, data, {{0, 10}}), Verdict::kBad);
  EXPECT_EQ(FeedAll(t, data, {{0, 10}}), Verdict::kBad);
  EXPECT_EQ(FeedAll(t, data, {{4, 8}}), Verdict::kBad);
}

TEST(CrcTrackerTest, GivesUpOnOverlappingParkedChunksAndRestartsAtZero) {
  const std::string data = Data(300);
  CrcTracker t(data.size(), Crc(data));
  EXPECT_EQ(FeedAll(t, data, {{100, 200}, {150, 250}}), Verdict::kGaveUp);
  EXPECT_EQ(FeedAll(t, data, {{250, 300}}), Verdict::kGaveUp);
  EXPECT_EQ(FeedAll(t, data, {{0, 300}}), Verdict::kGood);
}

TEST(CrcTrackerTest, GivesUpWhenTooManyChunksWait) {
  const size_t n = CrcTracker::kMaxParked + 2;
  const std::string data = Data(n * 10);
  CrcTracker t(data.size(), Crc(data));
  Verdict v = Verdict::kPending;
  for (size_t i = n - 1; i >= 1; --i) v = FeedAll(t, data, {{i * 10, i * 10 + 10}});
  EXPECT_EQ(v, Verdict::kGaveUp);
}

TEST(CrcTrackerTest, ManyParkedChunksWithinTheLimitStillVerify) {
  const size_t n = CrcTracker::kMaxParked;
  const std::string data = Data((n + 1) * 10);
  CrcTracker t(data.size(), Crc(data));
  for (size_t i = n; i >= 1; --i) FeedAll(t, data, {{i * 10, i * 10 + 10}});
  EXPECT_EQ(FeedAll(t, data, {{0, 10}}), Verdict::kGood);
}

}  // namespace
}  // namespace tpkg::fs
