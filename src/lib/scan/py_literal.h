// py_literal.h: Python str and bytes literal tokens: prefixes and decoding.
//
// Decoding is needed only for the arguments of `__import__(...)`. F-strings
// are not single tokens (py_tokenizer.h) and never come here.
//
// Thread safety: pure functions; a StringLiteral views the source it came
// from and is valid while that source is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tpkg::py {

struct StringLiteral {
  bool raw = false;
  bool bytes = false;
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

}  // namespace tpkg::py
