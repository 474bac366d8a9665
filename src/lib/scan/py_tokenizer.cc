// py_tokenizer.cc: Python 3.13 tokenizer (see py_tokenizer.h); f-strings are in
// py_tokenize_fstring.cc.
#include "scan/py_tokenizer.h"

#include <array>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <utility>

#include "scan/py_name_bytes.h"

namespace tpkg::py {
namespace {

constexpr size_t kMaxBracketDepth = 200;  // CPython MAXLEVEL
constexpr size_t kMaxIndentLevels = 100;  // CPython MAXINDENT
constexpr int kTabSize = 8;

// IsNameByte by table: it runs for every byte of every name.
constexpr std::array<bool, 256> kIdentChar = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = IsNameByte(static_cast<unsigned char>(c));
  return table;
}();
static_assert(kIdentChar['a'] && kIdentChar['Z'] && kIdentChar['_'] && kIdentChar['7'] &&
              kIdentChar[0x80] && kIdentChar[0xff] && !kIdentChar[' '] && !kIdentChar['.'] &&
              !kIdentChar['\''] && !kIdentChar[0]);
bool IsDigit(int c) { return c >= '0' && c <= '9'; }

// The bytes that end a run of a string's plain characters: its quote, a
// backslash or a line end. By table, one per quote: this runs for every
// byte of every string literal (docstrings are a large part of a module).
constexpr std::array<bool, 256> StringStops(char quote) {
  std::array<bool, 256> table{};
  for (char c : {quote, '\\', '\n', '\r'}) table[static_cast<unsigned char>(c)] = true;
  return table;
}
constexpr std::array<bool, 256> kDoubleQuotedStops = StringStops('"');
constexpr std::array<bool, 256> kSingleQuotedStops = StringStops('\'');

bool IsDigitOfBase(int c, int base) {
  if (base == 16) return IsDigit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
  if (base == 8) return c >= '0' && c <= '7';
  if (base == 2) return c == '0' || c == '1';
  return IsDigit(c);
}

char ClosingFor(char open) { return open == '(' ? ')' : open == '[' ? ']' : '}'; }

// An operator token: its length and symbol.
struct OpChoice {
  size_t length;
  Sym sym;
};

Sym MatchKeyword(std::string_view n,
                 std::initializer_list<std::pair<std::string_view, Sym>> candidates) {
  for (const auto& [text, sym] : candidates)
    if (text == n) return sym;
  return Sym::kNone;
}

}  // namespace

// Dispatch on the first letter: this runs for every NAME token.
// clang-format off
Sym KeywordSym(std::string_view n) {
  if (n.size() < 2 || n.size() > 8) return Sym::kNone;
  switch (n[0]) {
    case 'F': return MatchKeyword(n, {{"False", Sym::kFalse}});
    case 'N': return MatchKeyword(n, {{"None", Sym::kNoneKw}});
    case 'T': return MatchKeyword(n, {{"True", Sym::kTrue}});
    case 'a':
      return MatchKeyword(n, {{"and", Sym::kAnd}, {"as", Sym::kAs}, {"assert", Sym::kAssert},
                              {"async", Sym::kAsync}, {"await", Sym::kAwait}});
    case 'b': return MatchKeyword(n, {{"break", Sym::kBreak}});
    case 'c': return MatchKeyword(n, {{"class", Sym::kClass}, {"continue", Sym::kContinue}});
    case 'd': return MatchKeyword(n, {{"def", Sym::kDef}, {"del", Sym::kDel}});
    case 'e': return MatchKeyword(n, {{"elif", Sym::kElif}, {"else", Sym::kElse}, {"except", Sym::kExcept}});
    case 'f': return MatchKeyword(n, {{"finally", Sym::kFinally}, {"for", Sym::kFor}, {"from", Sym::kFrom}});
    case 'g': return MatchKeyword(n, {{"global", Sym::kGlobal}});
    case 'i':
      return MatchKeyword(n, {{"if", Sym::kIf}, {"import", Sym::kImport}, {"in", Sym::kIn}, {"is", Sym::kIs}});
    case 'l': return MatchKeyword(n, {{"lambda", Sym::kLambda}});
    case 'n': return MatchKeyword(n, {{"nonlocal", Sym::kNonlocal}, {"not", Sym::kNot}});
    case 'o': return MatchKeyword(n, {{"or", Sym::kOr}});
    case 'p': return MatchKeyword(n, {{"pass", Sym::kPass}});
    case 'r': return MatchKeyword(n, {{"raise", Sym::kRaise}, {"return", Sym::kReturn}});
    case 't': return MatchKeyword(n, {{"try", Sym::kTry}});
    case 'w': return MatchKeyword(n, {{"while", Sym::kWhile}, {"with", Sym::kWith}});
    case 'y': return MatchKeyword(n, {{"yield", Sym::kYield}});
    default: return Sym::kNone;
  }
}
// clang-format on

Tokenizer::Tokenizer(std::string_view source, uint32_t first_line, bool in_brackets)
    : src_(source), line_(first_line), implicit_brackets_(in_brackets) {
  if (src_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 BOM
  if (in_brackets) at_line_start_ = false;
}

void Tokenizer::Fail(const std::string& reason) const { FailAt(line_, reason); }

void Tokenizer::FailAt(uint32_t line, const std::string& reason) const {
  throw SyntaxError{line, reason};
}

bool Tokenizer::AtNewline() const { return Peek() == '\n' || Peek() == '\r'; }

// "\r\n", "\r" and "\n" all end a line (ast.parse translates them).
void Tokenizer::SkipNewline() {
  pos_ += (Peek() == '\r' && Peek(1) == '\n') ? 2 : 1;
  ++line_;
}

Tokenizer::State Tokenizer::Save() const {
  return State{pos_,  line_,     at_line_start_, emitted_token_on_line_, pending_indents_,
               done_, brackets_, indents_,       alt_indents_,           fstrings_};
}

void Tokenizer::Restore(const State& s) {
  pos_ = s.pos;
  line_ = s.line;
  at_line_start_ = s.at_line_start;
  emitted_token_on_line_ = s.emitted_token_on_line;
  pending_indents_ = s.pending_indents;
  done_ = s.done;
  brackets_ = s.brackets;
  indents_ = s.indents;
  alt_indents_ = s.alt_indents;
  fstrings_ = s.fstrings;
}

Token Tokenizer::Next() {
  for (;;) {
    token_line_ = line_;
    if (pending_indents_ != 0) return IndentToken();
    if (done_) return Make(TokenKind::kEndMarker, pos_);
    if (!fstrings_.empty() && fstrings_.back().in_literal) {
      if (std::optional<Token> t = NextInFString()) return *t;
      continue;  // a replacement field starts: its code is tokenized as usual
    }
    if (at_line_start_ && !StartLine()) continue;
    SkipSpacesAndComments();
    token_line_ = line_;
    if (pos_ >= src_.size()) return EndOfInput();
    int c = Peek();
    if (c == '\n' || c == '\r') {
      const size_t start = pos_;
      // Built here rather than returned by EndOfLine() in an optional: one
      // copy less of every NEWLINE token.
      if (EndOfLine())
        return Token{TokenKind::kNewline, Sym::kNone, src_.substr(start, 0), token_line_};
      continue;
    }
    if (c == '\\') {
      SkipLineContinuation();
      continue;
    }
    emitted_token_on_line_ = true;
    if (IsNameStartByte(static_cast<unsigned char>(c))) return ReadName();
    if (IsDigit(c) || (c == '.' && IsDigit(Peek(1)))) return ReadNumber();
    if (c == '"' || c == '\'') return ReadString(pos_);
    return ReadOperator();
  }
}

Token Tokenizer::IndentToken() {
  bool indent = pending_indents_ > 0;
  pending_indents_ += indent ? -1 : 1;
  return Make(indent ? TokenKind::kIndent : TokenKind::kDedent, pos_);
}

// False when the caller must loop: a blank line, or INDENT/DEDENTs to emit.
bool Tokenizer::StartLine() {
  at_line_start_ = false;
  int col = 0, alt_col = 0;
  if (!MeasureIndentation(col, alt_col)) {
    at_line_start_ = true;  // blank or comment-only line: no tokens
    return false;
  }
  if (pos_ < src_.size()) ApplyIndentation(col, alt_col);  // at EOF, EndOfInput dedents
  return pending_indents_ == 0;
}

// Consumes a line end; true when it ends a logical line with tokens on it,
// which gives a NEWLINE token (never inside brackets or after a blank line).
bool Tokenizer::EndOfLine() {
  bool logical_end = brackets_.empty() && !implicit_brackets_;
  SkipNewline();
  if (!logical_end) return false;
  at_line_start_ = true;
  if (!emitted_token_on_line_) return false;
  emitted_token_on_line_ = false;
  return true;
}

void Tokenizer::SkipLineContinuation() {
  ++pos_;
  if (!AtNewline()) Fail("unexpected character after line continuation character");
  SkipNewline();
  if (pos_ >= src_.size()) Fail("unexpected EOF while parsing");
}

// Columns of a new line's indentation (CPython tok_get, "atbol"), with tabs
// to 8 (col) and to 1 (alt_col) for the consistency check. Returns false
// for a blank or comment-only line, which it consumes.
bool Tokenizer::MeasureIndentation(int& col, int& alt_col) {
  // Indentation cannot be split with backslashes: the first one preceded by
  // whitespace fixes the level (CPython's cont_line_col; 0 means unset).
  int continuation_col = 0;
  for (;;) {
    // Runs of spaces first, counted on locals (SkipWhile): most of a
    // module's indentation, a quarter of its bytes.
    const size_t run_start = pos_;
    SkipWhile([](char c) { return c == ' '; });
    const int run = static_cast<int>(pos_ - run_start);
    col += run;
    alt_col += run;
    const int c = Peek();
    if (c == '\t') {
      col = (col / kTabSize + 1) * kTabSize;
      ++alt_col;
    } else if (c == '\f') {
      col = alt_col = 0;
    } else if (c == '\\') {
      continuation_col = continuation_col != 0 ? continuation_col : col;
      SkipLineContinuation();
      continue;
    } else {
      break;
    }
    ++pos_;
  }
  if (Peek() == '#' || AtNewline()) {
    SkipSpacesAndComments();
    if (AtNewline()) SkipNewline();
    return false;
  }
  if (continuation_col != 0) col = alt_col = continuation_col;
  return true;
}

void Tokenizer::ApplyIndentation(int col, int alt_col) {
  constexpr const char* kTabError = "inconsistent use of tabs and spaces in indentation";
  if (col == indents_.back()) {
    if (alt_col != alt_indents_.back()) Fail(kTabError);
  } else if (col > indents_.back()) {
    if (indents_.size() >= kMaxIndentLevels) Fail("too many levels of indentation");
    if (alt_col <= alt_indents_.back()) Fail(kTabError);
    indents_.push_back(col);
    alt_indents_.push_back(alt_col);
    pending_indents_ = 1;
  } else {
    while (indents_.size() > 1 && col < indents_.back()) {
      indents_.pop_back();
      alt_indents_.pop_back();
      --pending_indents_;
    }
    if (col != indents_.back()) Fail("unindent does not match any outer indentation level");
    if (alt_col != alt_indents_.back()) Fail(kTabError);
  }
}

void Tokenizer::SkipSpacesAndComments() {
  for (;;) {
    SkipWhile([](char c) { return c == ' ' || c == '\t' || c == '\f'; });
    if (Peek() != '#') return;
    SkipComment();
  }
}

// To the line end, with memchr: comments are long runs of bytes. Out of
// line: SkipSpacesAndComments runs before every token, most without one.
void Tokenizer::SkipComment() {
  const char* const begin = src_.data() + pos_;
  size_t length = src_.size() - pos_;
  if (const void* lf = std::memchr(begin, '\n', length))
    length = static_cast<size_t>(static_cast<const char*>(lf) - begin);
  if (const void* cr = std::memchr(begin, '\r', length))
    length = static_cast<size_t>(static_cast<const char*>(cr) - begin);
  pos_ += length;
}

Token Tokenizer::EndOfInput() {
  if (!brackets_.empty() && !implicit_brackets_)
    FailAt(brackets_.back().second,
           std::string("'") + brackets_.back().first + "' was never closed");
  if (emitted_token_on_line_ && !implicit_brackets_) {
    emitted_token_on_line_ = false;
    return Make(TokenKind::kNewline, pos_);
  }
  if (!brackets_.empty()) Fail(std::string("'") + brackets_.back().first + "' was never closed");
  pending_indents_ = -static_cast<int>(indents_.size() - 1);
  indents_.resize(1);
  alt_indents_.resize(1);
  done_ = true;
  return Next();
}

Token Tokenizer::ReadName() {
  size_t start = pos_;
  // String prefixes, in the combinations CPython accepts (no "ur").
  bool saw_b = false, saw_r = false, saw_u = false, saw_f = false;
  for (;;) {
    int lower = Peek() | 0x20;
    if (!(saw_b || saw_u || saw_f) && lower == 'b')
      saw_b = true;
    else if (!(saw_b || saw_u || saw_r || saw_f) && lower == 'u')
      saw_u = true;
    else if (!(saw_r || saw_u) && lower == 'r')
      saw_r = true;
    else if (!(saw_f || saw_b || saw_u) && lower == 'f')
      saw_f = true;
    else
      break;
    ++pos_;
    if (Peek() == '"' || Peek() == '\'') return saw_f ? StartFString(start) : ReadString(start);
  }
  SkipWhile([](char c) { return kIdentChar[static_cast<unsigned char>(c)]; });
  const std::string_view text = src_.substr(start, pos_ - start);
  return Token{TokenKind::kName, KeywordSym(text), text, token_line_};
}

Token Tokenizer::ReadNumber() {
  size_t start = pos_;
  int prefix = Peek(1) | 0x20;
  if (Peek() == '0' && (prefix == 'x' || prefix == 'o' || prefix == 'b')) {
    pos_ += 2;
    if (Peek() == '_') ++pos_;
    ReadDigits(prefix == 'x' ? 16 : prefix == 'o' ? 8 : 2, true);
  } else {
    ReadDecimalNumber();
  }
  CheckNumberEnd(start);
  return Make(TokenKind::kNumber, start);
}

// digits ["." digits] [exponent] ["j"], refusing "0777"-style integers.
void Tokenizer::ReadDecimalNumber() {
  size_t start = pos_;
  if (Peek() != '.') ReadDigits(10, true);
  bool is_integer = true;
  if (Peek() == '.') {
    ++pos_;
    is_integer = false;
    ReadDigits(10, false);
  }
  int sign_or_digit = Peek(1);
  if ((Peek() | 0x20) == 'e' &&
      (IsDigit(sign_or_digit) ||
       ((sign_or_digit == '+' || sign_or_digit == '-') && IsDigit(Peek(2))))) {
    pos_ += IsDigit(sign_or_digit) ? 1 : 2;
    is_integer = false;
    ReadDigits(10, true);
  }
  if ((Peek() | 0x20) == 'j') {
    ++pos_;
    is_integer = false;
  }
  std::string_view text = src_.substr(start, pos_ - start);
  if (is_integer && text.size() > 1 && text[0] == '0' &&
      text.find_first_not_of("0_") != std::string_view::npos)
    Fail("leading zeros in decimal integer literals are not permitted; use an 0o prefix");
}

// Digits of `base` with single underscores between them.
void Tokenizer::ReadDigits(int base, bool required) {
  bool any = false;
  while (IsDigitOfBase(Peek(), base) || (Peek() == '_' && any)) {
    if (Peek() == '_' && !IsDigitOfBase(Peek(1), base)) Fail("invalid decimal literal");
    ++pos_;
    any = true;
  }
  if (required && !any) Fail("invalid number literal");
}

// CPython's verify_end_of_number: a number may touch a following keyword
// ("1if x else 2") but not another identifier.
void Tokenizer::CheckNumberEnd(size_t /*start*/) {
  if (!IsNameByte(static_cast<unsigned char>(Peek() < 0 ? ' ' : Peek()))) return;
  std::string_view rest = src_.substr(pos_);
  for (std::string_view kw : {"and", "else", "for", "if", "in", "is", "not", "or"})
    if (rest.substr(0, kw.size()) == kw) return;
  Fail("invalid decimal literal");
}

Token Tokenizer::ReadString(size_t start) {
  const char quote = src_[pos_];
  const uint32_t start_line = line_;
  const bool triple = Peek(1) == quote && Peek(2) == quote;
  pos_ += triple ? 3 : 1;
  for (;;) {
    if (pos_ >= src_.size()) {
      FailAt(start_line, std::string(triple ? "unterminated triple-quoted string literal"
                                            : "unterminated string literal") +
                             " (detected at line " + std::to_string(line_) + ")");
    }
    // A run of plain characters: not the quote, a backslash or a line end.
    const std::array<bool, 256>& stops = quote == '"' ? kDoubleQuotedStops : kSingleQuotedStops;
    SkipWhile([&stops](char c) { return !stops[static_cast<unsigned char>(c)]; });
    if (pos_ >= src_.size()) continue;  // unterminated: reported above
    int c = Peek();
    if (c == '\\' && pos_ + 1 < src_.size()) {
      ++pos_;
      if (AtNewline())
        SkipNewline();
      else
        ++pos_;
    } else if (c == quote && (!triple || (Peek(1) == quote && Peek(2) == quote))) {
      pos_ += triple ? 3 : 1;
      break;
    } else if (c == '\n' || c == '\r') {
      if (!triple)
        FailAt(start_line,
               "unterminated string literal (detected at line " + std::to_string(line_) + ")");
      SkipNewline();
    } else {
      ++pos_;
    }
  }
  Token t = Make(TokenKind::kString, start);
  t.line = start_line;
  return t;
}

// CPython's PyToken_OneChar/TwoChars/ThreeChars as one switch.
// clang-format off
Token Tokenizer::ReadOperator() {
  const size_t start = pos_;
  const int c = Peek(), c1 = Peek(1), c2 = Peek(2);
  // `op=` forms are augmented assignments, except where noted.
  auto with_equal = [&](Sym plain) { return c1 == '=' ? OpChoice{2, Sym::kAugAssign} : OpChoice{1, plain}; };
  OpChoice op{1, Sym::kNone};
  switch (c) {
    case '(': case '[': case '{': OpenBracket(static_cast<char>(c)); op.sym = c == '(' ? Sym::kLParen : c == '[' ? Sym::kLSquare : Sym::kLBrace; break;
    case ')': case ']': case '}': CloseBracket(static_cast<char>(c)); op.sym = c == ')' ? Sym::kRParen : c == ']' ? Sym::kRSquare : Sym::kRBrace; break;
    case ':':
      if (ColonStartsFormatSpec()) op.sym = Sym::kColon;  // even before '=': f'{x:=^9}'
      else op = c1 == '=' ? OpChoice{2, Sym::kColonEqual} : OpChoice{1, Sym::kColon};
      break;
    case ',': op.sym = Sym::kComma; break;
    case ';': op.sym = Sym::kSemi; break;
    case '~': op.sym = Sym::kTilde; break;
    case '.': op = c1 == '.' && c2 == '.' ? OpChoice{3, Sym::kEllipsis} : OpChoice{1, Sym::kDot}; break;
    case '+': op = with_equal(Sym::kPlus); break;
    case '-': op = c1 == '>' ? OpChoice{2, Sym::kArrow} : with_equal(Sym::kMinus); break;
    case '@': op = with_equal(Sym::kAt); break;
    case '%': case '&': case '|': case '^': op = with_equal(Sym::kBinary); break;
    case '*':
      if (c1 == '*') op = c2 == '=' ? OpChoice{3, Sym::kAugAssign} : OpChoice{2, Sym::kDoubleStar};
      else op = with_equal(Sym::kStar);
      break;
    case '/':
      if (c1 == '/') op = c2 == '=' ? OpChoice{3, Sym::kAugAssign} : OpChoice{2, Sym::kBinary};
      else op = with_equal(Sym::kBinary);
      break;
    case '<': case '>':
      if (c1 == c) op = c2 == '=' ? OpChoice{3, Sym::kAugAssign} : OpChoice{2, Sym::kBinary};  // << >>
      else op = c1 == '=' ? OpChoice{2, Sym::kCompare} : OpChoice{1, Sym::kCompare};
      break;
    case '=': op = c1 == '=' ? OpChoice{2, Sym::kCompare} : OpChoice{1, Sym::kEqual}; break;
    case '!': op = c1 == '=' ? OpChoice{2, Sym::kCompare} : OpChoice{1, Sym::kExclamation}; break;
    default:
      break;
  }
  if (op.sym == Sym::kNone) {
    if (c == 0) Fail("source code cannot contain null bytes");
    Fail(c >= 0x20 && c < 0x7f ? std::string("invalid character '") + static_cast<char>(c) + "'"
                               : "invalid non-printable character");
  }
  pos_ += op.length;
  return Make(TokenKind::kOp, start, op.sym);
}
// clang-format on

void Tokenizer::OpenBracket(char open) {
  if (brackets_.size() >= kMaxBracketDepth) Fail("too many nested parentheses");
  brackets_.emplace_back(open, line_);
  if (!fstrings_.empty()) ++fstrings_.back().bracket_depth;
}

// Inside an f-string, the '}' that closes a replacement field returns to its
// literal text (or to the format spec the field is nested in).
void Tokenizer::CloseBracket(char close) {
  FStringState* f = fstrings_.empty() ? nullptr : &fstrings_.back();
  if (f != nullptr && close == '}' && f->bracket_depth == 0)
    Fail("f-string: single '}' is not allowed");
  if (brackets_.empty()) Fail(std::string("unmatched '") + close + "'");
  char open = brackets_.back().first;
  if (ClosingFor(open) != close) {
    if (f != nullptr && open == '{' && f->bracket_depth - 1 == f->field_depth)
      Fail(std::string("f-string: unmatched '") + close + "'");
    Fail(std::string("closing parenthesis '") + close + "' does not match opening parenthesis '" +
         open + "'");
  }
  brackets_.pop_back();
  if (f == nullptr) return;
  if (--f->bracket_depth < 0) Fail(std::string("f-string: unmatched '") + close + "'");
  if (close == '}' && f->bracket_depth == f->field_depth) {
    --f->field_depth;
    f->in_literal = true;
    f->in_format_spec = false;
  }
}

}  // namespace tpkg::py
