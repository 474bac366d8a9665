// py_literal.h: Python string literal tokens: prefixes, decoding, f-string fields.
//
// Decoding is needed only for the arguments of `__import__(...)`; f-string
// replacement fields are needed because ast.parse parses them as code (an
// `__import__` inside `f"{...}"` is seen by torch's visitor).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tpkg::py {

struct StringLiteral {
  bool raw = false;
  bool bytes = false;
  bool fstring = false;
  std::string_view body;  // between the quotes
  uint32_t line = 0;      // line of the opening quote
};

// Splits one STRING token (prefix, quotes, body).
StringLiteral SplitStringToken(std::string_view token, uint32_t line);

// The value of a str (not bytes, not f-string) literal as UTF-8, with
// escapes undone like CPython. Throws SyntaxError for escapes CPython
// refuses (truncated \x, \u, \U, out-of-range \U). nullopt for \N{name}
// escapes, whose value would need the Unicode name database.
std::optional<std::string> DecodeStringBody(const StringLiteral& s);

// Calls on_field(expression_text, line) for every replacement field of an
// f-string body, nested format-spec fields included, in source order.
// Throws SyntaxError for what CPython 3.11's f-string scanner refuses
// (single '}', backslash or '#' in an expression, empty expression, bad
// conversion, unmatched brackets, nesting deeper than two levels).
void ForEachFStringField(const StringLiteral& s,
                         const std::function<void(std::string_view, uint32_t)>& on_field);

}  // namespace tpkg::py
