// Fuzz target: the symbolic pickle machine (tpkg/pickle_scan.h), with the
// default limits and with small ones (so the limit paths run too). It never
// executes anything; a malformed pickle is a tpkg::Error, and a crash, a
// sanitizer report or a hang is a finding.
#include <cstdint>
#include <span>

#include "tpkg/error.h"
#include "tpkg/pickle_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
  tpkg::PickleScanLimits small;
  small.max_stack_depth = 64;
  small.max_memo_entries = 64;
  small.max_persistent_id_string = 16;
  for (const tpkg::PickleScanLimits& limits : {tpkg::PickleScanLimits{}, small}) {
    try {
      (void)tpkg::ScanPickle(bytes, limits);
    } catch (const tpkg::Error&) {  // a malformed pickle, named as such
    }
  }
  return 0;
}
