// pickle_observer.h (private): what the symbolic pickle machine reports as it
// runs, for the safety scanner (safety/, `tpkg scan`).
//
// ScanPickle() (tpkg/pickle_scan.h) answers "what does this pickle need";
// the scanner asks "what would loading it do", so it needs every event with
// the byte offset of its opcode, also for pickles CPython would refuse half
// way (everything before the failure has already run when it fails). With an
// Observer the machine also tolerates what only a hostile pickle does and
// only the running program can resolve, reporting it instead of failing:
//
//   - STACK_GLOBAL whose operands were computed at load time (a REDUCE
//     result, an object): OnDynamicGlobal, an opaque value is pushed;
//   - EXT1/EXT2/EXT4: a global named by copyreg's extension registry, which
//     the loading program may have filled: OnExtension, an opaque value;
//   - FRAME games: an opcode crossing the end of its frame, or a new FRAME
//     before the end of the current one. CPython's C unpickler accepts both,
//     its Python unpickler (pickle._Unpickler, which torch.package's
//     PackageUnpickler derives from) refuses them: OnFrameAnomaly.
//
// OnCall says when the machine has applied a call opcode to a global: what
// CPython has already run when it reads the next opcode, whatever follows
// (the pickle sniff's rule for streams that break before their STOP).
//
// Offsets are relative to the span handed to ScanPickleObserved.
//
// Thread safety: an Observer is called by the one thread running the scan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "tpkg/pickle_scan.h"

namespace tpkg::pickle {

class Observer {
 public:
  virtual ~Observer() = default;
  // GLOBAL, INST or STACK_GLOBAL (the opcode byte) named module.name.
  virtual void OnGlobal(size_t offset, uint8_t opcode, std::string_view module,
                        std::string_view name) = 0;
  virtual void OnDynamicGlobal(size_t offset) = 0;
  virtual void OnExtension(size_t offset, uint8_t opcode, uint64_t code) = 0;
  virtual void OnFrameAnomaly(size_t offset, std::string_view what) = 0;
  // A bytes or str operand (a pickle inside a pickle starts with PROTO).
  virtual void OnData(size_t offset, std::string_view data) = 0;
  // A call of the global module.name: REDUCE, NEWOBJ or NEWOBJ_EX on it with
  // arguments that may be iterable (CPython's pickle._Unpickler calls
  // func(*args); None, bools and ints are refused first), OBJ or INST with
  // their MARK found, BINPERSID with a torch.package ('reduce_package', ...)
  // id (PackageUnpickler's persistent_load calls its function). Reported as
  // the opcode runs, before anything after it is read.
  virtual void OnCall(size_t /*offset*/, uint8_t /*opcode*/, std::string_view /*module*/,
                      std::string_view /*name*/) {}
};

// Runs the machine over the pickle at the start of `bytes`, reporting to
// `observer`; returns the offset just past its STOP. Throws Error(kCorrupt)
// like ScanPickle; the events before the failure have been reported.
size_t ScanPickleObserved(std::span<const char> bytes, const PickleScanLimits& limits,
                          Observer& observer, PickleScan* result = nullptr);

}  // namespace tpkg::pickle
