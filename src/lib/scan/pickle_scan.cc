// pickle_scan.cc: ScanPickle() and the symbolic pickle machine's run loop,
// stack discipline, value builders, globals and persistent-id decoding
// (scan/pickle_machine.h; the opcode groups are in pickle_dispatch.cc).
#include "tpkg/pickle_scan.h"

#include <optional>
#include <utility>

#include "scan/pickle_machine.h"
#include "scan/pickle_text.h"
#include "tpkg/pickle_tensors.h"

namespace tpkg {
namespace pickle {

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
    CheckFrameCrossing();
  }
  result_.modules = torch_.Modules(result_.protocol, TorchRelease::kTorch1_13);
  result_.mock_check = torch_.MockCheck(result_.protocol, TorchRelease::kTorch1_13);
  result_.modules_torch2 = torch_.Modules(result_.protocol, TorchRelease::kTorch2);
  result_.mock_check_torch2 = torch_.MockCheck(result_.protocol, TorchRelease::kTorch2);
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

void Scanner::PushBinaryStr(uint64_t length, TorchTracks tracks) {
  const std::string_view bytes = cursor_.ReadBytes(length);
  if (observer_ != nullptr) observer_->OnData(op_offset_, bytes);
  Value v = Value::Str(bytes);
  if (tracks != TorchTracks::kNo) torch_.OnTrackedString(v, tracks == TorchTracks::kBoth);
  Push(std::move(v));
}

void Scanner::PushUntrackedTuple() { Push(Value::Opaque()); }

Value Scanner::TupleOfTop(size_t n) {
  Value tuple = Value::Tuple(std::span<Value>(stack_.data() + stack_.size() - n, n));
  stack_.resize(stack_.size() - n);
  return tuple.tuple_depth > kMaxTrackedTupleDepth ? Value::Opaque() : tuple;
}

void Scanner::PushTuple(std::span<Value> items) {
  if (items.size() > kMaxTrackedTupleSize) {
    PushUntrackedTuple();
    return;
  }
  Value tuple = Value::Tuple(items);
  Push(tuple.tuple_depth > kMaxTrackedTupleDepth ? Value::Opaque() : std::move(tuple));
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
  AddGlobal(module_id, name_id, is_inst ? Op::kInst : Op::kGlobal);
  if (is_inst) {
    // pickle._Unpickler imports the class before it looks for the MARK: no
    // call without one.
    stack_.resize(PopMark());
    NoteCall(Op::kInst, Value::Global(module_id, name_id), nullptr);
    Push(Value::Opaque());
    return;
  }
  torch_.OnGlobalOpcode(module_id, name_id);
  Push(Value::Global(module_id, name_id));
}

void Scanner::PushStackGlobal() {
  Value name = Pop();
  Value module = Pop();
  bool computed = (module.kind == Kind::kOpaque && name.kind != Kind::kTuple) ||
                  (name.kind == Kind::kOpaque && module.kind != Kind::kTuple);
  if (observer_ != nullptr && computed) {
    // Only the running program knows these values (a call's result, an
    // object): the global cannot be named here, which is a finding.
    observer_->OnDynamicGlobal(op_offset_);
    Push(Value::Opaque());
    return;
  }
  if (module.kind != Kind::kStr || name.kind != Kind::kStr)
    Fail("STACK_GLOBAL operands are not literal strings");
  uint32_t module_id = strings_.Intern(module);
  uint32_t name_id = strings_.Intern(name);
  AddGlobal(module_id, name_id, Op::kStackGlobal);
  torch_.OnStackGlobal(module_id);
  Push(Value::Global(module_id, name_id));
}

void Scanner::AddGlobal(uint32_t module_id, uint32_t name_id, Op op) {
  if (observer_ != nullptr)
    observer_->OnGlobal(op_offset_, static_cast<uint8_t>(op), strings_.Text(module_id),
                        strings_.Text(name_id));
  if (seen_globals_.insert((uint64_t{module_id} << 32) | name_id).second)
    result_.globals.push_back(
        {std::string(strings_.Text(module_id)), std::string(strings_.Text(name_id))});
}

// torch's persistent_load dispatches on the tuple's first element; other
// shapes load as None in 1.13 and are ignored here too.
Value Scanner::DecodePersistentId(const Value& pid) {
  if (pid.kind != Kind::kTuple || pid.items().empty() || pid.items()[0].kind != Kind::kStr)
    return Value::Opaque();
  std::string_view type = pid.items()[0].text();
  if (type == "storage") {
    DecodeStorage(pid.items());
    return Value::Make(Kind::kStorage, static_cast<int64_t>(result_.storages.size() - 1));
  }
  if (type == "reduce_package") DecodeReducePackage(pid.items());
  return Value::Opaque();
}

namespace {

bool IsTensorRebuild(std::string_view module, std::string_view name) {
  return module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_tensor" ||
                                      name == "_rebuild_qtensor" || name == "_rebuild_tensor_v3");
}

// offset + sum((size[i] - 1) * stride[i]) + 1 (0 when a size is 0), or
// nullopt when a value is no literal non-negative int, or when the sum
// overflows (then `*overflows` is set).
std::optional<uint64_t> Extent(const Value& offset, const Value& size, const Value& stride,
                               bool* overflows) {
  auto non_negative = [](const Value& v) { return v.kind == Kind::kInt && v.int_value >= 0; };
  if (!non_negative(offset) || size.kind != Kind::kTuple || stride.kind != Kind::kTuple ||
      size.items().size() != stride.items().size())
    return std::nullopt;
  uint64_t last = static_cast<uint64_t>(offset.int_value);
  bool overflow = false;
  for (size_t i = 0; i < size.items().size(); ++i) {
    const Value& n = size.items()[i];
    const Value& step = stride.items()[i];
    if (!non_negative(n) || !non_negative(step)) return std::nullopt;
    if (n.int_value == 0) return 0;  // an empty tensor needs no element
    uint64_t span = 0;
    overflow |= __builtin_mul_overflow(static_cast<uint64_t>(n.int_value - 1),
                                       static_cast<uint64_t>(step.int_value), &span);
    overflow |= __builtin_add_overflow(last, span, &last);
  }
  if (overflow || last == UINT64_MAX) {
    *overflows = true;
    return std::nullopt;
  }
  return last + 1;
}

}  // namespace

void Scanner::NoteTensor(const Value& callable, const Value& args) {
  if (callable.kind != Kind::kGlobal || args.kind != Kind::kTuple || args.items().size() < 4 ||
      args.items()[0].kind != Kind::kStorage)
    return;
  const std::string_view name = strings_.Text(callable.global_name());
  if (!IsTensorRebuild(strings_.Text(callable.global_module()), name)) return;
  const std::span<const Value> a = args.items();
  bool overflows = false;
  std::optional<uint64_t> elements = Extent(a[1], a[2], a[3], &overflows);
  if (elements && name == "_rebuild_tensor_v3") {
    // (..., hooks, dtype, ...) on an untyped storage, whose elements are
    // bytes: the extent counts elements of the dtype the call names.
    std::optional<uint32_t> size;
    if (a.size() >= 7 && a[6].kind == Kind::kGlobal &&
        strings_.Text(a[6].global_module()) == "torch")
      size = ElementSizeOfDtype(strings_.Text(a[6].global_name()));
    if (!size) return;
    elements = StorageBytes(*elements, *size);
    overflows = !elements;
  }
  const auto storage = static_cast<size_t>(a[0].int_value);
  if (elements) result_.tensors.push_back({storage, *elements});
  if (overflows) result_.tensors.push_back({storage, 0, true});
}

// ('storage', storage_type, key, location, numel)
void Scanner::DecodeStorage(std::span<const Value> items) {
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
void Scanner::DecodeReducePackage(std::span<const Value> items) {
  if (items.size() != 3 && items.size() != 4)
    Fail("reduce_package persistent id has " + std::to_string(items.size()) +
         " fields, not 3 or 4");
  ReducePackageRef ref;
  ref.has_id = items.size() == 4;
  ref.func = GlobalOf(items[ref.has_id ? 2 : 1], "reduce_package function");
  // Kept for the one call whose argument names records (a TorchScript
  // module's id): any other reduce_package's arguments are its own business,
  // and a long one must not make the pickle unreadable.
  const Value& args = items[ref.has_id ? 3 : 2];
  if (ref.func.module == "torch.jit._script" && ref.func.name == "unpackage_script_module" &&
      args.kind == Kind::kTuple && !args.items().empty() && args.items()[0].kind == Kind::kStr &&
      args.items()[0].text().size() <= limits_.max_persistent_id_string)
    ref.first_arg = std::string(args.items()[0].text());
  result_.reduce_packages.push_back(std::move(ref));
}

void Scanner::NoteCall(Op op, const Value& callee, const Value* args) {
  if (observer_ == nullptr || callee.kind != Kind::kGlobal) return;
  // func(*args) refuses these before calling; anything else may be iterable.
  if (args != nullptr && (args->kind == Kind::kNone || args->kind == Kind::kBool ||
                          args->kind == Kind::kInt || args->kind == Kind::kBigInt))
    return;
  observer_->OnCall(op_offset_, static_cast<uint8_t>(op), strings_.Text(callee.global_module()),
                    strings_.Text(callee.global_name()));
}

// torch.package's persistent_load: ('reduce_package', func, args) or
// ('reduce_package', id, func, args) returns func(importer, *args).
void Scanner::NoteReducePackageCall(const Value& pid) {
  if (pid.kind != Kind::kTuple || pid.items().empty() || pid.items()[0].kind != Kind::kStr ||
      pid.items()[0].text() != "reduce_package")
    return;
  const std::span<const Value> items = pid.items();
  if (items.size() != 3 && items.size() != 4) return;
  const size_t func = items.size() == 4 ? 2 : 1;
  NoteCall(Op::kBinPersId, items[func], &items[func + 1]);
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
  if (v.text().size() > limits_.max_persistent_id_string)
    Fail(std::string(what) + " in a persistent id is longer than the limit");
  return std::string(v.text());
}

// bytes operands: skipped, shown to the observer (a pickle may hide in one).
void Scanner::SkipData(uint64_t length) {
  std::string_view data = cursor_.ReadBytes(length);
  if (observer_ != nullptr) observer_->OnData(op_offset_, data);
  Push(Value::Opaque());
}

// Frames only group opcodes, but like _pickle.c refuse one that claims more
// bytes than are left. pickle._Unpickler also refuses a frame that starts
// before the current one ends, and an opcode crossing a frame's end; the C
// unpickler does not: the observer hears of both.
void Scanner::OnFrame(uint64_t length) {
  if (length > cursor_.remaining()) Fail("truncated pickle: FRAME longer than the data");
  if (observer_ != nullptr && frame_end_ > op_offset_)
    observer_->OnFrameAnomaly(op_offset_, "FRAME before the end of the current frame");
  frame_end_ = cursor_.offset() + static_cast<size_t>(length);
}

void Scanner::CheckFrameCrossing() {
  if (frame_end_ == 0 || op_offset_ >= frame_end_) return;
  if (cursor_.offset() > frame_end_) {
    if (observer_ != nullptr)
      observer_->OnFrameAnomaly(op_offset_, "opcode crosses the end of its FRAME");
    frame_end_ = 0;
  }
}

size_t ScanPickleObserved(std::span<const char> bytes, const PickleScanLimits& limits,
                          Observer& observer, PickleScan* result) {
  Scanner scanner(bytes, limits, &observer);
  PickleScan scan = scanner.Run();
  if (result != nullptr) *result = std::move(scan);
  return scanner.end_offset();
}

}  // namespace pickle

PickleScan ScanPickle(std::span<const char> bytes, const PickleScanLimits& limits) {
  return pickle::Scanner(bytes, limits).Run();
}

}  // namespace tpkg
