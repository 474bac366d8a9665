// pickle_dis.cc: DisassemblePickle(), pickletools.dis() re-done in C++
// (tpkg/pickle_dis.h): its opcode table (name, argument reader, stack effect,
// protocol), its argument readers with Python's reprs (scan/python_repr.h),
// and its crude stack and memo emulation, which decides the "(MARK at N)"
// notes and where it raises.
#include "tpkg/pickle_dis.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "scan/pickle_text.h"
#include "scan/python_repr.h"

namespace tpkg {
namespace {

using pickle::ReprBytes;

enum class Arg : uint8_t {
  kNone,
  kUint1,
  kUint2,
  kInt4,
  kUint4,
  kUint8,
  kDecimalnlShort,
  kDecimalnlLong,
  kLong1,
  kLong4,
  kStringnl,
  kStringnlNoescape,
  kStringnlNoescapePair,
  kString1,
  kString4,
  kBytes1,
  kBytes4,
  kBytes8,
  kBytearray8,
  kUnicodestringnl,
  kUnicodestring1,
  kUnicodestring4,
  kUnicodestring8,
  kFloatnl,
  kFloat8,
};

struct OpInfo {
  uint8_t code;
  const char* name;
  Arg arg;
  uint8_t before;     // len(stack_before)
  int8_t mark_index;  // stack_before.index(markobject), -1 when absent
  uint8_t after;      // len(stack_after)
  bool pushes_mark;   // markobject in stack_after (MARK)
  uint8_t proto;
};

// pickletools.opcodes, in its order.
// clang-format off
constexpr std::array<OpInfo, 68> kOps = {{
    {0x49, "INT", Arg::kDecimalnlShort, 0, -1, 1, false, 0},
    {0x4a, "BININT", Arg::kInt4, 0, -1, 1, false, 1},
    {0x4b, "BININT1", Arg::kUint1, 0, -1, 1, false, 1},
    {0x4d, "BININT2", Arg::kUint2, 0, -1, 1, false, 1},
    {0x4c, "LONG", Arg::kDecimalnlLong, 0, -1, 1, false, 0},
    {0x8a, "LONG1", Arg::kLong1, 0, -1, 1, false, 2},
    {0x8b, "LONG4", Arg::kLong4, 0, -1, 1, false, 2},
    {0x53, "STRING", Arg::kStringnl, 0, -1, 1, false, 0},
    {0x54, "BINSTRING", Arg::kString4, 0, -1, 1, false, 1},
    {0x55, "SHORT_BINSTRING", Arg::kString1, 0, -1, 1, false, 1},
    {0x42, "BINBYTES", Arg::kBytes4, 0, -1, 1, false, 3},
    {0x43, "SHORT_BINBYTES", Arg::kBytes1, 0, -1, 1, false, 3},
    {0x8e, "BINBYTES8", Arg::kBytes8, 0, -1, 1, false, 4},
    {0x96, "BYTEARRAY8", Arg::kBytearray8, 0, -1, 1, false, 5},
    {0x97, "NEXT_BUFFER", Arg::kNone, 0, -1, 1, false, 5},
    {0x98, "READONLY_BUFFER", Arg::kNone, 1, -1, 1, false, 5},
    {0x4e, "NONE", Arg::kNone, 0, -1, 1, false, 0},
    {0x88, "NEWTRUE", Arg::kNone, 0, -1, 1, false, 2},
    {0x89, "NEWFALSE", Arg::kNone, 0, -1, 1, false, 2},
    {0x56, "UNICODE", Arg::kUnicodestringnl, 0, -1, 1, false, 0},
    {0x8c, "SHORT_BINUNICODE", Arg::kUnicodestring1, 0, -1, 1, false, 4},
    {0x58, "BINUNICODE", Arg::kUnicodestring4, 0, -1, 1, false, 1},
    {0x8d, "BINUNICODE8", Arg::kUnicodestring8, 0, -1, 1, false, 4},
    {0x46, "FLOAT", Arg::kFloatnl, 0, -1, 1, false, 0},
    {0x47, "BINFLOAT", Arg::kFloat8, 0, -1, 1, false, 1},
    {0x5d, "EMPTY_LIST", Arg::kNone, 0, -1, 1, false, 1},
    {0x61, "APPEND", Arg::kNone, 2, -1, 1, false, 0},
    {0x65, "APPENDS", Arg::kNone, 3, 1, 1, false, 1},
    {0x6c, "LIST", Arg::kNone, 2, 0, 1, false, 0},
    {0x29, "EMPTY_TUPLE", Arg::kNone, 0, -1, 1, false, 1},
    {0x74, "TUPLE", Arg::kNone, 2, 0, 1, false, 0},
    {0x85, "TUPLE1", Arg::kNone, 1, -1, 1, false, 2},
    {0x86, "TUPLE2", Arg::kNone, 2, -1, 1, false, 2},
    {0x87, "TUPLE3", Arg::kNone, 3, -1, 1, false, 2},
    {0x7d, "EMPTY_DICT", Arg::kNone, 0, -1, 1, false, 1},
    {0x64, "DICT", Arg::kNone, 2, 0, 1, false, 0},
    {0x73, "SETITEM", Arg::kNone, 3, -1, 1, false, 0},
    {0x75, "SETITEMS", Arg::kNone, 3, 1, 1, false, 1},
    {0x8f, "EMPTY_SET", Arg::kNone, 0, -1, 1, false, 4},
    {0x90, "ADDITEMS", Arg::kNone, 3, 1, 1, false, 4},
    {0x91, "FROZENSET", Arg::kNone, 2, 0, 1, false, 4},
    {0x30, "POP", Arg::kNone, 1, -1, 0, false, 0},
    {0x32, "DUP", Arg::kNone, 1, -1, 2, false, 0},
    {0x28, "MARK", Arg::kNone, 0, -1, 1, true, 0},
    {0x31, "POP_MARK", Arg::kNone, 2, 0, 0, false, 1},
    {0x67, "GET", Arg::kDecimalnlShort, 0, -1, 1, false, 0},
    {0x68, "BINGET", Arg::kUint1, 0, -1, 1, false, 1},
    {0x6a, "LONG_BINGET", Arg::kUint4, 0, -1, 1, false, 1},
    {0x70, "PUT", Arg::kDecimalnlShort, 0, -1, 0, false, 0},
    {0x71, "BINPUT", Arg::kUint1, 0, -1, 0, false, 1},
    {0x72, "LONG_BINPUT", Arg::kUint4, 0, -1, 0, false, 1},
    {0x94, "MEMOIZE", Arg::kNone, 1, -1, 1, false, 4},
    {0x82, "EXT1", Arg::kUint1, 0, -1, 1, false, 2},
    {0x83, "EXT2", Arg::kUint2, 0, -1, 1, false, 2},
    {0x84, "EXT4", Arg::kInt4, 0, -1, 1, false, 2},
    {0x63, "GLOBAL", Arg::kStringnlNoescapePair, 0, -1, 1, false, 0},
    {0x93, "STACK_GLOBAL", Arg::kNone, 2, -1, 1, false, 4},
    {0x52, "REDUCE", Arg::kNone, 2, -1, 1, false, 0},
    {0x62, "BUILD", Arg::kNone, 2, -1, 1, false, 0},
    {0x69, "INST", Arg::kStringnlNoescapePair, 2, 0, 1, false, 0},
    {0x6f, "OBJ", Arg::kNone, 3, 0, 1, false, 1},
    {0x81, "NEWOBJ", Arg::kNone, 2, -1, 1, false, 2},
    {0x92, "NEWOBJ_EX", Arg::kNone, 3, -1, 1, false, 4},
    {0x80, "PROTO", Arg::kUint1, 0, -1, 0, false, 2},
    {0x2e, "STOP", Arg::kNone, 1, -1, 0, false, 0},
    {0x95, "FRAME", Arg::kUint8, 0, -1, 0, false, 4},
    {0x50, "PERSID", Arg::kStringnlNoescape, 0, -1, 1, false, 0},
    {0x51, "BINPERSID", Arg::kNone, 1, -1, 1, false, 1},
}};
// clang-format on

const OpInfo* FindOp(uint8_t code) {
  for (const OpInfo& op : kOps) {
    if (op.code == code) return &op;
  }
  return nullptr;
}

struct ArgError {
  std::string why;
};

// One argument read: its repr, and for memo opcodes the key.
struct ArgValue {
  std::string repr;
  std::string memo_key;  // decimal, bools as 0/1 (equal keys in a Python dict)
};

class Reader {
 public:
  Reader(std::span<const char> bytes, const PickleDisOptions& options)
      : data_(bytes), modern_(options.python_minor >= 13) {}

  size_t pos() const { return pos_; }
  bool AtEnd() const { return pos_ >= data_.size(); }
  uint8_t Code() { return static_cast<uint8_t>(data_[pos_++]); }

  std::optional<ArgValue> Read(Arg arg);

 private:
  std::string_view Bytes(uint64_t n, const char* what) {
    if (n > data_.size() - pos_)
      throw ArgError{"expected " + std::to_string(n) + " bytes in a " + what + ", but only " +
                     std::to_string(data_.size() - pos_) + " remain"};
    std::string_view out(data_.data() + pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return out;
  }
  uint64_t Unsigned(int n, const char* what) {
    std::string_view b = Bytes(static_cast<uint64_t>(n), what);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[static_cast<size_t>(i)]);
    return v;
  }
  std::string_view Line() {
    const void* nl = std::memchr(data_.data() + pos_, '\n', data_.size() - pos_);
    if (nl == nullptr) throw ArgError{"no newline found when trying to read stringnl"};
    const size_t len = static_cast<size_t>(static_cast<const char*>(nl) - (data_.data() + pos_));
    std::string_view out(data_.data() + pos_, len);
    pos_ += len + 1;
    return out;
  }
  std::string Checked(std::optional<std::string> repr, const char* why) {
    if (!repr) throw ArgError{why};
    return *repr;
  }
  // read_stringnl(stripquotes=False): escape-decoded, then ASCII (UTF-8 in 3.13).
  std::string NoescapeText() {
    std::string_view line = Line();
    std::optional<std::string> decoded = pickle::DecodeQuotedString("'" + std::string(line) + "'");
    if (!decoded) throw ArgError{"invalid escape in stringnl"};
    if (!modern_) {
      for (char c : *decoded) {
        if (static_cast<uint8_t>(c) >= 0x80) throw ArgError{"'ascii' codec can't decode stringnl"};
      }
    }
    return *decoded;
  }

  std::span<const char> data_;
  size_t pos_ = 0;
  bool modern_;
};

std::string IntText(int64_t v) { return std::to_string(v); }

std::optional<ArgValue> Reader::Read(Arg arg) {
  switch (arg) {
    case Arg::kNone: return std::nullopt;
    case Arg::kUint1: {
      auto v = IntText(static_cast<int64_t>(Unsigned(1, "uint1")));
      return ArgValue{v, v};
    }
    case Arg::kUint2: {
      auto v = IntText(static_cast<int64_t>(Unsigned(2, "uint2")));
      return ArgValue{v, v};
    }
    case Arg::kUint4: {
      auto v = IntText(static_cast<int64_t>(Unsigned(4, "uint4")));
      return ArgValue{v, v};
    }
    case Arg::kInt4: {
      auto v = IntText(static_cast<int32_t>(Unsigned(4, "int4")));
      return ArgValue{v, v};
    }
    case Arg::kUint8: {
      auto v = std::to_string(Unsigned(8, "uint8"));
      return ArgValue{v, v};
    }
    case Arg::kDecimalnlShort: {
      std::string_view s = Line();
      if (s.ends_with('L')) throw ArgError{"trailing 'L' not allowed"};
      if (s == "00") return ArgValue{"False", "0"};
      if (s == "01") return ArgValue{"True", "1"};
      std::string v = Checked(pickle::ReprDecimal(s), "invalid literal for int()");
      return ArgValue{v, v};
    }
    case Arg::kDecimalnlLong: {
      std::string_view s = Line();
      if (s.ends_with('L')) s.remove_suffix(1);
      return ArgValue{Checked(pickle::ReprDecimal(s), "invalid literal for int()"), ""};
    }
    case Arg::kLong1:
      return ArgValue{Checked(pickle::ReprLong(Bytes(Unsigned(1, "uint1"), "long1")),
                              "int too large to convert to str"),
                      ""};
    case Arg::kLong4: {
      auto n = static_cast<int32_t>(Unsigned(4, "int4"));
      if (n < 0) throw ArgError{"long4 byte count < 0: " + std::to_string(n)};
      return ArgValue{Checked(pickle::ReprLong(Bytes(static_cast<uint64_t>(n), "long4")),
                              "int too large to convert to str"),
                      ""};
    }
    case Arg::kStringnl: {
      std::string_view line = Line();
      if (line.empty() || (line[0] != '"' && line[0] != '\'') || line.size() < 2 ||
          line.back() != line[0])
        throw ArgError{"no string quotes around the STRING argument"};
      std::optional<std::string> decoded = pickle::DecodeQuotedString(line);
      if (!decoded) throw ArgError{"invalid escape in STRING argument"};
      if (!modern_) {
        for (char c : *decoded) {
          if (static_cast<uint8_t>(c) >= 0x80) throw ArgError{"'ascii' codec can't decode STRING"};
        }
      }
      return ArgValue{pickle::ReprLatin1(*decoded, modern_), ""};
    }
    case Arg::kStringnlNoescape:
      return ArgValue{Checked(pickle::ReprStr(NoescapeText()), "invalid UTF-8"), ""};
    case Arg::kStringnlNoescapePair: {
      std::string module = NoescapeText();
      std::string name = NoescapeText();
      return ArgValue{Checked(pickle::ReprStr(module + " " + name), "invalid UTF-8"), ""};
    }
    case Arg::kString1:
      return ArgValue{pickle::ReprLatin1(Bytes(Unsigned(1, "uint1"), "string1"), modern_), ""};
    case Arg::kString4: {
      auto n = static_cast<int32_t>(Unsigned(4, "int4"));
      if (n < 0) throw ArgError{"string4 byte count < 0: " + std::to_string(n)};
      return ArgValue{pickle::ReprLatin1(Bytes(static_cast<uint64_t>(n), "string4"), modern_), ""};
    }
    case Arg::kBytes1: return ArgValue{ReprBytes(Bytes(Unsigned(1, "uint1"), "bytes1")), ""};
    case Arg::kBytes4: return ArgValue{ReprBytes(Bytes(Unsigned(4, "uint4"), "bytes4")), ""};
    case Arg::kBytes8: return ArgValue{ReprBytes(Bytes(Unsigned(8, "uint8"), "bytes8")), ""};
    case Arg::kBytearray8:
      return ArgValue{"bytearray(" + ReprBytes(Bytes(Unsigned(8, "uint8"), "bytearray8")) + ")",
                      ""};
    case Arg::kUnicodestringnl: {
      std::optional<std::string> text = pickle::DecodeRawUnicodeEscape(Line());
      if (!text) throw ArgError{"malformed \\u escape"};
      return ArgValue{Checked(pickle::ReprStr(*text), "invalid UTF-8"), ""};
    }
    case Arg::kUnicodestring1:
      return ArgValue{Checked(pickle::ReprStr(Bytes(Unsigned(1, "uint1"), "unicodestring1")),
                              "'utf-8' codec can't decode unicodestring1"),
                      ""};
    case Arg::kUnicodestring4:
      return ArgValue{Checked(pickle::ReprStr(Bytes(Unsigned(4, "uint4"), "unicodestring4")),
                              "'utf-8' codec can't decode unicodestring4"),
                      ""};
    case Arg::kUnicodestring8:
      return ArgValue{Checked(pickle::ReprStr(Bytes(Unsigned(8, "uint8"), "unicodestring8")),
                              "'utf-8' codec can't decode unicodestring8"),
                      ""};
    case Arg::kFloatnl: {
      std::string text(Line());
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      while (end != nullptr && (*end == ' ' || *end == '\t' || *end == '\r')) ++end;
      if (text.empty() || end == text.c_str() || *end != '\0')
        throw ArgError{"could not convert string to float"};
      return ArgValue{pickle::ReprFloat(v), ""};
    }
    case Arg::kFloat8: {
      std::string_view b = Bytes(8, "float8");
      uint64_t bits = 0;
      for (char c : b) bits = (bits << 8) | static_cast<uint8_t>(c);
      double v;
      std::memcpy(&v, &bits, sizeof v);
      return ArgValue{pickle::ReprFloat(v), ""};
    }
  }
  return std::nullopt;
}

}  // namespace

PickleDisassembly DisassemblePickle(std::span<const char> bytes, const PickleDisOptions& options) {
  PickleDisassembly out;
  Reader reader(bytes, options);
  std::vector<bool> stack;  // true: a markobject
  std::vector<size_t> markstack;
  std::set<std::string> memo;
  int maxproto = -1;
  while (true) {
    if (reader.AtEnd()) {
      out.error = "pickle exhausted before seeing STOP";
      return out;
    }
    const size_t pos = reader.pos();
    const uint8_t code = reader.Code();
    const OpInfo* op = FindOp(code);
    if (op == nullptr) {
      char buf[80];
      std::snprintf(buf, sizeof buf, "at position %zu, opcode 0x%02x unknown", pos, code);
      out.error = buf;
      return out;
    }
    std::optional<ArgValue> arg;
    try {
      arg = reader.Read(op->arg);
    } catch (const ArgError& e) {
      out.error = e.why;
      return out;
    }
    char head[32];
    std::snprintf(head, sizeof head, "%5zu: ", pos);
    std::string code_text;
    if (code >= 0x80) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", code);
      code_text = hex;
    } else {
      code_text = std::string(1, static_cast<char>(code));
    }
    code_text.resize(std::max<size_t>(code_text.size(), 4), ' ');
    std::string line = head + code_text + " " + std::string(4 * markstack.size(), ' ') + op->name;
    maxproto = std::max<int>(maxproto, op->proto);
    size_t numtopop = op->before;
    size_t pushes = op->after;
    std::string markmsg;
    std::string errormsg;
    const std::string_view name = op->name;
    if (op->mark_index >= 0 || (name == "POP" && !stack.empty() && stack.back())) {
      if (!markstack.empty()) {
        markmsg = "(MARK at " + std::to_string(markstack.back()) + ")";
        markstack.pop_back();
        while (!stack.back()) stack.pop_back();
        stack.pop_back();
        numtopop = op->mark_index >= 0 ? static_cast<size_t>(op->mark_index) : 0;
      } else {
        errormsg = markmsg = "no MARK exists on stack";
      }
    }
    if (name == "PUT" || name == "BINPUT" || name == "LONG_BINPUT" || name == "MEMOIZE") {
      std::string key = arg ? arg->memo_key : std::to_string(memo.size());
      if (name == "MEMOIZE") markmsg = "(as " + key + ")";
      if (memo.contains(key))
        errormsg = "memo key " + (arg ? arg->repr : "None") + " already defined";
      else if (stack.empty())
        errormsg = "stack is empty -- can't store into memo";
      else if (stack.back())
        errormsg = "can't store markobject in the memo";
      else
        memo.insert(key);
    } else if (name == "GET" || name == "BINGET" || name == "LONG_BINGET") {
      if (!memo.contains(arg->memo_key))
        errormsg = "memo key " + arg->repr + " has never been stored into";
    }
    if (arg || !markmsg.empty()) {
      if (name.size() < 10) line += std::string(10 - name.size(), ' ');
      if (arg) line += " " + arg->repr;
      if (!markmsg.empty()) line += " " + markmsg;
    }
    out.text += line + "\n";
    if (!errormsg.empty()) {
      out.error = errormsg;
      return out;
    }
    if (stack.size() < numtopop) {
      out.error = "tries to pop " + std::to_string(numtopop) + " items from stack with only " +
                  std::to_string(stack.size()) + " items";
      return out;
    }
    stack.resize(stack.size() - numtopop);
    if (op->pushes_mark) {
      markstack.push_back(pos);
      stack.push_back(true);
    } else {
      stack.insert(stack.end(), pushes, false);
    }
    if (name == "STOP") break;
  }
  out.text += "highest protocol among opcodes = " + std::to_string(maxproto) + "\n";
  if (!stack.empty()) out.error = "stack not empty after STOP";
  return out;
}

}  // namespace tpkg
