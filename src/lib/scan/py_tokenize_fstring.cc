// py_tokenize_fstring.cc: the f-string part of the tokenizer (see py_tokenizer.h),
// following CPython 3.13's Parser/lexer.c (tok_get_fstring_mode and the
// f-string cases of tok_get_normal_mode).
//
// An f-string alternates between two modes. In literal mode the tokenizer
// reads text up to a replacement field, the closing quote, or (in a format
// spec) the '}' ending the spec, and returns it as FSTRING_MIDDLE. A '{'
// that starts a field switches to code mode, where tokens are read as
// everywhere else; FStringState counts the brackets opened in the
// f-string, so that the '}' closing the field, or a ':' at the field's own
// bracket level (a format spec), switches back to literal mode.
#include <string>

#include "scan/py_tokenizer.h"

namespace tpkg::py {
namespace {

// CPython's MAXFSTRINGLEVEL (its mode stack counts the code around the
// outermost f-string too, so 149 f-strings nest) and MAX_EXPR_NESTING. The
// first also bounds the parser's recursion through nested f-strings.
constexpr size_t kMaxNestedFStrings = 149;
constexpr int kMaxFieldNesting = 3;

}  // namespace

Token Tokenizer::StartFString(size_t start) {
  if (fstrings_.size() >= kMaxNestedFStrings) Fail("too many nested f-strings");
  FStringState f;
  f.quote = src_[pos_];
  f.quote_size = Peek(1) == f.quote && Peek(2) == f.quote ? 3 : 1;
  f.start_line = line_;
  for (size_t i = start; i < pos_; ++i) f.raw |= (src_[i] | 0x20) == 'r';
  pos_ += f.quote_size;
  fstrings_.push_back(f);
  return Make(TokenKind::kFStringStart, start);
}

bool Tokenizer::AtClosingQuote(const FStringState& f) const {
  for (size_t i = 0; i < f.quote_size; ++i)
    if (Peek(i) != f.quote) return false;
  return true;
}

void Tokenizer::EnterField(FStringState& f) {
  if (++f.field_depth >= kMaxFieldNesting) Fail("f-string: expressions nested too deeply");
  f.in_literal = false;
  f.in_format_spec = false;
}

void Tokenizer::FailUnterminatedFString(const FStringState& f) const {
  FailAt(f.start_line, std::string(f.quote_size == 3 ? "unterminated triple-quoted f-string literal"
                                                     : "unterminated f-string literal") +
                           " (detected at line " + std::to_string(line_) + ")");
}

// A ':' at the bracket level of the innermost replacement field starts its
// format spec (CPython checks this before looking for ':=').
bool Tokenizer::ColonStartsFormatSpec() {
  if (fstrings_.empty()) return false;
  FStringState& f = fstrings_.back();
  if (f.field_depth < 0 || f.bracket_depth - 1 != f.field_depth) return false;
  f.in_literal = true;
  f.in_format_spec = true;
  return true;
}

// Literal mode: FSTRING_END, FSTRING_MIDDLE, or nullopt when a replacement
// field starts (its '{' is then read in code mode).
std::optional<Token> Tokenizer::NextInFString() {
  FStringState& f = fstrings_.back();
  const size_t start = pos_;
  if (AtClosingQuote(f)) {
    pos_ += f.quote_size;
    fstrings_.pop_back();
    return Make(TokenKind::kFStringEnd, start);
  }
  if (Peek() == '{' && Peek(1) != '{') {  // nothing literal before the field
    EnterField(f);
    return std::nullopt;
  }
  const bool in_format_spec = f.in_format_spec;
  bool named_escape = false;  // inside "\N{...}", whose '}' is text
  for (;;) {
    if (pos_ >= src_.size()) FailUnterminatedFString(f);
    const int c = Peek();
    if (c == f.quote && AtClosingQuote(f)) return Make(TokenKind::kFStringMiddle, start);
    if (c == '\n' || c == '\r') {
      if (f.quote_size == 1) {
        if (in_format_spec)
          Fail(
              "f-string: newlines are not allowed in format specifiers for single quoted "
              "f-strings");
        FailUnterminatedFString(f);
      }
      SkipNewline();
    } else if (c == '{') {
      if (Peek(1) != '{' || in_format_spec) {
        Token middle = Make(TokenKind::kFStringMiddle, start);
        EnterField(f);
        return middle;
      }
      pos_ += 2;  // "{{" is one literal '{'
      return Make(TokenKind::kFStringMiddle, start);
    } else if (c == '}') {
      if (named_escape) {
        ++pos_;
        return Make(TokenKind::kFStringMiddle, start);
      }
      if (Peek(1) == '}' && !in_format_spec && f.bracket_depth == 0) {
        pos_ += 2;  // "}}" is one literal '}'
        return Make(TokenKind::kFStringMiddle, start);
      }
      // The '}' closing a format spec, or a single '}' (an error in code mode).
      f.in_literal = false;
      return Make(TokenKind::kFStringMiddle, start);
    } else if (c == '\\') {
      ++pos_;
      const int next = Peek();
      if (next == '\n' || next == '\r') {
        SkipNewline();
      } else if (next == '{' || next == '}') {
        // The brace is not escaped: the loop reads it next.
      } else if (!f.raw && next == 'N') {
        ++pos_;
        if (Peek() == '{') {
          ++pos_;
          named_escape = true;
        }
      } else if (next >= 0) {
        ++pos_;
      }
    } else {
      ++pos_;
    }
  }
}

}  // namespace tpkg::py
