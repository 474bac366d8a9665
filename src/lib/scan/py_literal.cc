// py_literal.cc: string literal decoding and f-string field scanning,
// following CPython 3.11's Parser/string_parser.c.
#include "scan/py_literal.h"

#include <algorithm>
#include <vector>

#include "scan/backslash_escapes.h"
#include "scan/py_tokenizer.h"
#include "base/utf8.h"

namespace tpkg::py {
namespace {

constexpr size_t kMaxFStringBrackets = 200;  // CPython MAXLEVEL

class FStringScanner {
 public:
  FStringScanner(const StringLiteral& s,
                 const std::function<void(std::string_view, uint32_t)>& on_field)
      : s_(s), body_(s.body), on_field_(on_field), line_(s.line) {}

  // fstring_parse: literal text and fields until the end (level 0) or the
  // '}' closing a format spec (level 1).
  void Scan(int level) {
    while (i_ < body_.size()) {
      if (!SkipLiteral(level)) continue;  // a doubled brace
      if (i_ >= body_.size() || body_[i_] == '}') return;
      ScanField(level);
    }
  }

 private:
  [[noreturn]] void Fail(const std::string& reason) { throw SyntaxError{LineAt(i_), reason}; }

  // Line of body_[offset]. Offsets only grow while scanning, so counting
  // from the last answer keeps this linear in the body.
  uint32_t LineAt(size_t offset) {
    offset = std::min(offset, body_.size());
    if (offset < line_offset_) line_offset_ = 0, line_ = s_.line;
    line_ +=
        static_cast<uint32_t>(std::count(body_.begin() + static_cast<ptrdiff_t>(line_offset_),
                                         body_.begin() + static_cast<ptrdiff_t>(offset), '\n'));
    line_offset_ = offset;
    return line_;
  }

  // fstring_find_literal. Returns false after a doubled brace (the caller
  // loops), true when stopped at a single brace or the end.
  bool SkipLiteral(int level) {
    while (i_ < body_.size()) {
      char ch = body_[i_++];
      if (!s_.raw && ch == '\\' && i_ < body_.size()) {
        ch = body_[i_++];
        if (ch == 'N') {  // "\N{name}": its braces are not a field
          if (i_ < body_.size() && body_[i_++] == '{')
            while (i_ < body_.size() && body_[i_++] != '}') {
            }
          continue;
        }
      }
      if (ch != '{' && ch != '}') continue;
      if (level == 0) {
        if (i_ < body_.size() && body_[i_] == ch) {
          ++i_;
          return false;
        }
        if (ch == '}') Fail("f-string: single '}' is not allowed");
      }
      --i_;
      return true;
    }
    return true;
  }

  // fstring_find_expr, at the '{' of a field.
  void ScanField(int level) {
    if (level >= 2) Fail("f-string: expressions nested too deeply");
    size_t start = ++i_;
    FindExpressionEnd();
    std::string_view expr = body_.substr(start, i_ - start);
    if (expr.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos)
      Fail("f-string: empty expression not allowed");
    on_field_(expr, LineAt(start));
    if (body_[i_] == '=') {
      ++i_;
      while (i_ < body_.size() &&
             std::string_view(" \t\n\r\f\v").find(body_[i_]) != std::string_view::npos)
        ++i_;
      ExpectMore();
    }
    if (body_[i_] == '!') {
      ++i_;
      ExpectMore();
      char conversion = body_[i_++];
      if (conversion != 's' && conversion != 'r' && conversion != 'a')
        Fail("f-string: invalid conversion character: expected 's', 'r', or 'a'");
      ExpectMore();
    }
    if (body_[i_] == ':') {
      ++i_;
      ExpectMore();
      Scan(level + 1);
    }
    if (i_ >= body_.size() || body_[i_] != '}') Fail("f-string: expecting '}'");
    ++i_;
  }

  void ExpectMore() {
    if (i_ >= body_.size()) Fail("f-string: expecting '}'");
  }

  // Moves i_ to the '!', ':', '}' or '=' ending the expression, skipping
  // nested strings and brackets.
  void FindExpressionEnd() {
    char quote = 0;
    bool triple = false;
    std::vector<char> brackets;
    for (; i_ < body_.size(); ++i_) {
      char ch = body_[i_];
      if (ch == '\\') Fail("f-string expression part cannot include a backslash");
      if (quote != 0) {
        if (ch == quote && !triple)
          quote = 0;
        else if (ch == quote && i_ + 2 < body_.size() && body_[i_ + 1] == ch && body_[i_ + 2] == ch)
          quote = 0, i_ += 2;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        triple = i_ + 2 < body_.size() && body_[i_ + 1] == ch && body_[i_ + 2] == ch;
        if (triple) i_ += 2;
        quote = ch;
      } else if (ch == '(' || ch == '[' || ch == '{') {
        if (brackets.size() >= kMaxFStringBrackets) Fail("f-string: too many nested parenthesis");
        brackets.push_back(ch);
      } else if (ch == '#') {
        Fail("f-string expression part cannot include '#'");
      } else if (brackets.empty() &&
                 std::string_view("!:}=<>").find(ch) != std::string_view::npos) {
        char next = i_ + 1 < body_.size() ? body_[i_ + 1] : 0;
        if (next == '=' && ch != ':' && ch != '}') {  // != == <= >=
          ++i_;
          continue;
        }
        if (ch == '<' || ch == '>') continue;
        return;
      } else if (ch == ')' || ch == ']' || ch == '}') {
        if (brackets.empty()) Fail(std::string("f-string: unmatched '") + ch + "'");
        char open = brackets.back();
        brackets.pop_back();
        if ((open == '(') != (ch == ')') || (open == '[') != (ch == ']'))
          Fail(std::string("f-string: closing parenthesis '") + ch +
               "' does not match opening parenthesis '" + open + "'");
      }
    }
    if (quote != 0) Fail("f-string: unterminated string");
    if (!brackets.empty()) Fail(std::string("f-string: unmatched '") + brackets.back() + "'");
    Fail("f-string: expecting '}'");
  }

  const StringLiteral& s_;
  std::string_view body_;
  const std::function<void(std::string_view, uint32_t)>& on_field_;
  size_t i_ = 0;
  size_t line_offset_ = 0;  // LineAt() cache
  uint32_t line_;
};

}  // namespace

StringLiteral SplitStringToken(std::string_view token, uint32_t line) {
  StringLiteral s;
  s.line = line;
  size_t p = 0;
  for (; p < token.size() && token[p] != '\'' && token[p] != '"'; ++p) {
    int lower = token[p] | 0x20;
    s.raw |= lower == 'r';
    s.bytes |= lower == 'b';
    s.fstring |= lower == 'f';
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

void ForEachFStringField(const StringLiteral& s,
                         const std::function<void(std::string_view, uint32_t)>& on_field) {
  FStringScanner(s, on_field).Scan(0);
}

}  // namespace tpkg::py
