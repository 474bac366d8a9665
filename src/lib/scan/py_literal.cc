// py_literal.cc: string literal decoding, following CPython's Parser/string_parser.c.
#include "scan/py_literal.h"

#include "base/utf8.h"
#include "scan/backslash_escapes.h"
#include "scan/py_tokenizer.h"

namespace tpkg::py {

StringLiteral SplitStringToken(std::string_view token, uint32_t line) {
  StringLiteral s;
  s.line = line;
  size_t p = 0;
  for (; p < token.size() && token[p] != '\'' && token[p] != '"'; ++p) {
    int lower = token[p] | 0x20;
    s.raw |= lower == 'r';
    s.bytes |= lower == 'b';
  }
  char q = token[p];
  bool triple = token.size() >= p + 6 && token[p + 1] == q && token[p + 2] == q;
  size_t quote_len = triple ? 3 : 1;
  s.body = token.substr(p + quote_len, token.size() - p - 2 * quote_len);
  return s;
}

// clang-format off
std::optional<std::string> DecodeStringBody(const StringLiteral& s) {
  if (s.raw) return std::string(s.body);
  std::string out;
  std::string_view b = s.body;
  auto fail = [&](const char* what) -> void { throw SyntaxError{s.line, std::string("(unicode error) ") + what}; };
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] != '\\' || i + 1 == b.size()) {
      out += b[i];
      continue;
    }
    char e = b[++i];
    if (auto simple = SimpleEscape(e)) {
      out += *simple;
      continue;
    }
    switch (e) {
      case '\n': break;
      case '\r': if (i + 1 < b.size() && b[i + 1] == '\n') ++i; break;
      case 'N': return std::nullopt;
      case 'x': case 'u': case 'U': {
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        int64_t cp = ReadHexDigits(b, i + 1, digits);
        if (cp < 0) fail("truncated escape");
        if (!AppendUtf8(static_cast<uint32_t>(cp), out)) fail("illegal Unicode character");
        i += static_cast<size_t>(digits);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < b.size() && b[i + 1] >= '0' && b[i + 1] <= '7'; ++k)
            v = v * 8 + static_cast<uint32_t>(b[++i] - '0');
          AppendUtf8(v, out);
        } else {
          out += '\\';  // unknown escapes stay (a DeprecationWarning in CPython)
          out += e;
        }
    }
  }
  return out;
}
// clang-format on

}  // namespace tpkg::py
