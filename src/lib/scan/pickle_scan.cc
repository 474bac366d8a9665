// pickle_scan.cc: a symbolic pickle machine that never executes anything.
//
// It follows CPython's _pickle.c stack discipline (values plus a mark stack,
// a memo, the same underflow rules) but pushes kOpaque for every object it
// would have to build. Only strings, ints, bools, None, globals and small
// tuples are tracked: enough for persistent ids and STACK_GLOBAL operands.
#include "tpkg/pickle_scan.h"

#include <unordered_set>
#include <utility>

#include "scan/pickle_cursor.h"
#include "scan/pickle_opcodes.h"
#include "scan/pickle_text.h"
#include "scan/pickle_value.h"
#include "scan/torch_pickle_loop.h"

namespace tpkg {
namespace {

using pickle::Cursor;
using pickle::Kind;
using pickle::Op;
using pickle::StringInterner;
using pickle::TorchPickleLoop;
using pickle::Value;

// Persistent ids have 3 to 5 elements and nest at most one tuple deep
// (reduce_package args); bigger or deeper tuples need not be tracked. The
// depth bound also keeps destruction of nested shared tuples from recursing
// a million frames deep.
constexpr size_t kMaxTrackedTupleSize = 8;
constexpr int64_t kMaxTrackedTupleDepth = 16;

class Scanner {
 public:
  Scanner(std::span<const char> bytes, const PickleScanLimits& limits)
      : cursor_(bytes), limits_(limits), torch_(strings_) {}

  PickleScan Run();

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
  void PushBinaryStr(uint64_t length, bool torch_tracks);
  void PushTuple(std::vector<Value> items);
  void PushMemo(uint64_t index);
  void PutMemo(uint64_t index);
  void PushGlobalFromLines(bool is_inst);
  void PushStackGlobal();
  void AddGlobal(uint32_t module_id, uint32_t name_id);
  void DecodePersistentId(const Value& pid);
  void DecodeStorage(const std::vector<Value>& items);
  void DecodeReducePackage(const std::vector<Value>& items);
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
};

PickleScan Scanner::Run() {
  while (!stopped_) {
    if (cursor_.AtEnd()) pickle::FailAt("truncated pickle: no STOP opcode", cursor_.offset());
    op_offset_ = cursor_.offset();
    auto op = static_cast<Op>(cursor_.ReadU8());
    if (!HandleStackOp(op) && !HandleScalarOp(op) && !HandleStringOp(op) &&
        !HandleContainerOp(op) && !HandleMemoOp(op) && !HandleObjectOp(op)) {
      static const char* kHex = "0123456789abcdef";
      auto code = static_cast<unsigned>(op);
      Fail(std::string("invalid opcode 0x") + kHex[code >> 4] + kHex[code & 15]);
    }
  }
  result_.modules = torch_.Modules(result_.protocol);
  result_.mock_check = torch_.MockCheck(result_.protocol);
  return std::move(result_);
}

void Scanner::CheckDepth() const {
  if (stack_.size() + marks_.size() >= limits_.max_stack_depth)
    Fail("pickle stack deeper than the limit of " + std::to_string(limits_.max_stack_depth));
}

void Scanner::Push(Value v) {
  CheckDepth();
  stack_.push_back(std::move(v));
}

Value Scanner::Pop() {
  if (stack_.size() <= Fence()) Fail("pickle stack underflow");
  Value v = std::move(stack_.back());
  stack_.pop_back();
  return v;
}

Value& Scanner::Top() {
  if (stack_.size() <= Fence()) Fail("pickle stack underflow");
  return stack_.back();
}

size_t Scanner::PopMark() {
  if (marks_.empty()) Fail("MARK not found");
  size_t start = marks_.back();
  marks_.pop_back();
  return start;
}

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
    case Op::kPopMark:
      stack_.resize(PopMark());
      return true;
    case Op::kDup:
      Push(Value(Top()));
      return true;
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
    case Op::kFrame:
      // Frames only group opcodes, but like _pickle.c refuse one that
      // claims more bytes than are left.
      if (cursor_.ReadLE(8) > cursor_.remaining())
        Fail("truncated pickle: FRAME longer than the data");
      return true;
    default:
      return false;
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
    case Op::kBinBytes: cursor_.ReadBytes(cursor_.ReadLE(4)); Push(Value::Opaque()); return true;
    case Op::kShortBinBytes: cursor_.ReadBytes(cursor_.ReadLE(1)); Push(Value::Opaque()); return true;
    case Op::kBinBytes8:
    case Op::kByteArray8: cursor_.ReadBytes(cursor_.ReadLE(8)); Push(Value::Opaque()); return true;
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
    case Op::kShortBinUnicode: PushBinaryStr(cursor_.ReadLE(1), true); return true;
    case Op::kBinUnicode: PushBinaryStr(cursor_.ReadLE(4), false); return true;
    case Op::kBinUnicode8: PushBinaryStr(cursor_.ReadLE(8), true); return true;
    case Op::kShortBinString: PushBinaryStr(cursor_.ReadLE(1), false); return true;
    case Op::kBinString: {
      auto length = static_cast<int32_t>(cursor_.ReadLE(4));
      if (length < 0) Fail("BINSTRING pickle has negative byte count");
      PushBinaryStr(static_cast<uint64_t>(length), false);
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
    case Op::kTuple1: { Value a = Pop(); PushTuple({std::move(a)}); return true; }
    case Op::kTuple2: { Value b = Pop(); Value a = Pop(); PushTuple({std::move(a), std::move(b)}); return true; }
    case Op::kTuple3: {
      Value c = Pop(); Value b = Pop(); Value a = Pop();
      PushTuple({std::move(a), std::move(b), std::move(c)});
      return true;
    }
    case Op::kTuple: {
      size_t start = PopMark();
      std::vector<Value> items;
      if (stack_.size() - start <= kMaxTrackedTupleSize)
        items.assign(std::make_move_iterator(stack_.begin() + static_cast<ptrdiff_t>(start)),
                     std::make_move_iterator(stack_.end()));
      else
        items.resize(kMaxTrackedTupleSize + 1);  // marks it untracked
      stack_.resize(start);
      PushTuple(std::move(items));
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
    case Op::kGet: { uint64_t i = text_index(); torch_.OnGet(i); PushMemo(i); return true; }
    case Op::kBinGet: { uint64_t i = cursor_.ReadLE(1); torch_.OnGet(i); PushMemo(i); return true; }
    case Op::kLongBinGet: PushMemo(cursor_.ReadLE(4)); return true;
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
      stack_.resize(start);
      Push(Value::Opaque());
      return true;
    }
    case Op::kReduce: case Op::kNewObj: Pop(); Top() = Value::Opaque(); return true;
    case Op::kNewObjEx: Pop(); Pop(); Top() = Value::Opaque(); return true;
    case Op::kBuild: Pop(); Top(); return true;
    case Op::kPersId: cursor_.ReadLine(); Push(Value::Opaque()); return true;  // a str pid: no torch id
    case Op::kBinPersId: DecodePersistentId(Pop()); Push(Value::Opaque()); return true;
    case Op::kExt1: case Op::kExt2: case Op::kExt4:
      // copyreg's extension registry is empty unless a program fills it,
      // and torch never does: pickle.Unpickler fails here as well.
      cursor_.ReadLE(op == Op::kExt1 ? 1 : op == Op::kExt2 ? 2 : 4);
      Fail("unregistered extension code");
    default:
      return false;
  }
}
// clang-format on

void Scanner::PushTextInt(bool is_long) {
  std::string_view line = cursor_.ReadLine();
  if (!is_long && (line == "00" || line == "01")) {  // protocol 0 bools
    Push(Value::Bool(line == "01"));
    return;
  }
  pickle::ParsedInt v = pickle::ParseTextInt(line, true, is_long);
  if (!v.valid) Fail("invalid literal for int()");
  Push(v.big ? Value::BigInt() : Value::Int(v.value));
}

// LONG1/LONG4: little-endian two's complement of `length` bytes.
void Scanner::PushLong(uint64_t length) {
  std::string_view bytes = cursor_.ReadBytes(length);
  if (length > 8) {
    Push(Value::BigInt());  // numel/keys never need more than int64
    return;
  }
  uint64_t v = 0;
  for (size_t i = bytes.size(); i-- > 0;) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  if (length > 0 && length < 8 && (static_cast<uint8_t>(bytes.back()) & 0x80))
    v |= ~uint64_t{0} << (8 * length);
  Push(Value::Int(static_cast<int64_t>(v)));
}

void Scanner::PushBinaryStr(uint64_t length, bool torch_tracks) {
  Value v = Value::Str(cursor_.ReadBytes(length));
  if (torch_tracks) torch_.OnTrackedString(v);
  Push(std::move(v));
}

void Scanner::PushTuple(std::vector<Value> items) {
  if (items.size() > kMaxTrackedTupleSize) {
    Push(Value::Opaque());
    return;
  }
  Value tuple = Value::Tuple(std::move(items));
  Push(tuple.int_value > kMaxTrackedTupleDepth ? Value::Opaque() : std::move(tuple));
}

void Scanner::PushMemo(uint64_t index) {
  const Value* v = memo_.Get(index);
  if (v == nullptr) Fail("memo value not found at index " + std::to_string(index));
  Push(Value(*v));
}

void Scanner::PutMemo(uint64_t index) {
  const Value& top = Top();
  if (memo_.Get(index) == nullptr && memo_.size() >= limits_.max_memo_entries)
    Fail("pickle memo larger than the limit of " + std::to_string(limits_.max_memo_entries));
  memo_.Put(index, top);
}

// GLOBAL and INST name "module\nname\n". INST also pops the constructor
// arguments above the last MARK.
void Scanner::PushGlobalFromLines(bool is_inst) {
  std::string_view module = cursor_.ReadLine();
  std::string_view name = cursor_.ReadLine();
  uint32_t module_id = strings_.Intern(module);
  uint32_t name_id = strings_.Intern(name);
  AddGlobal(module_id, name_id);
  if (is_inst) {
    stack_.resize(PopMark());
    Push(Value::Opaque());
    return;
  }
  torch_.OnGlobalOpcode(module_id, name_id);
  Push(Value::Global(module_id, name_id));
}

void Scanner::PushStackGlobal() {
  Value name = Pop();
  Value module = Pop();
  if (module.kind != Kind::kStr || name.kind != Kind::kStr)
    Fail("STACK_GLOBAL operands are not literal strings");
  uint32_t module_id = strings_.Intern(module);
  uint32_t name_id = strings_.Intern(name);
  AddGlobal(module_id, name_id);
  torch_.OnStackGlobal(module_id);
  Push(Value::Global(module_id, name_id));
}

void Scanner::AddGlobal(uint32_t module_id, uint32_t name_id) {
  if (seen_globals_.insert((uint64_t{module_id} << 32) | name_id).second)
    result_.globals.push_back(
        {std::string(strings_.Text(module_id)), std::string(strings_.Text(name_id))});
}

// torch's persistent_load dispatches on the tuple's first element; other
// shapes load as None in 1.13 and are ignored here too.
void Scanner::DecodePersistentId(const Value& pid) {
  if (pid.kind != Kind::kTuple || pid.items().empty() || pid.items()[0].kind != Kind::kStr) return;
  std::string_view type = pid.items()[0].text;
  if (type == "storage")
    DecodeStorage(pid.items());
  else if (type == "reduce_package")
    DecodeReducePackage(pid.items());
}

// ('storage', storage_type, key, location, numel)
void Scanner::DecodeStorage(const std::vector<Value>& items) {
  if (items.size() != 5)
    Fail("storage persistent id has " + std::to_string(items.size()) + " fields, not 5");
  StorageRef ref;
  ref.storage_type = GlobalOf(items[1], "storage type");
  const Value& key = items[2];
  if (key.kind == Kind::kInt) {
    ref.key = std::to_string(key.int_value);
    ref.key_is_int = true;
  } else {
    ref.key = PidString(key, "storage key");
  }
  ref.location = PidString(items[3], "storage location");
  if (items[4].kind != Kind::kInt || items[4].int_value < 0)
    Fail("storage numel is not a non-negative int");
  ref.numel = static_cast<uint64_t>(items[4].int_value);
  result_.storages.push_back(std::move(ref));
}

// ('reduce_package', id, func, args) or the older ('reduce_package', func, args)
void Scanner::DecodeReducePackage(const std::vector<Value>& items) {
  if (items.size() != 3 && items.size() != 4)
    Fail("reduce_package persistent id has " + std::to_string(items.size()) +
         " fields, not 3 or 4");
  ReducePackageRef ref;
  ref.has_id = items.size() == 4;
  ref.func = GlobalOf(items[ref.has_id ? 2 : 1], "reduce_package function");
  result_.reduce_packages.push_back(std::move(ref));
}

PickleGlobal Scanner::GlobalOf(const Value& v, const char* what) const {
  if (v.kind != Kind::kGlobal) Fail(std::string(what) + " in a persistent id is not a global");
  std::string_view module = strings_.Text(v.global_module());
  std::string_view name = strings_.Text(v.global_name());
  if (module.size() + name.size() > limits_.max_persistent_id_string)
    Fail(std::string(what) + " in a persistent id is longer than the limit");
  return {std::string(module), std::string(name)};
}

// Strings copied out of persistent ids are bounded: one 3-byte BINGET could
// otherwise repeat a megabyte-long string in the result.
std::string Scanner::PidString(const Value& v, const char* what) const {
  if (v.kind != Kind::kStr) Fail(std::string(what) + " in a persistent id is not a str");
  if (v.text.size() > limits_.max_persistent_id_string)
    Fail(std::string(what) + " in a persistent id is longer than the limit");
  return std::string(v.text);
}

}  // namespace

PickleScan ScanPickle(std::span<const char> bytes, const PickleScanLimits& limits) {
  return Scanner(bytes, limits).Run();
}

}  // namespace tpkg
