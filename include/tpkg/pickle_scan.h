// pickle_scan.h: what a pickle references, found without executing it.
//
// ScanPickle() runs a symbolic stack machine over the opcode stream
// (protocols 0-5) and reports the globals the pickle names, the module list
// torch.package's exporter derives from it, and every persistent id that
// torch.package / torch.save / TorchScript pickles use for storages and
// `__reduce_package__` objects (doc/format.md §4.3, §4.4, §6.2). Nothing is
// imported, called or constructed: values are tracked only as far as needed
// to decode persistent ids and STACK_GLOBAL operands.
//
//   tpkg::PickleScan s = tpkg::ScanPickle(bytes);
//   for (const auto& g : s.globals) std::cout << g.module << "." << g.name << "\n";
//   for (const auto& st : s.storages) std::cout << ".data/" << st.key << ".storage\n";
//
// Hostile input (truncation, invalid opcodes, length fields that lie, deep
// MARK nesting, memo games) gives an Error(kCorrupt) or a result; time and
// memory stay linear in the input size and are further bounded by
// PickleScanLimits. Declared lengths are never allocated before the bytes are
// known to be there.
//
// Thread safety: ScanPickle() is a pure function of its arguments; the result
// types are plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace tpkg {

// A global as named by GLOBAL, STACK_GLOBAL or INST ("module", "name").
struct PickleGlobal {
  std::string module;
  std::string name;
  friend bool operator==(const PickleGlobal&, const PickleGlobal&) = default;
};

// A storage persistent id: ('storage', <storage class GLOBAL>, key, location, numel).
//
//   writer              key in the pickle     key here       key_is_int
//   torch.package       int 0                 "0"            true
//   TorchScript in pkg  str "0.storage"       "0.storage"    false
//   torch.save          str "0"               "0"            false
struct StorageRef {
  PickleGlobal storage_type;  // e.g. {"torch", "FloatStorage"}
  std::string key;
  bool key_is_int = false;
  std::string location;  // "cpu", "cuda:0", ...
  uint64_t numel = 0;    // elements of the storage's dtype (bytes for UntypedStorage)
  friend bool operator==(const StorageRef&, const StorageRef&) = default;
};

// A tensor rebuilt on a storage (`torch._utils._rebuild_tensor_v2`,
// `_rebuild_tensor`, `_rebuild_qtensor`, `_rebuild_tensor_v3` called with a
// storage persistent id, an int offset and literal int tuples for size and
// stride): the elements of the storage it spans, offset + sum((size[i] - 1) *
// stride[i]) + 1, or 0 for an empty tensor (for _rebuild_tensor_v3, whose
// storage is untyped, that times the size of the dtype it names: bytes).
// torch's loader sets the tensor on the storage it loaded, which cannot grow,
// so a tensor spanning more elements fails the load.
// An extent of 2^64 elements (or bytes) or more is kept as `overflows`:
// torch's set_() refuses it ("Storage size calculation overflowed").
struct TensorExtent {
  size_t storage = 0;     // index into PickleScan::storages
  uint64_t elements = 0;  // of the storage's dtype (0 when it overflows)
  bool overflows = false;
  friend bool operator==(const TensorExtent&, const TensorExtent&) = default;
};

// A `__reduce_package__` persistent id: ('reduce_package', id, func, args)
// as written by torch 1.13, or the older 3-tuple ('reduce_package', func, args).
struct ReducePackageRef {
  PickleGlobal func;
  bool has_id = true;  // false for the 3-tuple form
  // For torch.jit._script.unpackage_script_module, args[0] when it is a str
  // (the TorchScript module's id: `.data/ts_code/<id>/`); "" otherwise, and
  // for a str over max_persistent_id_string.
  std::string first_arg;
  friend bool operator==(const ReducePackageRef&, const ReducePackageRef&) = default;
};

// Bounds for hostile input. Exceeding one is an Error(kCorrupt) naming the
// limit and the byte offset. Defaults are far above anything torch writes.
struct PickleScanLimits {
  // Values plus MARKs on the symbolic stack at any one time.
  size_t max_stack_depth = size_t{1} << 20;
  // Distinct memo slots written (PUT/BINPUT/LONG_BINPUT/MEMOIZE). Each slot
  // costs a few dozen bytes, so this caps the memo's memory.
  size_t max_memo_entries = size_t{1} << 24;
  // Longest string copied into a StorageRef / ReducePackageRef field (the
  // global's module plus name counts as one). Every reference copies its
  // strings, so without a bound a 3-byte BINGET could repeat a megabyte.
  size_t max_persistent_id_string = 4096;
};

// What torch 1.13's save_pickle loop hands its check for objects of mocked
// modules (doc/format.md §6.6; policy.h replays the check): the (module, field)
// pair the loop holds at each global, in opcode order with repeats, and the
// str its `module` variable is left with. The loop follows the same rules as
// PickleScan::modules, so a pair is reported only where torch's loop holds
// two strs. Pairs index `names`, which holds each string once: a pickle that
// repeats one long string through the memo costs 8 bytes a repeat.
struct MockCheckInputs {
  std::vector<std::string> names;
  std::vector<std::pair<uint32_t, uint32_t>> globals;  // (module, field): indices into names
  std::string last_module;                             // "" when torch's `module` is no str
};

struct PickleScan {
  int protocol = 0;  // PROTO operand of the first PROTO opcode, 0 when absent

  // Every global the unpickler would look up (GLOBAL, STACK_GLOBAL, INST),
  // unique, in the order an unpickler first resolves them. EXT1/2/4 codes go
  // through copyreg's extension registry, which is empty by default (torch
  // never registers codes), so an EXT opcode is an error, as it is for
  // pickle.Unpickler ("unregistered extension code").
  std::vector<PickleGlobal> globals;

  // Exactly the module list torch's PackageExporter.save_pickle derives
  // (doc/format.md §6.2): unique, first-seen order.
  //   protocol <= 3: the module of every GLOBAL opcode (INST is ignored, as
  //                  torch ignores it).
  //   protocol >= 4: torch's string tracking: SHORT_BINUNICODE/BINUNICODE8
  //                  and GET/BINGET (not LONG_BINGET, not BINUNICODE: torch
  //                  misses those) feed a (module, field) pair; at each
  //                  STACK_GLOBAL the module is the second-to-last string.
  // Where torch's own loop would raise instead (its tracked module is not a
  // string, or a GLOBAL operand holds a space), the global's real module is
  // used.
  std::vector<std::string> modules;

  // The inputs of the mocked-object check that goes with `modules`.
  MockCheckInputs mock_check;

  // The same two as torch 2.x's loop derives them: protocol >= 4 also
  // follows BINUNICODE and LONG_BINGET, and skips a STACK_GLOBAL whose
  // tracked module is None; the mocked-object check looks at each module on
  // its own (mock_check_torch2.last_module stays empty).
  std::vector<std::string> modules_torch2;
  MockCheckInputs mock_check_torch2;

  // Every storage persistent id (BINPERSID/PERSID), in load order, not
  // deduplicated (several tensors on one storage repeat the key).
  std::vector<StorageRef> storages;

  // Every tensor whose extent is knowable (see TensorExtent), in load order.
  std::vector<TensorExtent> tensors;

  // Every `reduce_package` persistent id, in load order.
  std::vector<ReducePackageRef> reduce_packages;
};

// Scans one pickle (up to and including its first STOP; trailing bytes are
// ignored like pickle.loads ignores them). Throws Error(kCorrupt, "<reason> at
// byte <offset>") on malformed input or when a limit is exceeded.
PickleScan ScanPickle(std::span<const char> bytes, const PickleScanLimits& limits = {});

}  // namespace tpkg
