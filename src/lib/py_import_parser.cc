// py_import_parser.cc: Python 3.11 grammar walk yielding import events in
// torch's visitor order (see py_import_parser.h).
//
// Expressions are parsed without building a tree: an Expr carries its
// subtree's events plus just enough about its root node for torch's
// visit_Call (is it the name `__import__`? a constant? a display with
// elements?). Every infix operator yields its operands' events in source
// order, so one flat loop parses `or`, `and`, `not`, comparisons and all
// arithmetic; only the constructs whose ast field order differs from the
// source order get their own handling.
#include "py_import_parser.h"

#include <cmath>
#include <cstdlib>
#include <utility>

#include "py_literal.h"
#include "py_tokenizer.h"

namespace tpkg::py {
namespace {

// Brackets alone stop at 200 (tokenizer); this bounds the other nestings
// (lambda defaults, f-strings) and with them the parser's stack use.
constexpr int kMaxNesting = 300;

using Events = std::vector<ImportEvent>;

void Append(Events& dst, Events&& src) {
  if (src.empty()) return;
  if (dst.empty()) {
    dst = std::move(src);
    return;
  }
  dst.insert(dst.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
}

// The root node of an expression, as far as torch's visit_Call can tell
// nodes apart (`.value`, `.elts`, `.id`).
enum class Node : uint8_t {
  kName,          // Name: text is the identifier
  kStr,           // Constant str: text spans the string tokens
  kBytes,         // Constant bytes: text spans the string tokens
  kNumber,        // Constant int/float/complex: text is the token
  kTrue, kFalse, kNone, kEllipsis,
  kAstValue,      // Attribute, Subscript, Starred, NamedExpr, Await, Yield x, YieldFrom
  kNoneValue,     // Yield without a value (`.value` is None)
  kDisplay,       // List, Tuple, Set (have `.elts`)
  kOther,         // everything else: no `.value`, no `.elts`
};

struct Expr {
  Events events;  // of the whole subtree, in visit order
  Node node = Node::kOther;
  std::string_view text;
  uint32_t line = 0;
  std::vector<Expr> elts;  // kDisplay elements, kept only for __import__ arguments
};

// --------------------------------------------- literal values of arguments

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
    case Node::kNumber:
      return NumberValue(e.text);
    case Node::kTrue: case Node::kFalse:
      v.kind = ArgValue::Kind::kInt;
      v.number = e.node == Node::kTrue ? 1 : 0;
      v.truthy = e.node == Node::kTrue;
      return v;
    case Node::kNone: case Node::kNoneValue:
      v.kind = ArgValue::Kind::kOther;
      v.truthy = false;
      return v;
    case Node::kEllipsis: case Node::kAstValue:
      v.kind = ArgValue::Kind::kOther;
      return v;
    default:
      return v;  // kMissing
  }
}

class Parser {
 public:
  Parser(std::string_view source, uint32_t first_line, int depth)
      : tok_(source, first_line), depth_(depth) {
    cur_ = tok_.Next();
  }

  Events ParseFile();
  Expr ParseFStringField();

 private:
  struct Arguments {
    Events positional_events;
    Events keyword_events;
    std::vector<Expr> positional;                          // only with want_literals
    std::vector<std::pair<std::string_view, Expr>> keywords;  // only with want_literals
  };
  struct Checkpoint {
    Tokenizer::State tokenizer;
    Token cur;
    std::optional<Token> next;
  };
  class ScopedFlag {
   public:
    ScopedFlag(bool& flag, bool value) : flag_(flag), saved_(flag) { flag_ = value; }
    ~ScopedFlag() { flag_ = saved_; }

   private:
    bool& flag_;
    bool saved_;
  };
  class NestingGuard {
   public:
    explicit NestingGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxNesting) p_.Fail("too many nested expressions");
    }
    ~NestingGuard() { --p_.depth_; }

   private:
    Parser& p_;
  };

  // Tokens.
  bool At(Sym s) const { return cur_.sym == s; }
  bool AtKind(TokenKind k) const { return cur_.kind == k; }
  bool AtSoftKeyword(std::string_view word) const {
    return cur_.kind == TokenKind::kName && cur_.sym == Sym::kNone && cur_.text == word;
  }
  bool AtExpressionStart() const;
  void Advance();
  bool Accept(Sym s);
  void Expect(Sym s);
  void ExpectKind(TokenKind k);
  const Token& PeekNext();
  std::string_view ExpectName();
  Checkpoint Save() const { return {tok_.Save(), cur_, next_}; }
  void Restore(const Checkpoint& c);
  [[noreturn]] void Fail(const std::string& reason) const { throw SyntaxError{cur_.line, reason}; }
  [[noreturn]] void FailSyntax() const { Fail("invalid syntax"); }

  // Statements.
  Events ParseStatement();
  Events ParseSimpleStatements();
  Events ParseSimpleStatement();
  Events ParseExpressionStatement();
  Events ParseAssignedValue();
  Events ParseBlock();
  Events ParseImport();
  Events ParseFromImport();
  void ParseImportNames(std::vector<std::string>& names, bool parenthesized);
  std::string ParseDottedName();
  Events ParseIf();
  Events ParseWhile();
  Events ParseFor();
  Events ParseTry();
  Events ParseWith();
  bool TryParseParenthesizedWithItems(Events& out);
  Events ParseWithItems();
  Events ParseDecorated();
  Events ParseFunctionDef(Events decorators);
  Events ParseClassDef(Events decorators);
  struct Parameters {
    Events annotations, kw_defaults, kwarg_annotation, defaults;
    bool keyword_only = false;
    bool seen_default = false;       // a positional parameter had a default
    bool bare_star_pending = false;  // `*,` not yet followed by a named parameter
    bool after_kwarg = false;
  };
  Events ParseParameters(Sym closing, bool annotations);
  void ParseParameter(Parameters& params, bool annotations);
  bool TryParseMatch(Events& out);
  Events ParseCaseBlock();

  // Expressions.
  Expr ParseStarExpressions();
  Expr ParseStarExpression();
  Expr ParseStarNamedExpression();
  Expr ParseNamedExpression();
  Expr ParseExpression();
  Expr ParseInfix(bool stop_at_in = false);
  bool AcceptInfixOperator(bool stop_at_in);
  Expr ParseTargets();
  Expr ParseStarTarget();
  Expr ParsePrimary();
  Expr ParseAtom();
  Expr ParseStrings();
  Expr ParseParenthesized();
  Expr ParseList();
  Expr ParseBraces();
  Expr ParseDictRest(Events keys, Events values);
  void ParseDictEntry(Events& keys, Events& values);
  Expr ParseYield();
  Events ParseComprehension();
  Events ParseSlices();
  void ParseSlice(Events& events);
  Expr ParseCall(Expr callee);
  struct ArgumentOrder {
    int count = 0;
    bool keyword = false;
    bool double_star = false;
    bool bare_genexp = false;
  };
  Arguments ParseArguments(bool want_literals);
  void ParseArgument(Arguments& out, bool want_literals, ArgumentOrder& order);
  void AddElement(Expr& display, Expr element);
  Expr Comprehension(Expr first, Sym closing);

  Tokenizer tok_;
  Token cur_;
  std::optional<Token> next_;
  int depth_;
  bool want_elts_ = false;  // collecting display elements for __import__ arguments
};

// ------------------------------------------------------------------ tokens

void Parser::Advance() {
  if (next_) {
    cur_ = *next_;
    next_.reset();
  } else {
    cur_ = tok_.Next();
  }
}

const Token& Parser::PeekNext() {
  if (!next_) next_ = tok_.Next();
  return *next_;
}

void Parser::Restore(const Checkpoint& c) {
  tok_.Restore(c.tokenizer);
  cur_ = c.cur;
  next_ = c.next;
}

bool Parser::Accept(Sym s) {
  if (!At(s) || s == Sym::kNone) return false;
  Advance();
  return true;
}

void Parser::Expect(Sym s) {
  if (!Accept(s)) FailSyntax();
}

void Parser::ExpectKind(TokenKind k) {
  if (!AtKind(k)) {
    if (AtKind(TokenKind::kIndent)) Fail("unexpected indent");
    FailSyntax();
  }
  Advance();
}

std::string_view Parser::ExpectName() {
  if (!AtKind(TokenKind::kName) || cur_.sym != Sym::kNone) FailSyntax();
  std::string_view name = cur_.text;
  Advance();
  return name;
}

bool Parser::AtExpressionStart() const {
  switch (cur_.kind) {
    case TokenKind::kName:
      return cur_.sym == Sym::kNone || At(Sym::kTrue) || At(Sym::kFalse) || At(Sym::kNoneKw) ||
             At(Sym::kLambda) || At(Sym::kNot) || At(Sym::kAwait);
    case TokenKind::kNumber:
    case TokenKind::kString:
      return true;
    case TokenKind::kOp:
      return At(Sym::kLParen) || At(Sym::kLSquare) || At(Sym::kLBrace) || At(Sym::kMinus) ||
             At(Sym::kPlus) || At(Sym::kTilde) || At(Sym::kStar) || At(Sym::kEllipsis);
    default:
      return false;
  }
}

// -------------------------------------------------------------- statements

Events Parser::ParseFile() {
  Events events;
  while (!AtKind(TokenKind::kEndMarker)) Append(events, ParseStatement());
  return events;
}

Events Parser::ParseStatement() {
  if (AtKind(TokenKind::kIndent)) Fail("unexpected indent");
  switch (cur_.sym) {
    case Sym::kIf: return ParseIf();
    case Sym::kWhile: return ParseWhile();
    case Sym::kFor: return ParseFor();
    case Sym::kTry: return ParseTry();
    case Sym::kWith: return ParseWith();
    case Sym::kDef: return ParseFunctionDef({});
    case Sym::kClass: return ParseClassDef({});
    case Sym::kAt: return ParseDecorated();
    case Sym::kAsync:
      Advance();
      if (At(Sym::kDef)) return ParseFunctionDef({});
      if (At(Sym::kFor)) return ParseFor();
      if (At(Sym::kWith)) return ParseWith();
      FailSyntax();
    default:
      break;
  }
  Events events;
  if (AtSoftKeyword("match") && TryParseMatch(events)) return events;
  return ParseSimpleStatements();
}

Events Parser::ParseSimpleStatements() {
  Events events;
  do {
    Append(events, ParseSimpleStatement());
  } while (Accept(Sym::kSemi) && !AtKind(TokenKind::kNewline));
  ExpectKind(TokenKind::kNewline);
  return events;
}

Events Parser::ParseSimpleStatement() {
  switch (cur_.sym) {
    case Sym::kImport: return ParseImport();
    case Sym::kFrom: return ParseFromImport();
    case Sym::kPass: case Sym::kBreak: case Sym::kContinue:
      Advance();
      return {};
    case Sym::kReturn:
    case Sym::kDel:
      Advance();
      return AtExpressionStart() ? ParseStarExpressions().events : Events{};
    case Sym::kRaise: {
      Advance();
      if (!AtExpressionStart()) return {};
      Events events = ParseExpression().events;
      if (Accept(Sym::kFrom)) Append(events, ParseExpression().events);
      return events;
    }
    case Sym::kGlobal: case Sym::kNonlocal:
      Advance();
      do ExpectName(); while (Accept(Sym::kComma));
      return {};
    case Sym::kAssert: {
      Advance();
      Events events = ParseExpression().events;
      if (Accept(Sym::kComma)) Append(events, ParseExpression().events);
      return events;
    }
    default:
      return ParseExpressionStatement();
  }
}

// Expr, Assign (targets then value), AugAssign, AnnAssign: all source order.
Events Parser::ParseExpressionStatement() {
  Events events = At(Sym::kYield) ? ParseYield().events : ParseStarExpressions().events;
  if (Accept(Sym::kColon)) {
    Append(events, ParseExpression().events);
    if (Accept(Sym::kEqual)) Append(events, ParseAssignedValue());
  } else if (Accept(Sym::kAugAssign)) {
    Append(events, ParseAssignedValue());
  } else {
    while (Accept(Sym::kEqual)) Append(events, ParseAssignedValue());
  }
  return events;
}

Events Parser::ParseAssignedValue() {
  return At(Sym::kYield) ? ParseYield().events : ParseStarExpressions().events;
}

Events Parser::ParseBlock() {
  Expect(Sym::kColon);
  if (!AtKind(TokenKind::kNewline)) return ParseSimpleStatements();
  Advance();
  if (!AtKind(TokenKind::kIndent)) Fail("expected an indented block");
  Advance();
  Events events;
  while (!AtKind(TokenKind::kDedent)) Append(events, ParseStatement());
  Advance();
  return events;
}

Events Parser::ParseImport() {
  uint32_t line = cur_.line;
  Advance();
  Events events;
  do {
    std::string module = ParseDottedName();
    if (Accept(Sym::kAs)) ExpectName();
    events.emplace_back(ImportStmt{std::move(module), line});
  } while (Accept(Sym::kComma));
  return events;
}

Events Parser::ParseFromImport() {
  ImportFromStmt stmt;
  stmt.line = cur_.line;
  Advance();
  for (; At(Sym::kDot) || At(Sym::kEllipsis); Advance()) stmt.level += At(Sym::kDot) ? 1 : 3;
  if (!At(Sym::kImport) || stmt.level == 0) stmt.module = ParseDottedName();
  Expect(Sym::kImport);
  if (Accept(Sym::kStar)) {
    stmt.names.emplace_back("*");
  } else if (Accept(Sym::kLParen)) {
    ParseImportNames(stmt.names, true);
    Expect(Sym::kRParen);
  } else {
    ParseImportNames(stmt.names, false);
  }
  Events events;
  events.emplace_back(std::move(stmt));
  return events;
}

void Parser::ParseImportNames(std::vector<std::string>& names, bool parenthesized) {
  do {
    if (parenthesized && At(Sym::kRParen) && !names.empty()) break;  // trailing comma
    names.emplace_back(ExpectName());
    if (Accept(Sym::kAs)) ExpectName();
  } while (Accept(Sym::kComma));
}

std::string Parser::ParseDottedName() {
  std::string name(ExpectName());
  while (Accept(Sym::kDot)) {
    name += '.';
    name += ExpectName();
  }
  return name;
}

Events Parser::ParseIf() {
  Advance();
  Events events = ParseNamedExpression().events;
  Append(events, ParseBlock());
  while (Accept(Sym::kElif)) {
    Append(events, ParseNamedExpression().events);
    Append(events, ParseBlock());
  }
  if (Accept(Sym::kElse)) Append(events, ParseBlock());
  return events;
}

Events Parser::ParseWhile() {
  Advance();
  Events events = ParseNamedExpression().events;
  Append(events, ParseBlock());
  if (Accept(Sym::kElse)) Append(events, ParseBlock());
  return events;
}

Events Parser::ParseFor() {
  Advance();
  Events events = ParseTargets().events;
  Expect(Sym::kIn);
  Append(events, ParseStarExpressions().events);
  Append(events, ParseBlock());
  if (Accept(Sym::kElse)) Append(events, ParseBlock());
  return events;
}

Events Parser::ParseTry() {
  Advance();
  Events events = ParseBlock();
  bool handlers = false;
  while (Accept(Sym::kExcept)) {
    handlers = true;
    Accept(Sym::kStar);  // except* (3.11)
    if (!At(Sym::kColon)) {
      Append(events, ParseExpression().events);
      if (Accept(Sym::kAs)) ExpectName();
    }
    Append(events, ParseBlock());
  }
  if (handlers && Accept(Sym::kElse)) Append(events, ParseBlock());
  bool final_block = Accept(Sym::kFinally);
  if (final_block) Append(events, ParseBlock());
  if (!handlers && !final_block) Fail("expected 'except' or 'finally' block");
  return events;
}

Events Parser::ParseWith() {
  Advance();
  Events events;
  if (!At(Sym::kLParen) || !TryParseParenthesizedWithItems(events)) events = ParseWithItems();
  Append(events, ParseBlock());
  return events;
}

// `with (a as b, c as d):` (3.10). On failure the items are an ordinary
// expression starting with '(' and are parsed again as such.
bool Parser::TryParseParenthesizedWithItems(Events& out) {
  Checkpoint start = Save();
  try {
    Advance();
    Events events;
    bool any = false;
    do {
      if (At(Sym::kRParen) && any) break;  // trailing comma
      any = true;
      Append(events, ParseExpression().events);
      if (Accept(Sym::kAs)) Append(events, ParseStarTarget().events);
    } while (Accept(Sym::kComma));
    Expect(Sym::kRParen);
    if (!At(Sym::kColon)) FailSyntax();
    out = std::move(events);
    return true;
  } catch (const SyntaxError&) {
    Restore(start);
    return false;
  }
}

Events Parser::ParseWithItems() {
  Events events;
  do {
    Append(events, ParseExpression().events);
    if (Accept(Sym::kAs)) Append(events, ParseStarTarget().events);
  } while (Accept(Sym::kComma));
  return events;
}

Events Parser::ParseDecorated() {
  Events decorators;
  while (Accept(Sym::kAt)) {
    Append(decorators, ParseNamedExpression().events);
    ExpectKind(TokenKind::kNewline);
  }
  if (At(Sym::kClass)) return ParseClassDef(std::move(decorators));
  Accept(Sym::kAsync);
  return ParseFunctionDef(std::move(decorators));
}

// FunctionDef fields: args, body, decorator_list, returns.
Events Parser::ParseFunctionDef(Events decorators) {
  Expect(Sym::kDef);
  ExpectName();
  Expect(Sym::kLParen);
  Events events = ParseParameters(Sym::kRParen, true);
  Expect(Sym::kRParen);
  Events returns;
  if (Accept(Sym::kArrow)) returns = ParseExpression().events;
  Append(events, ParseBlock());
  Append(events, std::move(decorators));
  Append(events, std::move(returns));
  return events;
}

// ClassDef fields: bases, keywords, body, decorator_list.
Events Parser::ParseClassDef(Events decorators) {
  Expect(Sym::kClass);
  ExpectName();
  Events events;
  if (Accept(Sym::kLParen)) {
    Arguments args = ParseArguments(false);
    Expect(Sym::kRParen);
    events = std::move(args.positional_events);
    Append(events, std::move(args.keyword_events));
  }
  Append(events, ParseBlock());
  Append(events, std::move(decorators));
  return events;
}

// `arguments` fields: posonlyargs, args, vararg, kwonlyargs (their
// annotations, in source order), kw_defaults, kwarg (annotation), defaults.
Events Parser::ParseParameters(Sym closing, bool annotations) {
  Parameters params;
  while (!At(closing)) {
    if (params.after_kwarg) Fail("arguments cannot follow var-keyword argument");
    ParseParameter(params, annotations);
    if (!Accept(Sym::kComma)) break;
  }
  if (params.bare_star_pending) Fail("named arguments must follow bare *");
  Append(params.annotations, std::move(params.kw_defaults));
  Append(params.annotations, std::move(params.kwarg_annotation));
  Append(params.annotations, std::move(params.defaults));
  return std::move(params.annotations);
}

void Parser::ParseParameter(Parameters& params, bool annotations) {
  if (At(Sym::kBinary) && cur_.text == "/") {
    Advance();
  } else if (Accept(Sym::kStar)) {
    params.keyword_only = true;
    params.bare_star_pending = !AtKind(TokenKind::kName);
    if (params.bare_star_pending) return;
    ExpectName();
    if (annotations && Accept(Sym::kColon)) Append(params.annotations, ParseStarExpression().events);
  } else if (Accept(Sym::kDoubleStar)) {
    if (params.bare_star_pending) Fail("named arguments must follow bare *");
    params.after_kwarg = true;
    ExpectName();
    if (annotations && Accept(Sym::kColon)) params.kwarg_annotation = ParseExpression().events;
  } else {
    ExpectName();
    params.bare_star_pending = false;
    if (annotations && Accept(Sym::kColon)) Append(params.annotations, ParseExpression().events);
    if (Accept(Sym::kEqual)) {
      Append(params.keyword_only ? params.kw_defaults : params.defaults, ParseExpression().events);
      params.seen_default |= !params.keyword_only;
    } else if (params.seen_default && !params.keyword_only) {
      Fail("non-default argument follows default argument");
    }
  }
}

// `match` is a soft keyword: a line starting with it is a match statement
// only if `match <subject>:` NEWLINE INDENT parses (as CPython's PEG tries).
bool Parser::TryParseMatch(Events& out) {
  Sym next = PeekNext().sym;
  if (PeekNext().kind == TokenKind::kNewline || next == Sym::kEqual || next == Sym::kDot ||
      next == Sym::kAugAssign || next == Sym::kColon || next == Sym::kComma || next == Sym::kSemi)
    return false;
  Checkpoint start = Save();
  Events events;
  try {
    Advance();
    Expr subject = ParseStarNamedExpression();
    events = std::move(subject.events);
    while (Accept(Sym::kComma) && !At(Sym::kColon)) Append(events, ParseStarNamedExpression().events);
    Expect(Sym::kColon);
    ExpectKind(TokenKind::kNewline);
    if (!AtKind(TokenKind::kIndent)) FailSyntax();
  } catch (const SyntaxError&) {
    Restore(start);
    return false;
  }
  Advance();
  while (!AtKind(TokenKind::kDedent)) Append(events, ParseCaseBlock());
  Advance();
  out = std::move(events);
  return true;
}

// Patterns hold no calls (no events): skip them to the guard or the colon.
Events Parser::ParseCaseBlock() {
  if (!AtSoftKeyword("case")) FailSyntax();
  Advance();
  int depth = 0;
  bool any = false;
  while (depth > 0 || (!At(Sym::kIf) && !At(Sym::kColon))) {
    if (AtKind(TokenKind::kNewline) || AtKind(TokenKind::kEndMarker)) FailSyntax();
    if (At(Sym::kLParen) || At(Sym::kLSquare) || At(Sym::kLBrace)) ++depth;
    if (At(Sym::kRParen) || At(Sym::kRSquare) || At(Sym::kRBrace)) --depth;
    Advance();
    any = true;
  }
  if (!any) FailSyntax();
  Events events;
  if (Accept(Sym::kIf)) events = ParseNamedExpression().events;
  Append(events, ParseBlock());
  return events;
}

// ------------------------------------------------------------- expressions

Expr Parser::ParseStarExpressions() {
  Expr first = ParseStarExpression();
  if (!At(Sym::kComma)) return first;
  Expr tuple;
  tuple.node = Node::kDisplay;
  AddElement(tuple, std::move(first));
  while (Accept(Sym::kComma) && AtExpressionStart()) AddElement(tuple, ParseStarExpression());
  return tuple;
}

Expr Parser::ParseStarExpression() {
  if (!Accept(Sym::kStar)) return ParseExpression();
  Expr starred = ParseInfix();
  starred.node = Node::kAstValue;
  return starred;
}

Expr Parser::ParseStarNamedExpression() {
  if (!At(Sym::kStar)) return ParseNamedExpression();
  return ParseStarExpression();
}

Expr Parser::ParseNamedExpression() {
  Expr e = ParseExpression();
  if (!Accept(Sym::kColonEqual)) return e;
  if (e.node != Node::kName) Fail("cannot use assignment expressions with this target");
  Expr named = ParseExpression();
  named.node = Node::kAstValue;
  named.elts.clear();
  return named;
}

// lambda and conditional expressions, as a loop so that chains of them do
// not recurse: Lambda visits args then body; IfExp test, body, orelse.
Expr Parser::ParseExpression() {
  NestingGuard guard(*this);
  Expr chain;
  bool first = true;
  for (;;) {
    if (Accept(Sym::kLambda)) {
      Append(chain.events, ParseParameters(Sym::kColon, false));
      Expect(Sym::kColon);
    } else {
      Expr body = ParseInfix();
      if (!Accept(Sym::kIf)) {
        if (first) return body;
        Append(chain.events, std::move(body.events));
        return chain;
      }
      Expr test = ParseInfix();
      Expect(Sym::kElse);
      Append(chain.events, std::move(test.events));
      Append(chain.events, std::move(body.events));
    }
    first = false;
  }
}

// Everything from `or` down to `**`: operands in source order.
Expr Parser::ParseInfix(bool stop_at_in) {
  Expr result;
  int operands = 0;
  bool prefixed = false;
  do {
    while (At(Sym::kNot) || At(Sym::kMinus) || At(Sym::kPlus) || At(Sym::kTilde)) {
      Advance();
      prefixed = true;
    }
    Expr operand = ParsePrimary();
    if (operands++ == 0) result = std::move(operand);
    else Append(result.events, std::move(operand.events));
  } while (AcceptInfixOperator(stop_at_in));
  if (operands > 1 || prefixed) {
    result.node = Node::kOther;
    result.elts.clear();
  }
  return result;
}

bool Parser::AcceptInfixOperator(bool stop_at_in) {
  switch (cur_.sym) {
    case Sym::kOr: case Sym::kAnd: case Sym::kCompare: case Sym::kBinary: case Sym::kPlus:
    case Sym::kMinus: case Sym::kStar: case Sym::kDoubleStar: case Sym::kAt:
      Advance();
      return true;
    case Sym::kIs:
      Advance();
      Accept(Sym::kNot);
      return true;
    case Sym::kIn:
      if (stop_at_in) return false;
      Advance();
      return true;
    case Sym::kNot:
      if (stop_at_in || PeekNext().sym != Sym::kIn) return false;
      Advance();
      Advance();
      return true;
    default:
      return false;
  }
}

// Assignment targets of `for` and comprehensions: stop before `in`.
Expr Parser::ParseTargets() {
  Expr first = ParseStarTarget();
  if (!At(Sym::kComma)) return first;
  while (Accept(Sym::kComma) && !At(Sym::kIn) && !At(Sym::kEqual)) Append(first.events, ParseStarTarget().events);
  first.node = Node::kDisplay;
  return first;
}

Expr Parser::ParseStarTarget() {
  Accept(Sym::kStar);
  return ParseInfix(true);
}

Expr Parser::ParsePrimary() {
  bool awaited = Accept(Sym::kAwait);
  Expr e = ParseAtom();
  for (;;) {
    if (Accept(Sym::kDot)) {
      ExpectName();
      e.node = Node::kAstValue;
    } else if (At(Sym::kLParen)) {
      e = ParseCall(std::move(e));
    } else if (Accept(Sym::kLSquare)) {
      Append(e.events, ParseSlices());
      Expect(Sym::kRSquare);
      e.node = Node::kAstValue;
    } else {
      break;
    }
    e.elts.clear();
  }
  if (awaited) e.node = Node::kAstValue;
  return e;
}

Expr Parser::ParseAtom() {
  Expr e;
  e.line = cur_.line;
  e.text = cur_.text;
  switch (cur_.kind) {
    case TokenKind::kName:
      switch (cur_.sym) {
        case Sym::kNone: e.node = Node::kName; break;
        case Sym::kTrue: e.node = Node::kTrue; break;
        case Sym::kFalse: e.node = Node::kFalse; break;
        case Sym::kNoneKw: e.node = Node::kNone; break;
        default: FailSyntax();
      }
      Advance();
      return e;
    case TokenKind::kNumber:
      e.node = Node::kNumber;
      Advance();
      return e;
    case TokenKind::kString:
      return ParseStrings();
    default:
      break;
  }
  switch (cur_.sym) {
    case Sym::kEllipsis: e.node = Node::kEllipsis; Advance(); return e;
    case Sym::kLParen: return ParseParenthesized();
    case Sym::kLSquare: return ParseList();
    case Sym::kLBrace: return ParseBraces();
    default: FailSyntax();
  }
}

// Adjacent string tokens form one Constant, or one JoinedStr when any is an
// f-string (whose replacement fields are code, visited in source order).
Expr Parser::ParseStrings() {
  Expr e;
  e.line = cur_.line;
  const char* begin = cur_.text.data();
  const char* end = begin;
  bool any_bytes = false, any_text = false, any_f = false;
  while (AtKind(TokenKind::kString)) {
    StringLiteral s = SplitStringToken(cur_.text, cur_.line);
    (s.bytes ? any_bytes : any_text) = true;
    if (s.bytes)
      for (char c : s.body)
        if (static_cast<unsigned char>(c) >= 0x80) Fail("bytes can only contain ASCII literal characters");
    if (s.fstring) {
      any_f = true;
      ForEachFStringField(s, [this, &e](std::string_view field, uint32_t line) {
        std::string wrapped;  // CPython compiles "(" + field + ")"
        wrapped.reserve(field.size() + 2);
        wrapped += '(';
        wrapped += field;
        wrapped += ')';
        Parser sub(wrapped, line, depth_ + 1);
        Append(e.events, sub.ParseFStringField().events);
      });
    }
    end = cur_.text.data() + cur_.text.size();
    Advance();
  }
  if (any_bytes && any_text) Fail("cannot mix bytes and nonbytes literals");
  e.node = any_f ? Node::kOther : any_bytes ? Node::kBytes : Node::kStr;
  e.text = std::string_view(begin, static_cast<size_t>(end - begin));
  return e;
}

Expr Parser::ParseParenthesized() {
  Advance();
  Expr tuple;
  tuple.node = Node::kDisplay;
  if (Accept(Sym::kRParen)) return tuple;
  if (At(Sym::kYield)) {
    Expr y = ParseYield();
    Expect(Sym::kRParen);
    return y;
  }
  bool starred = At(Sym::kStar);
  Expr first = ParseStarNamedExpression();
  if (At(Sym::kFor) || At(Sym::kAsync)) return Comprehension(std::move(first), Sym::kRParen);
  if (Accept(Sym::kRParen)) {
    if (starred) Fail("cannot use starred expression here");
    return first;  // a group keeps its inner node
  }
  AddElement(tuple, std::move(first));
  while (Accept(Sym::kComma) && !At(Sym::kRParen)) AddElement(tuple, ParseStarNamedExpression());
  Expect(Sym::kRParen);
  return tuple;
}

Expr Parser::ParseList() {
  Advance();
  Expr list;
  list.node = Node::kDisplay;
  if (Accept(Sym::kRSquare)) return list;
  Expr first = ParseStarNamedExpression();
  if (At(Sym::kFor) || At(Sym::kAsync)) return Comprehension(std::move(first), Sym::kRSquare);
  AddElement(list, std::move(first));
  while (Accept(Sym::kComma) && !At(Sym::kRSquare)) AddElement(list, ParseStarNamedExpression());
  Expect(Sym::kRSquare);
  return list;
}

// Dict and set displays and comprehensions. Dict visits all keys, then all values.
Expr Parser::ParseBraces() {
  Advance();
  Events keys, values;
  if (Accept(Sym::kRBrace)) return Expr{};
  if (Accept(Sym::kDoubleStar)) {
    values = ParseInfix().events;
    return ParseDictRest(std::move(keys), std::move(values));
  }
  Expr first = ParseStarNamedExpression();
  if (Accept(Sym::kColon)) {
    Expr value = ParseExpression();
    if (At(Sym::kFor) || At(Sym::kAsync)) {  // DictComp: key, value, generators
      Append(first.events, std::move(value.events));
      return Comprehension(std::move(first), Sym::kRBrace);
    }
    return ParseDictRest(std::move(first.events), std::move(value.events));
  }
  if (At(Sym::kFor) || At(Sym::kAsync)) return Comprehension(std::move(first), Sym::kRBrace);
  Expr set;
  set.node = Node::kDisplay;
  AddElement(set, std::move(first));
  while (Accept(Sym::kComma) && !At(Sym::kRBrace)) AddElement(set, ParseStarNamedExpression());
  Expect(Sym::kRBrace);
  return set;
}

Expr Parser::ParseDictRest(Events keys, Events values) {
  while (Accept(Sym::kComma) && !At(Sym::kRBrace)) ParseDictEntry(keys, values);
  Expect(Sym::kRBrace);
  Expr dict;
  dict.events = std::move(keys);
  Append(dict.events, std::move(values));
  return dict;
}

void Parser::ParseDictEntry(Events& keys, Events& values) {
  if (Accept(Sym::kDoubleStar)) {
    Append(values, ParseInfix().events);
    return;
  }
  Append(keys, ParseExpression().events);
  Expect(Sym::kColon);
  Append(values, ParseExpression().events);
}

Expr Parser::Comprehension(Expr first, Sym closing) {
  Expr comp;
  comp.events = std::move(first.events);
  Append(comp.events, ParseComprehension());
  Expect(closing);
  return comp;
}

Events Parser::ParseComprehension() {
  Events events;
  while (At(Sym::kFor) || At(Sym::kAsync)) {
    Accept(Sym::kAsync);
    Expect(Sym::kFor);
    Append(events, ParseTargets().events);
    Expect(Sym::kIn);
    Append(events, ParseInfix().events);
    while (Accept(Sym::kIf)) Append(events, ParseInfix().events);
  }
  return events;
}

Expr Parser::ParseYield() {
  Expect(Sym::kYield);
  Expr y;
  if (Accept(Sym::kFrom)) {
    y.events = ParseExpression().events;
    y.node = Node::kAstValue;
  } else if (AtExpressionStart()) {
    y.events = ParseStarExpressions().events;
    y.node = Node::kAstValue;
  } else {
    y.node = Node::kNoneValue;
  }
  return y;
}

Events Parser::ParseSlices() {
  Events events;
  bool any = false;
  do {
    if (At(Sym::kRSquare) && any) break;  // trailing comma
    ParseSlice(events);
    any = true;
  } while (Accept(Sym::kComma));
  return events;
}

// [lower] ':' [upper] [':' [step]], a named expression, or *starred (3.11).
void Parser::ParseSlice(Events& events) {
  if (!At(Sym::kColon)) Append(events, ParseStarNamedExpression().events);
  if (!Accept(Sym::kColon)) return;
  auto bound_follows = [this] { return !At(Sym::kColon) && !At(Sym::kComma) && !At(Sym::kRSquare); };
  if (bound_follows()) Append(events, ParseExpression().events);
  if (Accept(Sym::kColon) && bound_follows()) Append(events, ParseExpression().events);
}

// A Call's children are never visited by torch; a call of the bare name
// `__import__` becomes an ImportCall event (its arguments' literal shape).
Expr Parser::ParseCall(Expr callee) {
  uint32_t line = cur_.line;
  Advance();
  bool is_import = callee.node == Node::kName && callee.text == "__import__";
  Arguments args = ParseArguments(is_import);
  Expect(Sym::kRParen);
  Expr call;
  if (!is_import) return call;
  ImportCall event;
  event.line = line;
  auto to_arg = [](const Expr& e) {
    CallArg arg{ArgValueOf(e), std::nullopt};
    if (e.node == Node::kDisplay) {
      arg.elts.emplace();
      for (const Expr& elt : e.elts) arg.elts->push_back(ArgValueOf(elt));
    }
    return arg;
  };
  for (const Expr& e : args.positional) event.args.push_back(to_arg(e));
  for (const auto& [name, e] : args.keywords) event.keywords.emplace_back(std::string(name), to_arg(e));
  call.events.emplace_back(std::move(event));
  return call;
}

Parser::Arguments Parser::ParseArguments(bool want_literals) {
  Arguments out;
  ScopedFlag collect(want_elts_, want_literals);
  ArgumentOrder order;
  while (!At(Sym::kRParen)) {
    ParseArgument(out, want_literals, order);
    if (!Accept(Sym::kComma)) break;
  }
  if (order.bare_genexp && order.count > 1) Fail("Generator expression must be parenthesized");
  return out;
}

void Parser::ParseArgument(Arguments& out, bool want_literals, ArgumentOrder& order) {
  ++order.count;
  auto add_positional = [&](Expr e) {
    Append(out.positional_events, std::move(e.events));
    if (want_literals) out.positional.push_back(std::move(e));
  };
  if (Accept(Sym::kStar)) {
    if (order.double_star) Fail("iterable argument unpacking follows keyword argument unpacking");
    Expr starred = ParseExpression();
    starred.node = Node::kAstValue;
    add_positional(std::move(starred));
    return;
  }
  if (Accept(Sym::kDoubleStar)) {
    order.double_star = true;
    Expr value = ParseExpression();
    Append(out.keyword_events, std::move(value.events));
    if (want_literals) out.keywords.emplace_back("", std::move(value));
    return;
  }
  Expr e = ParseNamedExpression();
  if (e.node == Node::kName && Accept(Sym::kEqual)) {
    order.keyword = true;
    Expr value = ParseExpression();
    Append(out.keyword_events, std::move(value.events));
    if (want_literals) out.keywords.emplace_back(e.text, std::move(value));
    return;
  }
  if (order.double_star) Fail("positional argument follows keyword argument unpacking");
  if (order.keyword) Fail("positional argument follows keyword argument");
  if (At(Sym::kFor) || At(Sym::kAsync)) {
    order.bare_genexp = true;
    Expr genexp;
    genexp.events = std::move(e.events);
    Append(genexp.events, ParseComprehension());
    e = std::move(genexp);
  }
  add_positional(std::move(e));
}

void Parser::AddElement(Expr& display, Expr element) {
  Append(display.events, std::move(element.events));
  if (want_elts_) {
    element.elts.clear();
    display.elts.push_back(std::move(element));
  }
}

// An f-string replacement field, wrapped in parentheses as CPython does.
Expr Parser::ParseFStringField() {
  Expr e = ParseStarExpressions();
  ExpectKind(TokenKind::kNewline);
  if (!AtKind(TokenKind::kEndMarker)) FailSyntax();
  return e;
}

}  // namespace

std::vector<ImportEvent> ParseImportEvents(std::string_view source) {
  return Parser(source, 1, 0).ParseFile();
}

}  // namespace tpkg::py
