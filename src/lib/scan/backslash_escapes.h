// backslash_escapes.h (private): the parts of backslash-escape decoding that
// Python source literals (py_literal.cc) and pickle protocol-0 STRING
// operands (pickle_text.cc, i.e. codecs.escape_decode) have in common.
// Everything else differs (\u, \U and \N; "\\\r\n"; \x and octal as bytes
// or as code points; how errors are reported), so each keeps its own loop.
//
//   if (auto c = tpkg::SimpleEscape(e)) out += *c;    // 'n' -> '\n'
//   int64_t v = tpkg::ReadHexDigits("\\x41", 2, 2);    // 0x41; -1 if short
//
// Thread safety: stateless; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tpkg {

// The character a one-letter escape stands for: \a \b \f \n \r \t \v \\ \' \".
inline std::optional<char> SimpleEscape(char e) {
  switch (e) {
    case 'a': return '\a';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'v': return '\v';
    case '\\':
    case '\'':
    case '"': return e;
    default: return std::nullopt;
  }
}

// Value of exactly `digits` hex digits at text[i]; -1 if they are not all there.
inline int64_t ReadHexDigits(std::string_view text, size_t i, int digits) {
  if (i + static_cast<size_t>(digits) > text.size()) return -1;
  int64_t v = 0;
  for (int k = 0; k < digits; ++k) {
    const char c = text[i + static_cast<size_t>(k)];
    const int lower = c | 0x20;
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (lower >= 'a' && lower <= 'f')
      d = lower - 'a' + 10;
    else
      return -1;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace tpkg
