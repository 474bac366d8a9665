// py_parse_strings.cc: string literals and f-strings of the import parser (see py_parser.h).
//
// F-strings follow Python 3.12+ (PEP 701): the tokenizer hands over their
// replacement fields as ordinary tokens, so a field is parsed by the same
// rules as any expression, nested f-strings included. torch's visitor walks
// a JoinedStr's FormattedValues in source order: a field's value, then the
// fields nested in its format spec.
#include <optional>
#include <string>
#include <utility>

#include "scan/backslash_escapes.h"
#include "scan/py_literal.h"
#include "scan/py_parser.h"

namespace tpkg::py::internal {

// Adjacent string tokens form one Constant, or one JoinedStr when any is an
// f-string.
Expr Parser::ParseStrings() {
  Expr e;
  e.line = cur_.line;
  const char* begin = cur_.text.data();
  const char* end = begin;
  bool any_bytes = false, any_text = false, any_f = false;
  for (;;) {
    if (AtKind(TokenKind::kFStringStart)) {
      any_f = any_text = true;
      Append(e.events, ParseFString());
      continue;
    }
    if (!AtKind(TokenKind::kString)) break;
    StringLiteral s = SplitStringToken(cur_.text, cur_.line);
    (s.bytes ? any_bytes : any_text) = true;
    if (s.bytes)
      for (char c : s.body)
        if (static_cast<unsigned char>(c) >= 0x80)
          Fail("bytes can only contain ASCII literal characters");
    if (compile_checks_) CheckEscapes(s);
    end = cur_.text.data() + cur_.text.size();
    Advance();
  }
  if (any_bytes && any_text) Fail("cannot mix bytes and nonbytes literals");
  e.node = any_f ? Node::kOther : any_bytes ? Node::kBytes : Node::kStr;
  e.text = std::string_view(begin, static_cast<size_t>(end - begin));
  return e;
}

// What ast.parse refuses in a literal's escapes and the scan leaves alone
// (py_literal.h decodes only __import__'s arguments): a truncated or
// out-of-range \x, \u or \U in a str, a truncated \x in bytes. A \N{name}
// is not checked (it needs the Unicode name database): the str's check
// stops there.
void Parser::CheckEscapes(const StringLiteral& s) const {
  if (s.raw) return;
  if (!s.bytes) {
    (void)DecodeStringBody(s);  // throws SyntaxError on the line of the literal
    return;
  }
  for (size_t i = 0; i + 1 < s.body.size(); ++i) {
    if (s.body[i] != '\\') continue;
    if (s.body[++i] == 'x' && ReadHexDigits(s.body, i + 1, 2) < 0)
      throw SyntaxError{s.line, "(value error) invalid \\x escape"};
  }
}

// FSTRING_START (FSTRING_MIDDLE | field)* FSTRING_END.
// Nesting needs no guard here: the tokenizer stops at 149 nested f-strings.
Events Parser::ParseFString() {
  bool raw = false;  // the prefix: the token is it and the opening quote
  for (char c : cur_.text) raw |= (c | 0x20) == 'r';
  const ScopedFlag raw_fstring(raw_fstring_, raw);
  // A bad escape in its text is named on the line the f-string ends on, as
  // CPython 3.13 names it (3.11: where its group of adjacent strings ends).
  std::optional<std::string> outer_escape_error = std::exchange(fstring_escape_error_, std::nullopt);
  Advance();
  Events events;
  ParseFStringParts(events);
  if (!AtKind(TokenKind::kFStringEnd)) Fail("f-string: expecting '}'");
  const uint32_t end_line = cur_.line;
  Advance();
  if (fstring_escape_error_) throw SyntaxError{end_line, *fstring_escape_error_};
  fstring_escape_error_ = std::move(outer_escape_error);
  return events;
}

// '{' (yield_expr | star_expressions) ['='] ['!' NAME] [':' format_spec] '}',
// the spec being literal text and nested fields.
Events Parser::ParseReplacementField() {
  Expect(Sym::kLBrace);
  if (At(Sym::kRBrace) || At(Sym::kExclamation) || At(Sym::kColon) || At(Sym::kEqual))
    Fail("f-string: empty expression not allowed");
  Events events = At(Sym::kYield) ? ParseYield().events : ParseStarExpressions().events;
  Accept(Sym::kEqual);  // f'{x=}': the expression's text is shown too
  if (At(Sym::kExclamation)) ParseConversion();
  if (Accept(Sym::kColon)) ParseFStringParts(events);
  if (!At(Sym::kRBrace)) Fail("f-string: expecting '}'");
  Advance();
  return events;
}


// Literal text (FSTRING_MIDDLE) and replacement fields, as an f-string's
// body and a format spec both hold them.
void Parser::ParseFStringParts(Events& events) {
  for (;;) {
    if (AtKind(TokenKind::kFStringMiddle)) {
      // Literal text is decoded as a str's body is ("{{" is two characters
      // here, which changes no verdict), format specs included.
      if (compile_checks_ && !raw_fstring_ && !fstring_escape_error_) {
        try {
          (void)DecodeStringBody(StringLiteral{false, false, cur_.text, cur_.line});
        } catch (const SyntaxError& e) {
          fstring_escape_error_ = e.reason;
        }
      }
      Advance();
    } else if (At(Sym::kLBrace))
      Append(events, ParseReplacementField());
    else
      return;
  }
}

// '!' then s, r or a, with nothing in between.
void Parser::ParseConversion() {
  const char* after_mark = cur_.text.data() + cur_.text.size();
  Advance();
  if (!AtKind(TokenKind::kName)) Fail("f-string: missing conversion character");
  if (cur_.text.data() != after_mark)
    Fail("f-string: conversion type must come right after the exclamanation mark");
  if (cur_.text != "s" && cur_.text != "r" && cur_.text != "a")
    Fail("f-string: invalid conversion character '" + std::string(cur_.text) +
         "': expected 's', 'r', or 'a'");
  Advance();
}

}  // namespace tpkg::py::internal
