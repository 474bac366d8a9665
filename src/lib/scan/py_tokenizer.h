// py_tokenizer.h: a Python 3.13 tokenizer (private to libtpkg).
//
// Follows CPython's Parser/lexer.c for everything that decides where
// tokens and logical lines start and end: string prefixes and quotes
// (single, triple, every r/b/u/f combination), backslash continuations,
// comments, bracket nesting (newlines inside brackets are ignored), and
// INDENT/DEDENT with CPython's tab consistency check. It is written by hand
// because no Debian library tokenizes Python from C++ and embedding the
// interpreter is what the scanner exists to avoid.
//
// F-strings are tokenized as Python 3.12+ does (PEP 701), not as one STRING
// token: FSTRING_START, then literal text (FSTRING_MIDDLE) and the ordinary
// tokens of each replacement field ('{' ... '}', with '!' and ':' for the
// conversion and format spec), then FSTRING_END. A field is code like any
// other (nested quotes of any kind, nested f-strings, comments, backslashes,
// newlines), so the end of an f-string is known only by tokenizing its
// fields; the tokenizer keeps one FStringState per f-string being read.
//
//   Tokenizer t(source);
//   for (Token tok = t.Next(); tok.kind != TokenKind::kEndMarker; tok = t.Next()) ...
//
// Errors throw py::SyntaxError (line + reason), declared below.
// Validation is lighter than CPython's where it does not affect where
// tokens end: identifier characters are "ASCII letters/digits/_ or any
// non-ASCII byte", and numeric literals are checked for shape only.
//
// Thread safety: a Tokenizer is a cursor owned by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tpkg::py {

// Raised by the tokenizer and parser; import_scan.cc turns it into
// Error(kInvalidArgument, "line N: reason").
struct SyntaxError {
  uint32_t line;
  std::string reason;
};

enum class TokenKind : uint8_t {
  kName,
  kNumber,
  kString,         // a whole str or bytes literal (never an f-string)
  kFStringStart,   // f-string prefix and opening quote(s)
  kFStringMiddle,  // literal text of an f-string or of a format spec (may be empty)
  kFStringEnd,     // closing quote(s)
  kOp,
  kNewline,
  kIndent,
  kDedent,
  kEndMarker
};

// Operators and keywords, so the parser compares small integers, not text.
// clang-format off
enum class Sym : uint8_t {
  kNone,  // identifiers, numbers, strings, layout tokens
  // Brackets and punctuation.
  kLParen, kRParen, kLSquare, kRSquare, kLBrace, kRBrace,
  kColon, kComma, kSemi, kDot, kEllipsis, kAt, kArrow, kColonEqual, kEqual, kAugAssign,
  kExclamation /* '!' alone: f-string conversions */,
  // Expression operators.
  kPlus, kMinus, kStar, kDoubleStar, kTilde, kBinary /* | ^ & << >> / // % */,
  kCompare /* < > == != <= >= */,
  // Keywords.
  kFalse, kNoneKw, kTrue, kAnd, kAs, kAssert, kAsync, kAwait, kBreak, kClass, kContinue, kDef,
  kDel, kElif, kElse, kExcept, kFinally, kFor, kFrom, kGlobal, kIf, kImport, kIn, kIs, kLambda,
  kNonlocal, kNot, kOr, kPass, kRaise, kReturn, kTry, kWhile, kWith, kYield,
};
// clang-format on

struct Token {
  TokenKind kind = TokenKind::kEndMarker;
  Sym sym = Sym::kNone;
  std::string_view text;  // into the source ("" for layout tokens)
  uint32_t line = 0;      // 1-based line where the token starts
};

// One f-string being read (CPython's tokenizer_mode). F-strings nest through
// their replacement fields, so the tokenizer keeps a stack of these.
struct FStringState {
  char quote = '"';
  uint8_t quote_size = 1;  // 1 or 3
  bool raw = false;
  bool in_literal = true;  // reading literal text or a format spec, not a field's code
  int bracket_depth = 0;   // brackets open in this f-string's fields, field braces included
  int field_depth = -1;    // nesting of the innermost open field (-1: none; 0: top level)
  // Right after a field's ':' (CPython's in_format_spec): there '{{' opens a
  // nested field and a newline ends a single-quoted f-string with its own
  // message. A nested field's '}' clears it, so after `{x:{y}` the rest of
  // the spec reads '{{' and '}}' as escapes, as CPython 3.13.5 does.
  bool in_format_spec = false;
  uint32_t start_line = 0;
};

class Tokenizer {
 public:
  // `first_line` numbers the first line of `source`. `in_brackets` treats
  // the whole source as if inside parentheses (f-string replacement
  // fields): newlines are ignored and no indentation is tracked.
  explicit Tokenizer(std::string_view source, uint32_t first_line = 1, bool in_brackets = false);

  Token Next();  // throws SyntaxError

  // A copy of the cursor, for the parser's bounded backtracking (soft
  // keyword `match`, parenthesized `with` items).
  struct State {
    size_t pos;
    uint32_t line;
    bool at_line_start;
    bool emitted_token_on_line;
    int pending_indents;  // > 0 INDENTs, < 0 DEDENTs still to emit
    bool done;
    std::vector<std::pair<char, uint32_t>> brackets;
    std::vector<int> indents;
    std::vector<int> alt_indents;
    std::vector<FStringState> fstrings;
  };
  State Save() const;
  void Restore(const State& s);

 private:
  [[noreturn]] void Fail(const std::string& reason) const;
  [[noreturn]] void FailAt(uint32_t line, const std::string& reason) const;
  int Peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? static_cast<unsigned char>(src_[pos_ + ahead]) : -1;
  }
  bool AtNewline() const;
  void SkipNewline();
  Token IndentToken();
  bool StartLine();
  bool EndOfLine();
  void SkipLineContinuation();
  bool MeasureIndentation(int& col, int& alt_col);
  void ApplyIndentation(int col, int alt_col);
  void SkipSpacesAndComments();
  [[gnu::noinline]] void SkipComment();  // pos_ at '#'
  // Moves pos_ past the bytes `keep` accepts. On locals: a `char` read may
  // alias any object, pos_ included, so a loop on the member would store
  // pos_ before every byte it reads (this runs for every byte of names,
  // strings and comments).
  template <typename Keep>
  void SkipWhile(Keep keep) {
    const char* const s = src_.data();
    const size_t n = src_.size();
    size_t p = pos_;
    while (p < n && keep(s[p])) ++p;
    pos_ = p;
  }
  // Inline: no call per token, and its stores combine with the caller's.
  Token Make(TokenKind kind, size_t start, Sym sym = Sym::kNone) const {
    return Token{kind, sym, src_.substr(start, pos_ - start), token_line_};
  }
  Token ReadName();
  Token ReadNumber();
  void ReadDecimalNumber();
  void ReadDigits(int base, bool required);
  Token ReadString(size_t start);  // pos_ at the opening quote
  // F-strings (py_tokenize_fstring.cc).
  Token StartFString(size_t start);  // pos_ at the opening quote
  std::optional<Token> NextInFString();
  bool AtClosingQuote(const FStringState& f) const;
  void EnterField(FStringState& f);
  [[noreturn]] void FailUnterminatedFString(const FStringState& f) const;
  bool ColonStartsFormatSpec();
  Token ReadOperator();
  void OpenBracket(char open);
  void CloseBracket(char close);
  Token EndOfInput();
  void CheckNumberEnd(size_t start);

  std::string_view src_;
  size_t pos_ = 0;
  uint32_t line_;
  uint32_t token_line_ = 0;
  bool at_line_start_ = true;
  bool emitted_token_on_line_ = false;  // a NEWLINE is due at end of line
  int pending_indents_ = 0;
  bool done_ = false;
  bool implicit_brackets_;
  std::vector<std::pair<char, uint32_t>> brackets_;  // open bracket and its line
  std::vector<int> indents_{0};
  std::vector<int> alt_indents_{0};
  std::vector<FStringState> fstrings_;  // innermost last
};

// Keyword lookup for a NAME token (Sym::kNone for ordinary identifiers).
Sym KeywordSym(std::string_view name);

}  // namespace tpkg::py
