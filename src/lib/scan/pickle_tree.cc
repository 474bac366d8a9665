// pickle_tree.cc: BuildPickleTree(), the unpickler's stack discipline over an
// arena of inert nodes (scan/pickle_tree.h).
#include "scan/pickle_tree.h"

#include <cstring>
#include <unordered_map>
#include <utility>

#include "scan/pickle_cursor.h"
#include "scan/pickle_opcodes.h"
#include "scan/pickle_text.h"

namespace tpkg::pickle {

bool PickleTree::IsGlobal(uint32_t index, std::string_view module, std::string_view name) const {
  if (index == kNoNode) return false;
  const Node& n = nodes.at(index);
  return n.kind == NodeKind::kGlobal && n.text == module && n.name == name;
}

namespace {

class TreeBuilder {
 public:
  TreeBuilder(std::span<const char> bytes, const PickleScanLimits& limits)
      : cursor_(bytes), limits_(limits) {}

  PickleTree Run() {
    while (!stopped_) {
      if (cursor_.AtEnd()) FailAt("truncated pickle: no STOP opcode", cursor_.offset());
      op_offset_ = cursor_.offset();
      Step(static_cast<Op>(cursor_.ReadU8()));
    }
    return std::move(tree_);
  }

 private:
  [[noreturn]] void Fail(const std::string& reason) const { FailAt(reason, op_offset_); }

  uint32_t Add(Node node) {
    tree_.nodes.push_back(std::move(node));
    return static_cast<uint32_t>(tree_.nodes.size() - 1);
  }
  uint32_t AddKind(NodeKind kind, int64_t value = 0) {
    Node n;
    n.kind = kind;
    n.int_value = value;
    return Add(std::move(n));
  }
  uint32_t AddStr(std::string text) {
    Node n;
    n.kind = NodeKind::kStr;
    n.text = std::move(text);
    return Add(std::move(n));
  }
  uint32_t AddGlobal(std::string module, std::string name) {
    Node n;
    n.kind = NodeKind::kGlobal;
    n.text = std::move(module);
    n.name = std::move(name);
    return Add(std::move(n));
  }
  uint32_t AddSequence(NodeKind kind, std::vector<uint32_t> items) {
    Node n;
    n.kind = kind;
    n.items = std::move(items);
    return Add(std::move(n));
  }
  uint32_t AddCall(uint32_t callable, uint32_t args) {
    Node n;
    n.kind = NodeKind::kCall;
    n.callable = callable;
    n.args = args;
    return Add(std::move(n));
  }

  size_t Fence() const { return marks_.empty() ? 0 : marks_.back(); }
  void CheckDepth() const {
    if (stack_.size() + marks_.size() >= limits_.max_stack_depth)
      Fail("pickle stack deeper than the limit of " + std::to_string(limits_.max_stack_depth));
  }
  void Push(uint32_t node) {
    CheckDepth();
    stack_.push_back(node);
  }
  uint32_t Pop() {
    if (stack_.size() <= Fence()) Fail("pickle stack underflow");
    uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t Top() {
    if (stack_.size() <= Fence()) Fail("pickle stack underflow");
    return stack_.back();
  }
  // Pops everything above the last MARK and the MARK itself.
  std::vector<uint32_t> PopToMark() {
    if (marks_.empty()) Fail("MARK not found");
    size_t start = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(start), stack_.end());
    stack_.resize(start);
    return items;
  }

  void PushLong(uint64_t length) {
    std::string_view bytes = cursor_.ReadBytes(length);
    if (length > 8) {
      Push(AddKind(NodeKind::kBigInt));
      return;
    }
    uint64_t v = 0;
    for (size_t i = bytes.size(); i-- > 0;) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
    if (length > 0 && length < 8 && (static_cast<uint8_t>(bytes.back()) & 0x80))
      v |= ~uint64_t{0} << (8 * length);
    // Eight bytes with the top bit set is negative in Python too: no wrap.
    Push(AddKind(NodeKind::kInt, static_cast<int64_t>(v)));
  }
  void PushTextInt(bool is_long) {
    std::string_view line = cursor_.ReadLine();
    if (!is_long && (line == "00" || line == "01")) {
      Push(AddKind(NodeKind::kBool, line == "01"));
      return;
    }
    ParsedInt v = ParseTextInt(line, true, is_long);
    if (!v.valid) Fail("invalid literal for int()");
    Push(v.big ? AddKind(NodeKind::kBigInt) : AddKind(NodeKind::kInt, v.value));
  }
  uint64_t TextIndex() {
    ParsedInt index = ParseTextInt(cursor_.ReadLine(), false, false);
    if (!index.valid || index.big || index.value < 0) Fail("invalid memo index");
    return static_cast<uint64_t>(index.value);
  }
  void Get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) Fail("memo value not found at index " + std::to_string(index));
    Push(it->second);
  }
  void Put(uint64_t index) {
    uint32_t top = Top();
    if (!memo_.contains(index) && memo_.size() >= limits_.max_memo_entries)
      Fail("pickle memo larger than the limit of " + std::to_string(limits_.max_memo_entries));
    memo_[index] = top;
  }

  // APPEND(S), SETITEM(S), ADDITEMS extend a container, or a call's result.
  void Extend(uint32_t target, const std::vector<uint32_t>& items, bool pairs) {
    Node& n = tree_.nodes[target];
    if (pairs && items.size() % 2 != 0) Fail("odd number of items for SETITEMS");
    if (n.kind == NodeKind::kDict ||
        (!pairs && (n.kind == NodeKind::kList || n.kind == NodeKind::kSet)))
      n.items.insert(n.items.end(), items.begin(), items.end());
    else if (n.kind == NodeKind::kCall)
      (pairs ? n.dict_items : n.items)
          .insert((pairs ? n.dict_items : n.items).end(), items.begin(), items.end());
  }

  void Step(Op op);
  void StepObject(Op op);

  Cursor cursor_;
  const PickleScanLimits limits_;
  size_t op_offset_ = 0;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  bool stopped_ = false;
  bool saw_proto_ = false;
  PickleTree tree_;
};

void TreeBuilder::Step(Op op) {
  switch (op) {
    case Op::kMark:
      CheckDepth();
      marks_.push_back(stack_.size());
      return;
    case Op::kPop:
      if (!marks_.empty() && marks_.back() == stack_.size())
        marks_.pop_back();
      else
        Pop();
      return;
    case Op::kPopMark: PopToMark(); return;
    case Op::kDup: Push(Top()); return;
    case Op::kStop:
      tree_.root = Pop();
      stopped_ = true;
      return;
    case Op::kProto: {
      int protocol = cursor_.ReadU8();
      if (protocol > kHighestProtocol)
        Fail("unsupported pickle protocol " + std::to_string(protocol));
      if (!saw_proto_) tree_.protocol = protocol;
      saw_proto_ = true;
      return;
    }
    case Op::kFrame:
      if (cursor_.ReadLE(8) > cursor_.remaining())
        Fail("truncated pickle: FRAME longer than the data");
      return;
    case Op::kInt: PushTextInt(false); return;
    case Op::kLong: PushTextInt(true); return;
    case Op::kBinInt:
      Push(AddKind(NodeKind::kInt, static_cast<int32_t>(cursor_.ReadLE(4))));
      return;
    case Op::kBinInt1:
      Push(AddKind(NodeKind::kInt, static_cast<int64_t>(cursor_.ReadLE(1))));
      return;
    case Op::kBinInt2:
      Push(AddKind(NodeKind::kInt, static_cast<int64_t>(cursor_.ReadLE(2))));
      return;
    case Op::kLong1: PushLong(cursor_.ReadLE(1)); return;
    case Op::kLong4: PushLong(cursor_.ReadLE(4)); return;
    case Op::kNone: Push(AddKind(NodeKind::kNone)); return;
    case Op::kNewTrue: Push(AddKind(NodeKind::kBool, 1)); return;
    case Op::kNewFalse: Push(AddKind(NodeKind::kBool, 0)); return;
    case Op::kFloat:
      cursor_.ReadLine();
      Push(AddKind(NodeKind::kOther));
      return;
    case Op::kBinFloat:
      cursor_.ReadBytes(8);
      Push(AddKind(NodeKind::kOther));
      return;
    case Op::kBinBytes:
      cursor_.ReadBytes(cursor_.ReadLE(4));
      Push(AddKind(NodeKind::kOther));
      return;
    case Op::kShortBinBytes:
      cursor_.ReadBytes(cursor_.ReadLE(1));
      Push(AddKind(NodeKind::kOther));
      return;
    case Op::kBinBytes8:
    case Op::kByteArray8:
      cursor_.ReadBytes(cursor_.ReadLE(8));
      Push(AddKind(NodeKind::kOther));
      return;
    case Op::kNextBuffer: Push(AddKind(NodeKind::kOther)); return;
    case Op::kReadOnlyBuffer: Top(); return;
    case Op::kShortBinUnicode:
    case Op::kShortBinString:
      Push(AddStr(std::string(cursor_.ReadBytes(cursor_.ReadLE(1)))));
      return;
    case Op::kBinUnicode: Push(AddStr(std::string(cursor_.ReadBytes(cursor_.ReadLE(4))))); return;
    case Op::kBinUnicode8: Push(AddStr(std::string(cursor_.ReadBytes(cursor_.ReadLE(8))))); return;
    case Op::kBinString: {
      auto length = static_cast<int32_t>(cursor_.ReadLE(4));
      if (length < 0) Fail("BINSTRING pickle has negative byte count");
      Push(AddStr(std::string(cursor_.ReadBytes(static_cast<uint64_t>(length)))));
      return;
    }
    case Op::kString: {
      auto decoded = DecodeQuotedString(cursor_.ReadLine());
      if (!decoded) Fail("the STRING opcode argument must be quoted");
      Push(AddStr(std::move(*decoded)));
      return;
    }
    case Op::kUnicode: {
      auto decoded = DecodeRawUnicodeEscape(cursor_.ReadLine());
      if (!decoded) Fail("malformed \\u escape in UNICODE operand");
      Push(AddStr(std::move(*decoded)));
      return;
    }
    case Op::kEmptyList: Push(AddSequence(NodeKind::kList, {})); return;
    case Op::kEmptyDict: Push(AddSequence(NodeKind::kDict, {})); return;
    case Op::kEmptySet: Push(AddSequence(NodeKind::kSet, {})); return;
    case Op::kEmptyTuple: Push(AddSequence(NodeKind::kTuple, {})); return;
    case Op::kTuple1: {
      uint32_t a = Pop();
      Push(AddSequence(NodeKind::kTuple, {a}));
      return;
    }
    case Op::kTuple2: {
      uint32_t b = Pop();
      uint32_t a = Pop();
      Push(AddSequence(NodeKind::kTuple, {a, b}));
      return;
    }
    case Op::kTuple3: {
      uint32_t c = Pop();
      uint32_t b = Pop();
      uint32_t a = Pop();
      Push(AddSequence(NodeKind::kTuple, {a, b, c}));
      return;
    }
    case Op::kTuple: Push(AddSequence(NodeKind::kTuple, PopToMark())); return;
    case Op::kList: Push(AddSequence(NodeKind::kList, PopToMark())); return;
    case Op::kFrozenSet: Push(AddSequence(NodeKind::kSet, PopToMark())); return;
    case Op::kDict: {
      std::vector<uint32_t> items = PopToMark();
      if (items.size() % 2 != 0) Fail("odd number of items for DICT");
      Push(AddSequence(NodeKind::kDict, std::move(items)));
      return;
    }
    case Op::kAppend: {
      uint32_t v = Pop();
      Extend(Top(), {v}, false);
      return;
    }
    case Op::kSetItem: {
      uint32_t v = Pop();
      uint32_t k = Pop();
      Extend(Top(), {k, v}, true);
      return;
    }
    case Op::kAppends:
    case Op::kAddItems: {
      auto items = PopToMark();
      Extend(Top(), items, false);
      return;
    }
    case Op::kSetItems: {
      auto items = PopToMark();
      Extend(Top(), items, true);
      return;
    }
    case Op::kGet: Get(TextIndex()); return;
    case Op::kBinGet: Get(cursor_.ReadLE(1)); return;
    case Op::kLongBinGet: Get(cursor_.ReadLE(4)); return;
    case Op::kPut: Put(TextIndex()); return;
    case Op::kBinPut: Put(cursor_.ReadLE(1)); return;
    case Op::kLongBinPut: Put(cursor_.ReadLE(4)); return;
    case Op::kMemoize: Put(memo_.size()); return;
    default: StepObject(op); return;
  }
}

void TreeBuilder::StepObject(Op op) {
  switch (op) {
    case Op::kGlobal: {
      std::string module(cursor_.ReadLine());
      std::string name(cursor_.ReadLine());
      Push(AddGlobal(std::move(module), std::move(name)));
      return;
    }
    case Op::kStackGlobal: {
      uint32_t name = Pop();
      uint32_t module = Pop();
      const Node& m = tree_.at(module);
      const Node& n = tree_.at(name);
      if (m.kind != NodeKind::kStr || n.kind != NodeKind::kStr)
        Fail("STACK_GLOBAL operands are not literal strings");
      std::string module_text = m.text;
      std::string name_text = n.text;
      Push(AddGlobal(std::move(module_text), std::move(name_text)));
      return;
    }
    case Op::kInst: {
      std::string module(cursor_.ReadLine());
      std::string name(cursor_.ReadLine());
      std::vector<uint32_t> args = PopToMark();
      uint32_t cls = AddGlobal(std::move(module), std::move(name));
      Push(AddCall(cls, AddSequence(NodeKind::kTuple, std::move(args))));
      return;
    }
    case Op::kObj: {
      std::vector<uint32_t> items = PopToMark();
      if (items.empty()) Fail("pickle stack underflow");
      uint32_t cls = items.front();
      items.erase(items.begin());
      Push(AddCall(cls, AddSequence(NodeKind::kTuple, std::move(items))));
      return;
    }
    case Op::kReduce:
    case Op::kNewObj: {
      uint32_t args = Pop();
      uint32_t callable = Pop();
      Push(AddCall(callable, args));
      return;
    }
    case Op::kNewObjEx: {
      Pop();  // kwargs
      uint32_t args = Pop();
      uint32_t cls = Pop();
      Push(AddCall(cls, args));
      return;
    }
    case Op::kBuild: {
      uint32_t state = Pop();
      uint32_t target = Top();
      if (tree_.nodes[target].kind == NodeKind::kCall) tree_.nodes[target].state = state;
      return;
    }
    case Op::kPersId: {
      uint32_t id = AddStr(std::string(cursor_.ReadLine()));
      Push(AddSequence(NodeKind::kPersId, {id}));
      return;
    }
    case Op::kBinPersId: {
      uint32_t id = Pop();
      Push(AddSequence(NodeKind::kPersId, {id}));
      return;
    }
    case Op::kExt1:
    case Op::kExt2:
    case Op::kExt4:
      cursor_.ReadLE(op == Op::kExt1 ? 1 : op == Op::kExt2 ? 2 : 4);
      Fail("unregistered extension code");
    default: {
      static const char* kHex = "0123456789abcdef";
      auto code = static_cast<unsigned>(op);
      Fail(std::string("invalid opcode 0x") + kHex[code >> 4] + kHex[code & 15]);
    }
  }
}

}  // namespace

PickleTree BuildPickleTree(std::span<const char> bytes, const PickleScanLimits& limits) {
  return TreeBuilder(bytes, limits).Run();
}

}  // namespace tpkg::pickle
