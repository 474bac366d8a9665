// slow_tier.h: the two tiers of the unit tests.
//
// The default suite runs in seconds. A stress case keeps a scaled-down
// version there, asserting the same things, and runs at full scale only in
// the slow tier (TPKG_SLOW=1, as for scripts/test.sh and the pytest suites):
//
//   void CheckLongLines(size_t bytes) { ... }
//   TEST(ScanTest, LongLinesAreScanned) { CheckLongLines(1 << 20); }
//   TEST(ScanSlowTest, TenMegabyteLinesAreScanned) {
//     TPKG_SLOW_TIER_ONLY();
//     CheckLongLines(10 << 20);
//   }
//
// Thread safety: test code; reads the environment only.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string_view>

// (Not in tpkg::testing: tests that name gtest's `testing::` from inside
// namespace tpkg must keep finding it.)
namespace tpkg::slow_tier {

inline bool Enabled() {
  const char* value = std::getenv("TPKG_SLOW");
  return value != nullptr && std::string_view(value) == "1";
}

}  // namespace tpkg::slow_tier

// Skips the current test unless the slow tier was asked for.
#define TPKG_SLOW_TIER_ONLY() \
  if (!::tpkg::slow_tier::Enabled()) GTEST_SKIP() << "slow tier: set TPKG_SLOW=1"
