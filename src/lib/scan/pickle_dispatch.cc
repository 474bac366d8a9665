// pickle_dispatch.cc: the opcode groups of the symbolic pickle machine
// (scan/pickle_machine.h): what each opcode does to the stack, the memo and
// the scan result. Each Handle*Op returns false for opcodes outside its group.
#include "scan/pickle_machine.h"
#include "scan/pickle_text.h"

namespace tpkg::pickle {

// MARK, POP, POP_MARK, DUP, STOP, PROTO, FRAME.
bool Scanner::HandleStackOp(Op op) {
  switch (op) {
    case Op::kMark:
      CheckDepth();
      marks_.push_back(stack_.size());
      return true;
    case Op::kPop:
      // _pickle.c: POP removes a MARK when one sits on top of the stack.
      if (!marks_.empty() && marks_.back() == stack_.size())
        marks_.pop_back();
      else
        Pop();
      return true;
    case Op::kPopMark: stack_.resize(PopMark()); return true;
    case Op::kDup: Push(Value(Top())); return true;
    case Op::kStop:
      Pop();
      stopped_ = true;
      return true;
    case Op::kProto: {
      int protocol = cursor_.ReadU8();
      if (protocol > pickle::kHighestProtocol)
        Fail("unsupported pickle protocol " + std::to_string(protocol));
      if (!saw_proto_) result_.protocol = protocol;
      saw_proto_ = true;
      return true;
    }
    case Op::kFrame: OnFrame(cursor_.ReadLE(8)); return true;
    default: return false;
  }
}

// Numbers, None, bools, bytes and floats.
// clang-format off
bool Scanner::HandleScalarOp(Op op) {
  switch (op) {
    case Op::kInt: PushTextInt(false); return true;
    case Op::kLong: PushTextInt(true); return true;
    case Op::kBinInt: Push(Value::Int(static_cast<int32_t>(cursor_.ReadLE(4)))); return true;
    case Op::kBinInt1: Push(Value::Int(static_cast<int64_t>(cursor_.ReadLE(1)))); return true;
    case Op::kBinInt2: Push(Value::Int(static_cast<int64_t>(cursor_.ReadLE(2)))); return true;
    case Op::kLong1: PushLong(cursor_.ReadLE(1)); return true;
    case Op::kLong4: PushLong(cursor_.ReadLE(4)); return true;
    case Op::kNone: Push(Value::None()); return true;
    case Op::kNewTrue: Push(Value::Bool(true)); return true;
    case Op::kNewFalse: Push(Value::Bool(false)); return true;
    case Op::kFloat: cursor_.ReadLine(); Push(Value::Opaque()); return true;
    case Op::kBinFloat: cursor_.ReadBytes(8); Push(Value::Opaque()); return true;
    // Bytes are not tracked (nothing torch decodes is bytes): skip them.
    case Op::kBinBytes: SkipData(cursor_.ReadLE(4)); return true;
    case Op::kShortBinBytes: SkipData(cursor_.ReadLE(1)); return true;
    case Op::kBinBytes8:
    case Op::kByteArray8: SkipData(cursor_.ReadLE(8)); return true;
    case Op::kNextBuffer: Push(Value::Opaque()); return true;
    case Op::kReadOnlyBuffer: Top() = Value::Opaque(); return true;
    default: return false;
  }
}
// clang-format on

// str values. Python 2 byte strings (STRING/BINSTRING/SHORT_BINSTRING) load
// as str under the unpickler's default ASCII encoding, so they are str too.
// clang-format off
bool Scanner::HandleStringOp(Op op) {
  switch (op) {
    case Op::kShortBinUnicode: PushBinaryStr(cursor_.ReadLE(1), TorchTracks::kBoth); return true;
    case Op::kBinUnicode: PushBinaryStr(cursor_.ReadLE(4), TorchTracks::kTorch2); return true;
    case Op::kBinUnicode8: PushBinaryStr(cursor_.ReadLE(8), TorchTracks::kBoth); return true;
    case Op::kShortBinString: PushBinaryStr(cursor_.ReadLE(1), TorchTracks::kNo); return true;
    case Op::kBinString: {
      auto length = static_cast<int32_t>(cursor_.ReadLE(4));
      if (length < 0) Fail("BINSTRING pickle has negative byte count");
      PushBinaryStr(static_cast<uint64_t>(length), TorchTracks::kNo);
      return true;
    }
    case Op::kString: {
      auto decoded = pickle::DecodeQuotedString(cursor_.ReadLine());
      if (!decoded) Fail("the STRING opcode argument must be quoted");
      Push(Value::OwnedStr(std::move(*decoded)));
      return true;
    }
    case Op::kUnicode: {
      auto decoded = pickle::DecodeRawUnicodeEscape(cursor_.ReadLine());
      if (!decoded) Fail("malformed \\u escape in UNICODE operand");
      Push(Value::OwnedStr(std::move(*decoded)));
      return true;
    }
    default:
      return false;
  }
}
// clang-format on

// clang-format off
bool Scanner::HandleContainerOp(Op op) {
  switch (op) {
    case Op::kEmptyList: case Op::kEmptyDict: case Op::kEmptySet:
      Push(Value::Opaque());
      return true;
    case Op::kEmptyTuple: PushTuple({}); return true;
    case Op::kTuple1: case Op::kTuple2: case Op::kTuple3: {
      // The top 1-3 values become the tuple, without a copy of the stack.
      const size_t n = static_cast<size_t>(op) - static_cast<size_t>(Op::kTuple1) + 1;
      if (stack_.size() < Fence() + n) Fail("pickle stack underflow");
      Value tuple = TupleOfTop(n);
      Push(std::move(tuple));
      return true;
    }
    case Op::kTuple: {
      const size_t start = PopMark();
      const size_t n = stack_.size() - start;
      if (n > kMaxTrackedTupleSize) {
        stack_.resize(start);
        PushUntrackedTuple();
        return true;
      }
      Value tuple = TupleOfTop(n);
      Push(std::move(tuple));
      return true;
    }
    case Op::kList: case Op::kDict: case Op::kFrozenSet:
      stack_.resize(PopMark());
      Push(Value::Opaque());
      return true;
    case Op::kAppend: Pop(); Top(); return true;
    case Op::kSetItem: Pop(); Pop(); Top(); return true;
    case Op::kAppends: case Op::kSetItems: case Op::kAddItems:
      stack_.resize(PopMark());
      Top();  // the container they extend
      return true;
    default:
      return false;
  }
}
// clang-format on

// clang-format off
bool Scanner::HandleMemoOp(Op op) {
  auto text_index = [this] {
    pickle::ParsedInt index = pickle::ParseTextInt(cursor_.ReadLine(), false, false);
    if (!index.valid || index.big || index.value < 0) Fail("invalid memo index");
    return static_cast<uint64_t>(index.value);
  };
  switch (op) {
    case Op::kGet: { uint64_t i = text_index(); torch_.OnGet(i, true); PushMemo(i); return true; }
    case Op::kBinGet: { uint64_t i = cursor_.ReadLE(1); torch_.OnGet(i, true); PushMemo(i); return true; }
    case Op::kLongBinGet: { uint64_t i = cursor_.ReadLE(4); torch_.OnGet(i, false); PushMemo(i); return true; }
    case Op::kPut: PutMemo(text_index()); return true;
    case Op::kBinPut: PutMemo(cursor_.ReadLE(1)); return true;
    case Op::kLongBinPut: PutMemo(cursor_.ReadLE(4)); return true;
    case Op::kMemoize: torch_.OnMemoize(); PutMemo(memo_.size()); return true;
    default: return false;
  }
}
// clang-format on

// clang-format off
bool Scanner::HandleObjectOp(Op op) {
  switch (op) {
    case Op::kGlobal: PushGlobalFromLines(false); return true;
    case Op::kInst: PushGlobalFromLines(true); return true;
    case Op::kStackGlobal: PushStackGlobal(); return true;
    case Op::kObj: {
      size_t start = PopMark();
      if (stack_.size() <= start) Fail("pickle stack underflow");
      NoteCall(op, stack_[start], nullptr);
      stack_.resize(start);
      Push(Value::Opaque());
      return true;
    }
    case Op::kReduce: {
      const Value args = Pop();
      NoteTensor(Top(), args);
      NoteCall(op, Top(), &args);
      Top() = Value::Opaque();
      return true;
    }
    case Op::kNewObj: {
      const Value args = Pop();
      NoteCall(op, Top(), &args);
      Top() = Value::Opaque();
      return true;
    }
    case Op::kNewObjEx: {
      Pop();  // kwargs
      const Value args = Pop();
      NoteCall(op, Top(), &args);
      Top() = Value::Opaque();
      return true;
    }
    case Op::kBuild: Pop(); Top(); return true;
    case Op::kPersId: cursor_.ReadLine(); Push(Value::Opaque()); return true;  // a str pid: no torch id
    case Op::kBinPersId: {
      // The safety scanner checks the globals a persistent id names, not its
      // shape: the legacy torch.save format's storage ids have 6 fields.
      const Value pid = Pop();
      if (observer_ != nullptr) NoteReducePackageCall(pid);
      Push(observer_ == nullptr ? DecodePersistentId(pid) : Value::Opaque());
      return true;
    }
    case Op::kExt1: case Op::kExt2: case Op::kExt4:
      // copyreg's extension registry is empty unless a program fills it,
      // and torch never does: pickle.Unpickler fails here as well.
    {
      uint64_t code = cursor_.ReadLE(op == Op::kExt1 ? 1 : op == Op::kExt2 ? 2 : 4);
      if (observer_ == nullptr) Fail("unregistered extension code");
      observer_->OnExtension(op_offset_, static_cast<uint8_t>(op), code);
      Push(Value::Opaque());
      return true;
    }
    default:
      return false;
  }
}
// clang-format on

}  // namespace tpkg::pickle
