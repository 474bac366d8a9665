// pickle_machine.h (private): the symbolic pickle machine behind ScanPickle
// (tpkg/pickle_scan.h), shared by its two source files:
//
//   pickle_scan.cc      the run loop, stack discipline, value builders,
//                       globals and persistent-id decoding
//   pickle_dispatch.cc  the opcode groups (Handle*Op): which builder each
//                       opcode calls
//
// It follows CPython's _pickle.c stack discipline (values plus a mark stack,
// a memo, the same underflow rules) but pushes kOpaque for every object it
// would have to build. Only strings, ints, bools, None, globals and small
// tuples are tracked: enough for persistent ids and STACK_GLOBAL operands.
//
// With an Observer (scan/pickle_observer.h, the safety scanner) it also
// reports every global, computed STACK_GLOBAL, EXT code, frame anomaly and
// data operand with its offset, and tolerates what only the running program
// could resolve instead of failing; without one it behaves as before.
//
// Thread safety: a Scanner is owned by one thread (ScanPickle makes one per call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "scan/pickle_cursor.h"
#include "scan/pickle_observer.h"
#include "scan/pickle_opcodes.h"
#include "scan/pickle_value.h"
#include "scan/torch_pickle_loop.h"
#include "tpkg/pickle_scan.h"

namespace tpkg::pickle {

// Persistent ids have 3 to 5 elements and nest at most one tuple deep
// (reduce_package args); bigger or deeper tuples need not be tracked. The
// depth bound also keeps destruction of nested shared tuples from recursing
// a million frames deep.
constexpr size_t kMaxTrackedTupleSize = 8;
constexpr int64_t kMaxTrackedTupleDepth = 16;

class Scanner {
 public:
  Scanner(std::span<const char> bytes, const PickleScanLimits& limits,
          Observer* observer = nullptr)
      : cursor_(bytes), limits_(limits), torch_(strings_), observer_(observer) {}

  PickleScan Run();
  size_t end_offset() const { return cursor_.offset(); }

 private:
  [[noreturn]] void Fail(const std::string& reason) const { pickle::FailAt(reason, op_offset_); }

  // Stack discipline of _pickle.c: values above the last MARK only.
  size_t Fence() const { return marks_.empty() ? 0 : marks_.back(); }
  void CheckDepth() const;
  void Push(Value v);
  Value Pop();
  Value& Top();
  size_t PopMark();  // pops the last MARK, returns where its items start

  bool HandleStackOp(Op op);
  bool HandleScalarOp(Op op);
  bool HandleStringOp(Op op);
  bool HandleContainerOp(Op op);
  bool HandleMemoOp(Op op);
  bool HandleObjectOp(Op op);

  void PushTextInt(bool is_long);
  void PushLong(uint64_t length);
  // Which torch releases' save_pickle loops follow a string opcode.
  enum class TorchTracks { kNo, kTorch2, kBoth };
  void PushBinaryStr(uint64_t length, TorchTracks tracks);
  // Moves the elements from `items`; more than kMaxTrackedTupleSize: untracked.
  void PushTuple(std::span<Value> items);
  void PushUntrackedTuple();
  // Pops the top `n` values (the caller checked they are above the last
  // MARK) into a tuple: kOpaque when nested deeper than tracked.
  Value TupleOfTop(size_t n);
  void PushMemo(uint64_t index);
  void PutMemo(uint64_t index);
  void PushGlobalFromLines(bool is_inst);
  void PushStackGlobal();
  void AddGlobal(uint32_t module_id, uint32_t name_id, Op op);
  void SkipData(uint64_t length);
  void OnFrame(uint64_t length);
  void CheckFrameCrossing();
  // What BINPERSID pushes: a kStorage value for a storage id, else kOpaque.
  Value DecodePersistentId(const Value& pid);
  void DecodeStorage(std::span<const Value> items);
  // Records the extent of a tensor when `callable(args)` rebuilds one.
  void NoteTensor(const Value& callable, const Value& args);
  void DecodeReducePackage(std::span<const Value> items);
  // Tells the observer that `op` calls `callee` with `args` (null: a tuple
  // the opcode built itself) when the callee is a global (Observer::OnCall).
  void NoteCall(Op op, const Value& callee, const Value* args);
  // BINPERSID's call through a torch.package ('reduce_package', ...) id.
  void NoteReducePackageCall(const Value& pid);
  PickleGlobal GlobalOf(const Value& v, const char* what) const;
  std::string PidString(const Value& v, const char* what) const;

  Cursor cursor_;
  const PickleScanLimits limits_;
  size_t op_offset_ = 0;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  pickle::Memo memo_;
  StringInterner strings_;
  TorchPickleLoop torch_;
  std::unordered_set<uint64_t> seen_globals_;
  bool stopped_ = false;
  bool saw_proto_ = false;
  PickleScan result_;
  Observer* observer_;     // null for ScanPickle: no events, hostile forms fail
  size_t frame_end_ = 0;   // end of the current FRAME's data; 0 outside frames
};

}  // namespace tpkg::pickle
