// py_parse_expressions.cc: expressions of the import parser (see py_parser.h).
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "scan/py_parser.h"

namespace tpkg::py::internal {
namespace {

// What a comprehension leaves of `items` noted from `start` on: those of its
// first iterable, [first, after_first), which runs in the scope around it;
// the others were its own. Returns how many it dropped.
template <typename Item>
size_t KeepFirstIterables(std::vector<Item>& items, size_t start, size_t first,
                          size_t after_first) {
  const size_t dropped = (items.size() - after_first) + (first - start);
  const auto at = [&items](size_t i) { return items.begin() + static_cast<std::ptrdiff_t>(i); };
  items.erase(at(after_first), items.end());
  items.erase(at(start), at(first));
  return dropped;
}

}  // namespace

// ------------------------------------------------------------- expressions

Expr Parser::ParseStarExpressions() {
  Expr first = ParseStarExpression();
  if (!At(Sym::kComma)) return first;
  Expr tuple;
  tuple.node = Node::kDisplay;
  tuple.target = true;
  tuple.line = first.line;
  AddElement(tuple, std::move(first));
  while (Accept(Sym::kComma) && AtExpressionStart()) AddElement(tuple, ParseStarExpression());
  return tuple;
}

Expr Parser::ParseStarExpression() {
  if (!Accept(Sym::kStar)) return ParseExpression();
  Expr starred = ParseInfix();
  starred.node = Node::kAstValue;
  starred.starred = true;
  starred.starred_inside = false;
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
  if (compile_checks_) {
    NoteBinding(e, NameUse::kAssigned);
    Mention(e.text);  // in a comprehension, the def around binds it
  }
  Expr named = ParseExpression();
  named.node = Node::kAstValue;
  named.elts.clear();
  named.target = named.starred = named.starred_inside = false;
  return named;
}

// lambda and conditional expressions, as a loop so that chains of them do
// not recurse: Lambda visits args then body; IfExp test, body, orelse.
Expr Parser::ParseExpression() {
  NestingGuard guard(*this);
  Expr chain;
  bool first = true;
  // A lambda's body is the rest of this chain (lambda binds loosest): its
  // own scope, whose yields are no comprehension's around it.
  std::optional<ScopeGuard> lambda_body;
  struct ForgetYields {
    ForgetYields(std::vector<uint32_t>& l, size_t k) : lines(l), keep(k) {}  // clang: no P0960
    ~ForgetYields() { lines.resize(keep); }
    std::vector<uint32_t>& lines;
    size_t keep;
  };
  std::optional<ForgetYields> lambda_yields;
  // An async comprehension noted in a lambda's body is refused there: a
  // lambda is never asynchronous, whatever comprehension is around it.
  std::optional<size_t> lambda_async_comps;
  const auto end_lambda = [&] {
    if (lambda_async_comps && async_comprehension_lines_.size() > *lambda_async_comps)
      throw SyntaxError{async_comprehension_lines_[*lambda_async_comps], kAsyncComprehension};
  };
  for (;;) {
    if (Accept(Sym::kLambda)) {
      Append(chain.events, ParseParameters(Sym::kColon, false));
      Expect(Sym::kColon);
      if (compile_checks_ && !lambda_body) {
        lambda_body.emplace(*this, BodyScope(/*function=*/true, /*is_async=*/false, nullptr));
        lambda_yields.emplace(yield_lines_, yield_lines_.size());
        lambda_async_comps = async_comprehension_lines_.size();
      }
    } else {
      Expr body = ParseInfix();
      if (!Accept(Sym::kIf)) {
        end_lambda();
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
    if (operands++ == 0)
      result = std::move(operand);
    else
      Append(result.events, std::move(operand.events));
  } while (AcceptInfixOperator(stop_at_in));
  if (operands > 1 || prefixed) {
    result.node = Node::kOther;
    result.elts.clear();
    result.target = result.starred_inside = false;
    result.bad_element_line = 0;
  }
  return result;
}

// clang-format off
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
// clang-format on

// Assignment targets of `for` and comprehensions: stop before `in`.
Expr Parser::ParseTargets() {
  Expr first = ParseStarTarget();
  if (!At(Sym::kComma)) return first;
  Expr tuple;
  tuple.node = Node::kDisplay;
  tuple.target = true;
  tuple.line = first.line;
  AddElement(tuple, std::move(first));
  while (Accept(Sym::kComma) && !At(Sym::kIn) && !At(Sym::kEqual))
    AddElement(tuple, ParseStarTarget());
  return tuple;
}

Expr Parser::ParseStarTarget() {
  const bool star = Accept(Sym::kStar);
  Expr e = ParseInfix(true);
  if (star) {
    e.starred = true;
    e.starred_inside = false;
  }
  return e;
}

// `await` outside an `async def`. Inside parentheses or a call it may be in
// a generator expression, which the await makes asynchronous: allowed
// anywhere (the element is parsed before the `for` tells), so not checked.
void Parser::CheckAwait() const {
  if (parens_ > 0) return;
  CheckCompiles(scope_.async_function,
                scope_.function ? "'await' outside async function" : "'await' outside function");
}

Expr Parser::ParsePrimary() {
  if (At(Sym::kAwait)) CheckAwait();
  bool awaited = Accept(Sym::kAwait);
  bool parenthesized = At(Sym::kLParen);
  Expr e = ParseAtom();
  bool grouped_target =
      parenthesized && (e.node == Node::kName || e.node == Node::kAttributeOrSubscript);
  e.trailer_after_grouped_target = false;
  for (;;) {
    if (Accept(Sym::kDot)) {
      ExpectName();
      e.node = Node::kAttributeOrSubscript;
      e.target = true;
    } else if (At(Sym::kLParen)) {
      e = ParseCall(std::move(e));
      e.target = false;
    } else if (Accept(Sym::kLSquare)) {
      Append(e.events, ParseSlices());
      Expect(Sym::kRSquare);
      e.node = Node::kAttributeOrSubscript;
      e.target = true;
    } else {
      break;
    }
    e.elts.clear();
    e.starred_inside = false;
    e.bad_element_line = 0;
    e.trailer_after_grouped_target = grouped_target;
  }
  if (awaited) {
    e.node = Node::kAstValue;
    e.target = e.starred_inside = false;
  }
  return e;
}

// clang-format off
Expr Parser::ParseAtom() {
  Expr e;
  e.line = cur_.line;
  e.text = cur_.text;
  switch (cur_.kind) {
    case TokenKind::kName:
      switch (cur_.sym) {
        case Sym::kNone:
          e.node = Node::kName;
          e.target = e.text != "__debug__";
          if (compile_checks_) NoteName(e.text);
          break;
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
    case TokenKind::kFStringStart:
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
// clang-format on

Expr Parser::ParseParenthesized() {
  OpenParen open(*this);
  const uint32_t line = cur_.line;
  Advance();
  Expr tuple;
  tuple.node = Node::kDisplay;
  tuple.target = true;  // `() = []` unpacks nothing
  tuple.line = line;
  if (Accept(Sym::kRParen)) return tuple;
  if (At(Sym::kYield)) {
    Expr y = ParseYield();
    Expect(Sym::kRParen);
    return y;
  }
  bool starred = At(Sym::kStar);
  const ElementStart element = StartElement(line);
  Expr first = ParseStarNamedExpression();
  if (At(Sym::kFor) || At(Sym::kAsync))
    return Comprehension(std::move(first), Sym::kRParen, element, "generator expression");
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
  const uint32_t line = cur_.line;
  Advance();
  Expr list;
  list.node = Node::kDisplay;
  list.target = true;
  list.line = line;
  if (Accept(Sym::kRSquare)) return list;
  const ElementStart element = StartElement(line);
  Expr first = ParseStarNamedExpression();
  if (At(Sym::kFor) || At(Sym::kAsync))
    return Comprehension(std::move(first), Sym::kRSquare, element, "list comprehension");
  AddElement(list, std::move(first));
  while (Accept(Sym::kComma) && !At(Sym::kRSquare)) AddElement(list, ParseStarNamedExpression());
  Expect(Sym::kRSquare);
  return list;
}

// Dict and set displays and comprehensions. Dict visits all keys, then all values.
Expr Parser::ParseBraces() {
  const uint32_t line = cur_.line;
  Advance();
  Events keys, values;
  if (Accept(Sym::kRBrace)) return Expr{};
  if (Accept(Sym::kDoubleStar)) {
    values = ParseInfix().events;
    return ParseDictRest(std::move(keys), std::move(values));
  }
  const ElementStart element = StartElement(line);
  Expr first = ParseStarNamedExpression();
  if (Accept(Sym::kColon)) {
    Expr value = ParseExpression();
    if (At(Sym::kFor) || At(Sym::kAsync)) {  // DictComp: key, value, generators
      Append(first.events, std::move(value.events));
      return Comprehension(std::move(first), Sym::kRBrace, element, "dict comprehension");
    }
    return ParseDictRest(std::move(first.events), std::move(value.events));
  }
  if (At(Sym::kFor) || At(Sym::kAsync))
    return Comprehension(std::move(first), Sym::kRBrace, element, "set comprehension");
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

Expr Parser::Comprehension(Expr first, Sym closing, const ElementStart& element,
                           std::string_view kind) {
  CheckCompiles(!first.starred, "iterable unpacking cannot be used in comprehension", first.line);
  Expr comp;
  comp.events = std::move(first.events);
  Append(comp.events, ParseComprehension(element, kind));
  Expect(closing);
  return comp;
}

// A comprehension is a scope of its own where a yield is refused, but for
// its first iterable, which runs in the scope around it. CPython's symbol
// table meets the generators' parts before the element, and names the
// first yield it meets. Its asynchronous comprehensions are taken in the
// same way (async_comprehension_lines_).
Events Parser::ParseComprehension(const ElementStart& element, std::string_view kind) {
  const size_t element_end = yield_lines_.size();
  std::optional<size_t> inside;  // where the yields after the first iterable start
  // The async comprehensions and names of the first iterable:
  // [first_async, after_first_async), [first_name, after_first_name).
  std::optional<size_t> first_async, after_first_async, first_name, after_first_name;
  bool is_async = false;
  Events events;
  while (At(Sym::kFor) || At(Sym::kAsync)) {
    is_async |= Accept(Sym::kAsync);
    Expect(Sym::kFor);
    Expr targets = ParseTargets();
    // Its names bind in the comprehension only: none for the def around.
    CheckTarget(targets, TargetUse::kAssign, /*first_name=*/NamesSoFar());
    Append(events, std::move(targets.events));
    Expect(Sym::kIn);
    if (!first_async) first_async = async_comprehension_lines_.size();
    if (!first_name) first_name = seen_names_.size();
    Append(events, ParseInfix().events);
    if (!after_first_async) after_first_async = async_comprehension_lines_.size();
    if (!after_first_name) after_first_name = seen_names_.size();
    if (!inside) inside = yield_lines_.size();
    while (Accept(Sym::kIf)) Append(events, ParseInfix().events);
  }
  if (compile_checks_) {
    const std::string reason = "'yield' inside " + std::string(kind);
    if (*inside < yield_lines_.size()) throw SyntaxError{yield_lines_[*inside], reason};
    if (element.yields < element_end) throw SyntaxError{yield_lines_[element.yields], reason};
    // It takes in the async comprehensions and names of its own parts.
    is_async |= KeepFirstIterables(async_comprehension_lines_, element.async_comps, *first_async,
                                   *after_first_async) > 0;
    KeepFirstIterables(seen_names_, element.names, *first_name, *after_first_name);
    // In an async def (or code never compiled) any comprehension may be
    // asynchronous; elsewhere only a generator expression.
    const bool allowed = (scope_.async_function && scope_.function) || !scope_.evaluated;
    if (is_async && kind != "generator expression" && !allowed)
      async_comprehension_lines_.push_back(element.line);
  }
  return events;
}

void Parser::CheckAsyncComprehensions() const {
  if (!async_comprehension_lines_.empty())
    throw SyntaxError{async_comprehension_lines_.front(), kAsyncComprehension};
}

Expr Parser::ParseYield() {
  CheckCompiles(scope_.function, "'yield' outside function");
  if (compile_checks_) yield_lines_.push_back(cur_.line);
  Expect(Sym::kYield);
  Expr y;
  if (At(Sym::kFrom)) {
    // Not in code never compiled or evaluated (Uncompiled says "async" to
    // accept an await there).
    CheckCompiles(!scope_.async_function || !scope_.evaluated,
                  "'yield from' inside async function");
  }
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
  auto bound_follows = [this] {
    return !At(Sym::kColon) && !At(Sym::kComma) && !At(Sym::kRSquare);
  };
  if (bound_follows()) Append(events, ParseExpression().events);
  if (Accept(Sym::kColon) && bound_follows()) Append(events, ParseExpression().events);
}

// A Call's children are never visited by torch; a call of the bare name
// `__import__` becomes an ImportCall event (its arguments' literal shape).
Expr Parser::ParseCall(Expr callee) {
  uint32_t line = cur_.line;
  Advance();
  bool is_import = callee.node == Node::kName && callee.text == "__import__";
  OpenParen open(*this);
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
  for (const auto& [name, e] : args.keywords)
    event.keywords.emplace_back(std::string(name), to_arg(e));
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
  const ElementStart element = StartElement(cur_.line);
  Expr e = ParseNamedExpression();
  if (e.node == Node::kName && Accept(Sym::kEqual)) {
    order.keyword = true;
    // A keyword's name is no Name expression.
    if (!seen_names_.empty() && seen_names_.back().token.data() == e.text.data())
      seen_names_.pop_back();
    if (compile_checks_ && scope_.evaluated) {
      for (std::string_view seen : order.keywords)
        CheckCompiles(seen != e.text, "keyword argument repeated: " + std::string(e.text), e.line);
      order.keywords.push_back(e.text);
    }
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
    Append(genexp.events, ParseComprehension(element, "generator expression"));
    e = std::move(genexp);
  }
  add_positional(std::move(e));
}

void Parser::AddElement(Expr& display, Expr element) {
  if (element.starred) {
    if (display.starred_inside) display.target = false;  // two starred: no target
    display.starred_inside = true;
  }
  if (!element.target && display.bad_element_line == 0)
    display.bad_element_line = element.bad_element_line ? element.bad_element_line : element.line;
  display.target = display.target && element.target;
  Append(display.events, std::move(element.events));
  if (want_elts_) {
    element.elts.clear();
    display.elts.push_back(std::move(element));
  }
}

}  // namespace tpkg::py::internal
