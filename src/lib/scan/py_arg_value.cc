// py_arg_value.cc: the literal values torch's visit_Call reads from the
// arguments of an `__import__(...)` call (`node.value`, `node.elts`).
#include <cstdint>
#include <cstdlib>

#include "scan/py_literal.h"
#include "scan/py_parser.h"

namespace tpkg::py::internal {
namespace {

// The value of adjacent str tokens (text spans them all); nullopt when an
// escape cannot be decoded here (\N{name}).
std::optional<std::string> DecodeStrings(const Expr& e) {
  Tokenizer tokens(e.text, e.line, /*in_brackets=*/true);
  std::string out;
  for (Token t = tokens.Next(); t.kind == TokenKind::kString; t = tokens.Next()) {
    std::optional<std::string> piece = DecodeStringBody(SplitStringToken(t.text, t.line));
    if (!piece) return std::nullopt;
    out += *piece;
  }
  return out;
}

bool StringsAreEmpty(const Expr& e) {
  Tokenizer tokens(e.text, e.line, /*in_brackets=*/true);
  for (Token t = tokens.Next(); t.kind == TokenKind::kString; t = tokens.Next())
    if (!SplitStringToken(t.text, t.line).body.empty()) return false;
  return true;
}

// int (saturated to int64), float or complex, as torch's code would see it.
ArgValue NumberValue(std::string_view token) {
  std::string text;
  for (char c : token)
    if (c != '_') text += c;
  ArgValue v;
  char last = static_cast<char>(text.back() | 0x20);
  int prefix = text.size() > 1 && text[0] == '0' ? text[1] | 0x20 : 0;
  bool is_int = prefix == 'x' || prefix == 'o' || prefix == 'b' ||
                (last != 'j' && text.find_first_of(".eE") == std::string::npos);
  if (!is_int) {
    double value = std::strtod(text.c_str(), nullptr);
    v.kind = last == 'j' ? ArgValue::Kind::kOther : ArgValue::Kind::kFloat;
    v.truthy = value != 0;
    v.number = value > 0 ? 1 : 0;
    return v;
  }
  int base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 10;
  v.kind = ArgValue::Kind::kInt;
  for (char c : std::string_view(text).substr(base == 10 ? 0 : 2)) {
    int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (v.number > (INT64_MAX - d) / base) {
      v.number = INT64_MAX;
      break;
    }
    v.number = v.number * base + d;
  }
  v.truthy = v.number != 0;
  return v;
}

}  // namespace

// What `node.value` gives torch for an argument node.
ArgValue ArgValueOf(const Expr& e) {
  ArgValue v;
  switch (e.node) {
    case Node::kStr:
      if (std::optional<std::string> text = DecodeStrings(e)) {
        v.kind = ArgValue::Kind::kStr;
        v.text = std::move(*text);
      } else {
        v.kind = ArgValue::Kind::kOther;
      }
      return v;
    case Node::kBytes:
      v.kind = ArgValue::Kind::kOther;
      v.truthy = !StringsAreEmpty(e);
      return v;
    case Node::kNumber: return NumberValue(e.text);
    case Node::kTrue:
    case Node::kFalse:
      v.kind = ArgValue::Kind::kInt;
      v.number = e.node == Node::kTrue ? 1 : 0;
      v.truthy = e.node == Node::kTrue;
      return v;
    case Node::kNone:
    case Node::kNoneValue:
      v.kind = ArgValue::Kind::kOther;
      v.truthy = false;
      return v;
    case Node::kEllipsis:
    case Node::kAttributeOrSubscript:
    case Node::kAstValue: v.kind = ArgValue::Kind::kOther; return v;
    default: return v;  // kMissing
  }
}

}  // namespace tpkg::py::internal
