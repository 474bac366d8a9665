// torch_pickle_loop.h: the opcode loop of PackageExporter.save_pickle, as
// torch 1.13 and torch 2.x run it, replayed beside the pickle scanner
// (doc/format.md §6.2, §6.6).
//
// torch derives a pickle's modules from opcodes alone, quirks kept:
// protocol 3 looks at GLOBAL only (both releases); protocol 4 follows strings
// and memo GETs through its own MEMOIZE counter and at each STACK_GLOBAL takes
// the second-to-last string as the module.
//   torch 1.13: SHORT_BINUNICODE / BINUNICODE8 strings and GET/BINGET (it
//               tests for "BINGET_LONG", a name no opcode has, so LONG_BINGET
//               is missed); a STACK_GLOBAL whose tracked module is not a str
//               fails its assert.
//   torch 2.x:  BINUNICODE and LONG_BINGET too; a STACK_GLOBAL whose tracked
//               module is None is skipped.
// The same loop feeds the check for objects of mocked modules: the (module,
// field) pair at each global, and (1.13) whatever `module` holds when the
// loop ends.
//
// Strings are kept as interned ids (the scanner's StringInterner), so a
// hostile pickle repeating one long string through the memo costs a few
// bytes a repeat: time and memory stay linear in the input.
//
// Thread safety: one loop per scan, used by one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "scan/pickle_value.h"
#include "tpkg/pickle_scan.h"
#include "tpkg/torch_release.h"

namespace tpkg::pickle {

// Unique ids in first-seen order.
class OrderedIdSet {
 public:
  void Add(uint32_t id) {
    if (seen_.insert(id).second) order_.push_back(id);
  }
  const std::vector<uint32_t>& order() const { return order_; }

 private:
  std::unordered_set<uint32_t> seen_;
  std::vector<uint32_t> order_;
};

class TorchPickleLoop {
 public:
  explicit TorchPickleLoop(StringInterner& strings) : strings_(strings) {}

  // GLOBAL (the protocol 3 rule). Where "module name" holds an extra space,
  // torch's `module, field = arg.split(" ")` would raise; the global's real
  // module and name stand in, so the scan goes on and reports what the
  // pickle names.
  void OnGlobalOpcode(uint32_t module_id, uint32_t name_id);
  // SHORT_BINUNICODE and BINUNICODE8 (`by_torch1_13`), BINUNICODE (torch 2.x only).
  void OnTrackedString(const Value& str, bool by_torch1_13);
  // GET and BINGET (`by_torch1_13`), LONG_BINGET (torch 2.x only).
  void OnGet(uint64_t index, bool by_torch1_13);
  void OnMemoize() {
    ++torch1_13_.memo_count;
    ++torch2_.memo_count;
  }
  // STACK_GLOBAL (the protocol >= 4 rule); torch 1.13 asserts its module is
  // a str, else the global's real module is used.
  void OnStackGlobal(uint32_t real_module_id);

  // save_pickle's module list for a pickle of that protocol.
  std::vector<std::string> Modules(int protocol, TorchRelease release) const;
  // What the mocked-object check is given for a pickle of that protocol.
  MockCheckInputs MockCheck(int protocol, TorchRelease release) const;

 private:
  // What one protocol rule saw.
  struct Rule {
    OrderedIdSet modules;
    std::vector<std::pair<uint32_t, uint32_t>> globals;  // (module, field), with repeats
  };
  // The loop's variables: `module`, `field`, its memo and MEMOIZE count.
  struct Strings {
    Value module = Value::None();
    Value field = Value::None();
    // (MEMOIZE count, string) in increasing count order, the last string
    // written at each count: memory grows with the tracked strings, not with
    // every MEMOIZE (a state dict memoizes three tuples per string). The
    // strings are views into the pickle (the tracked opcodes are binary strings).
    std::vector<std::pair<uint64_t, std::string_view>> memo;
    uint64_t memo_count = 0;
    void OnString(const Value& str);
    void OnGet(uint64_t index);
  };
  static constexpr uint32_t kNoString = UINT32_MAX;
  const Rule& RuleFor(int protocol, TorchRelease release) const {
    if (protocol < 4) return by_global_;
    return release == TorchRelease::kTorch2 ? by_strings2_ : by_strings1_13_;
  }
  uint32_t IdOf(const Value& v) { return v.kind == Kind::kStr ? strings_.Intern(v) : kNoString; }

  StringInterner& strings_;
  Strings torch1_13_;
  Strings torch2_;
  uint32_t last_global_module_ = kNoString;  // protocol 3: `module` after the last GLOBAL
  Rule by_global_;
  Rule by_strings1_13_;
  Rule by_strings2_;
};

}  // namespace tpkg::pickle
