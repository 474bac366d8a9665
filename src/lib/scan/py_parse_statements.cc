// py_parse_statements.cc: tokens and statements of the import parser (see py_parser.h).
#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "scan/py_parser.h"

namespace tpkg::py {
namespace internal {

// ------------------------------------------------------------------ tokens

void Parser::Advance() {
  if (next_) {
    cur_ = *next_;
    next_.reset();
  } else {
    // Constructed in place, which lets GCC pass &cur_ as the tokenizer's
    // return slot: assigning a returned token copied it with wide loads
    // just after the tokenizer's narrow stores, which stalled on every
    // token. (A trivial type: ending the old one's lifetime needs nothing.
    // std::construct_at would take the token by reference: a copy again.)
    static_assert(std::is_trivially_destructible_v<Token>);
    ::new (static_cast<void*>(&cur_)) Token(tok_.Next());
  }
}

const Token& Parser::PeekNext() {
  if (!next_) next_ = tok_.Next();
  return *next_;
}

void Parser::Restore(const Checkpoint& c) {
  tok_.Restore(c.tokenizer);
  // Constructed, not assigned: after an Advance() whose tokenizer threw
  // (the callers that catch come here), cur_ holds no live Token.
  std::construct_at(&cur_, c.cur);
  next_ = c.next;
  yield_lines_.resize(c.yields);
  async_comprehension_lines_.resize(c.async_comps);
  seen_names_.resize(c.names);
  fstring_escape_error_.reset();  // a statement's start: no f-string is open
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
    case TokenKind::kFStringStart: return true;
    case TokenKind::kOp:
      return At(Sym::kLParen) || At(Sym::kLSquare) || At(Sym::kLBrace) || At(Sym::kMinus) ||
             At(Sym::kPlus) || At(Sym::kTilde) || At(Sym::kStar) || At(Sym::kEllipsis);
    default: return false;
  }
}

// -------------------------------------------------------------- statements

Events Parser::ParseFile() {
  Events events;
  while (!AtKind(TokenKind::kEndMarker)) Append(events, ParseStatement());
  CheckAsyncComprehensions();
  CheckNonlocalsBound();
  return events;
}

// clang-format off
Events Parser::ParseStatement() {
  if (AtKind(TokenKind::kIndent)) Fail("unexpected indent");
  if (compile_checks_) NoteStatementStart();
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
      if (At(Sym::kDef)) return ParseFunctionDef({}, /*is_async=*/true);
      if (At(Sym::kFor)) {
        CheckCompiles(scope_.async_function, "'async for' outside async function");
        return ParseFor();
      }
      if (At(Sym::kWith)) {
        CheckCompiles(scope_.async_function, "'async with' outside async function");
        return ParseWith();
      }
      FailSyntax();
    default:
      break;
  }
  Events events;
  if (AtSoftKeyword("match") && TryParseMatch(events)) return events;
  return ParseSimpleStatements();
}
// clang-format on

Events Parser::ParseSimpleStatements() {
  Events events;
  bool first = true;
  do {
    if (compile_checks_ && !first) NoteStatementStart();  // after a `;`
    first = false;
    Append(events, ParseSimpleStatement());
  } while (Accept(Sym::kSemi) && !AtKind(TokenKind::kNewline));
  ExpectKind(TokenKind::kNewline);
  return events;
}

// clang-format off
Events Parser::ParseSimpleStatement() {
  switch (cur_.sym) {
    case Sym::kImport: return ParseImport();
    case Sym::kFrom: return ParseFromImport();
    case Sym::kBreak:
      CheckCompiles(scope_.loop, "'break' outside loop");
      Advance();
      return {};
    case Sym::kContinue:
      CheckCompiles(scope_.loop, "'continue' not properly in loop");
      Advance();
      return {};
    case Sym::kPass:
      Advance();
      return {};
    case Sym::kReturn:
      CheckCompiles(scope_.function, "'return' outside function");
      Advance();
      return AtExpressionStart() ? ParseStarExpressions().events : Events{};
    case Sym::kDel: {
      Advance();
      if (!AtExpressionStart()) return {};
      const size_t target_names = NamesSoFar();
      Expr targets = ParseStarExpressions();
      CheckTarget(targets, TargetUse::kDelete, target_names);
      return std::move(targets.events);
    }
    case Sym::kRaise: {
      Advance();
      if (!AtExpressionStart()) return {};
      Events events = ParseExpression().events;
      if (Accept(Sym::kFrom)) Append(events, ParseExpression().events);
      return events;
    }
    case Sym::kGlobal: case Sym::kNonlocal: {
      const bool global = At(Sym::kGlobal);
      CheckCompiles(global || !scope_.module, "nonlocal declaration not allowed at module level");
      Advance();
      do {
        const uint32_t line = cur_.line;
        const std::string_view name = ExpectName();
        if (compile_checks_) CheckDeclaration(name, line, global);
      } while (Accept(Sym::kComma));
      return {};
    }
    case Sym::kAssert: {
      // Not compiled at all under `python -O`: nothing in it is checked.
      ScopeGuard unchecked(*this, Uncompiled());
      Advance();
      Events events = ParseExpression().events;
      if (Accept(Sym::kComma)) Append(events, ParseExpression().events);
      return events;
    }
    default:
      if (AtSoftKeyword("type") && PeekNext().kind == TokenKind::kName &&
          PeekNext().sym == Sym::kNone)
        return ParseTypeAlias();
      return ParseExpressionStatement();
  }
}
// clang-format on

// Expr, Assign (targets then value), AugAssign, AnnAssign: all source order.
Events Parser::ParseExpressionStatement() {
  const size_t first_names = NamesSoFar();
  Expr first = At(Sym::kYield) ? ParseYield() : ParseStarExpressions();
  if (compile_checks_) {
    if (At(Sym::kEqual)) CheckTarget(first, TargetUse::kAssign, first_names);
    if (At(Sym::kAugAssign)) CheckTarget(first, TargetUse::kAugmented, first_names);
    // An expression statement of a bare `*x` (the value of an assignment: below).
    if (!At(Sym::kEqual) && !At(Sym::kColon))
      CheckCompiles(!first.starred, "can't use starred expression here", first.line);
  }
  Events events = std::move(first.events);
  if (At(Sym::kColon)) {
    if (compile_checks_) MentionNamesFrom(first_names);
    CheckAnnotationTarget(first);
    Advance();
    {
      // A function never evaluates its local annotations (`x: await y` compiles).
      std::optional<ScopeGuard> unchecked;
      if (scope_.function) unchecked.emplace(*this, Uncompiled());
      ScopeGuard annotation(*this, scope_.function ? scope_ : AnnotationScope());
      Append(events, ParseExpression().events);
    }
    if (Accept(Sym::kEqual)) Append(events, ParseAssignedValue().events);
  } else if (Accept(Sym::kAugAssign)) {
    Append(events, ParseAssignedValue().events);
  } else {
    while (Accept(Sym::kEqual)) {
      const size_t value_names = NamesSoFar();
      Expr value = ParseAssignedValue();
      if (compile_checks_ && At(Sym::kEqual)) CheckTarget(value, TargetUse::kAssign, value_names);
      Append(events, std::move(value.events));
    }
  }
  return events;
}

void Parser::CheckTarget(const Expr& e, TargetUse use, size_t first_name) {
  if (!compile_checks_) return;
  NoteBinding(e, NameUse::kAssigned);
  MentionNamesFrom(first_name);
  // CPython names the first element that is no target, else the whole.
  const uint32_t line = e.bad_element_line ? e.bad_element_line : e.line;
  const bool del = use == TargetUse::kDelete;
  if (e.node == Node::kName && e.text == "__debug__")
    throw SyntaxError{line ? line : cur_.line,
                      del ? "cannot delete __debug__" : "cannot assign to __debug__"};
  if (use == TargetUse::kAugmented) {
    CheckCompiles(e.node == Node::kName || e.node == Node::kAttributeOrSubscript,
                  "illegal expression for augmented assignment", line);
    return;
  }
  if (e.starred) CheckCompiles(del, "starred assignment target must be in a list or tuple", line);
  CheckCompiles(e.target && !(del && (e.starred || e.starred_inside)),
                del ? "cannot delete expression" : "cannot assign to expression", line);
}

// AnnAssign targets: a Name, an Attribute or a Subscript, as CPython's
// grammar has them (other assignment targets are not checked: import_scan.h).
void Parser::CheckAnnotationTarget(const Expr& target) {
  if (compile_checks_) NoteBinding(target, NameUse::kAnnotated);
  if (target.node == Node::kDisplay) Fail("only single target (not tuple) can be annotated");
  bool single = target.node == Node::kName || (target.node == Node::kAttributeOrSubscript &&
                                               !target.trailer_after_grouped_target);
  if (!single) Fail("illegal target for annotation");
  if (target.node == Node::kName && target.text == "__debug__")
    CheckCompiles(false, "cannot assign to __debug__", target.line);
}

// A bare `*x` is no value: only a tuple or list may hold one.
Expr Parser::ParseAssignedValue() {
  if (At(Sym::kYield)) return ParseYield();
  Expr value = ParseStarExpressions();
  CheckCompiles(!value.starred, "can't use starred expression here", value.line);
  return value;
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
    const std::string_view top = cur_.text;  // what `import a.b` binds
    std::string module = ParseDottedName();
    if (compile_checks_) Mention(top);
    if (Accept(Sym::kAs)) {
      const std::string_view alias = ExpectName();
      if (compile_checks_) Mention(alias);
    }
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
  if (At(Sym::kStar)) CheckCompiles(scope_.module, "import * only allowed at module level");
  if (Accept(Sym::kStar)) {
    stmt.names.emplace_back("*");
  } else if (Accept(Sym::kLParen)) {
    ParseImportNames(stmt.names, true);
    Expect(Sym::kRParen);
  } else {
    ParseImportNames(stmt.names, false);
  }
  // Only an absolute one: 3.11 takes `from .__future__` for one too, 3.13 does
  // not (leaving it out errs towards accepting).
  if (compile_checks_ && stmt.level == 0 && stmt.module == "__future__") {
    CheckFutureImport(stmt);
  } else if (compile_checks_) {
    future_allowed_ = false;  // NoteStatementStart left a `from` to decide here
  }
  Events events;
  events.emplace_back(std::move(stmt));
  return events;
}

void Parser::ParseImportNames(std::vector<std::string>& names, bool parenthesized) {
  do {
    if (parenthesized && At(Sym::kRParen) && !names.empty()) break;  // trailing comma
    std::string_view bound = ExpectName();
    names.emplace_back(bound);
    if (Accept(Sym::kAs)) bound = ExpectName();
    if (compile_checks_) Mention(bound);
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
  {
    ScopeGuard body(*this, LoopBodyScope());
    Append(events, ParseBlock());
  }
  if (Accept(Sym::kElse)) Append(events, ParseBlock());  // not in the loop: break leaves it
  return events;
}

Events Parser::ParseFor() {
  Advance();
  const size_t target_names = NamesSoFar();
  Expr targets = ParseTargets();
  CheckTarget(targets, TargetUse::kAssign, target_names);
  Events events = std::move(targets.events);
  Expect(Sym::kIn);
  Append(events, ParseStarExpressions().events);
  {
    ScopeGuard body(*this, LoopBodyScope());
    Append(events, ParseBlock());
  }
  if (Accept(Sym::kElse)) Append(events, ParseBlock());
  return events;
}

Events Parser::ParseTry() {
  Advance();
  Events events = ParseBlock();
  bool handlers = false, plain = false, star = false;
  while (Accept(Sym::kExcept)) {
    handlers = true;
    (Accept(Sym::kStar) ? star : plain) = true;  // except* (3.11)
    if (plain && star) Fail("cannot have both 'except' and 'except*' on the same 'try'");
    if (!At(Sym::kColon)) {
      Append(events, ParseExpression().events);
      if (Accept(Sym::kAs)) NoteBoundName(ExpectName());
    } else if (star) {
      Fail("expected one or more exception types");
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
      if (Accept(Sym::kAs)) Append(events, ParseWithTarget().events);
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
    if (Accept(Sym::kAs)) Append(events, ParseWithTarget().events);
  } while (Accept(Sym::kComma));
  return events;
}

Expr Parser::ParseWithTarget() {
  const size_t target_names = NamesSoFar();
  Expr target = ParseStarTarget();
  CheckTarget(target, TargetUse::kAssign, target_names);
  return target;
}

Events Parser::ParseDecorated() {
  Events decorators;
  while (Accept(Sym::kAt)) {
    Append(decorators, ParseNamedExpression().events);
    ExpectKind(TokenKind::kNewline);
  }
  if (At(Sym::kClass)) return ParseClassDef(std::move(decorators));
  const bool is_async = Accept(Sym::kAsync);
  return ParseFunctionDef(std::move(decorators), is_async);
}

// FunctionDef fields: args, body, decorator_list, returns, type_params.
// Parameters, defaults and annotations belong to the enclosing scope.
Events Parser::ParseFunctionDef(Events decorators, bool is_async) {
  Expect(Sym::kDef);
  NoteBoundName(ExpectName());
  Events type_params;
  const bool generic = At(Sym::kLSquare);
  if (generic) type_params = ParseTypeParams();
  // A generic def's annotations are in its type parameters' scope (PEP 695):
  // no names of the body around (its defaults neither, which errs towards
  // accepting).
  std::optional<ScopedFlag> header_names;
  if (generic) header_names.emplace(note_names_, false);
  Expect(Sym::kLParen);
  Declarations declarations;
  Events events = ParseParameters(Sym::kRParen, true, &declarations.parameters);
  Expect(Sym::kRParen);
  Events returns;
  if (Accept(Sym::kArrow)) {
    ScopeGuard annotation(*this, AnnotationScope());
    returns = ParseExpression().events;
  }
  header_names.reset();
  {
    const size_t names = seen_names_.size();
    declarations.ordinal = ++bodies_begun_;
    const ScopedValue<Declarations*> noting(function_body_,
                                            compile_checks_ ? &declarations : nullptr);
    ScopeGuard body(*this, BodyScope(/*function=*/true, is_async, &declarations));
    Append(events, ParseBlock());
    ForgetNamesFrom(names);
  }
  if (compile_checks_ && scope_.declarations)
    PassNonlocalsOut(declarations, /*function=*/true, *scope_.declarations);
  Append(events, std::move(decorators));
  Append(events, std::move(returns));
  Append(events, std::move(type_params));
  return events;
}

// ClassDef fields: bases, keywords, body, decorator_list, type_params.
Events Parser::ParseClassDef(Events decorators) {
  Expect(Sym::kClass);
  NoteBoundName(ExpectName());
  Events type_params;
  const bool generic = At(Sym::kLSquare);
  if (generic) type_params = ParseTypeParams();
  Events events;
  if (Accept(Sym::kLParen)) {
    // A generic class's bases are in its type parameters' scope (PEP 695).
    const ScopedFlag base_names(note_names_, note_names_ && !generic);
    Arguments args = ParseArguments(false);
    Expect(Sym::kRParen);
    events = std::move(args.positional_events);
    Append(events, std::move(args.keyword_events));
  }
  Declarations declarations;
  {
    const size_t names = seen_names_.size();
    declarations.ordinal = ++bodies_begun_;
    const ScopedValue<Declarations*> noting(function_body_, nullptr);
    ScopeGuard body(*this, BodyScope(/*function=*/false, /*is_async=*/false, &declarations));
    Append(events, ParseBlock());
    ForgetNamesFrom(names);
  }
  if (compile_checks_ && scope_.declarations)
    PassNonlocalsOut(declarations, /*function=*/false, *scope_.declarations);
  Append(events, std::move(decorators));
  Append(events, std::move(type_params));
  return events;
}

// `arguments` fields: posonlyargs, args, vararg, kwonlyargs (their
// annotations, in source order), kw_defaults, kwarg (annotation), defaults.
Events Parser::ParseParameters(Sym closing, bool annotations,
                               std::vector<std::string_view>* names) {
  Parameters params;
  while (!At(closing)) {
    if (params.after_kwarg) Fail("arguments cannot follow var-keyword argument");
    ParseParameter(params, annotations);
    if (!Accept(Sym::kComma)) break;
  }
  if (params.bare_star_pending) Fail("named arguments must follow bare *");
  if (names) *names = std::move(params.names);
  Append(params.annotations, std::move(params.kw_defaults));
  Append(params.annotations, std::move(params.kwarg_annotation));
  Append(params.annotations, std::move(params.defaults));
  return std::move(params.annotations);
}

void Parser::ParseParameter(Parameters& params, bool annotations) {
  if (At(Sym::kBinary) && cur_.text == "/") {
    Advance();
  } else if (Accept(Sym::kStar)) {
    if (params.keyword_only) Fail("* argument may appear only once");
    params.keyword_only = true;
    params.bare_star_pending = !AtKind(TokenKind::kName);
    if (params.bare_star_pending) return;
    AddNamedParameter(params);
    if (annotations && Accept(Sym::kColon)) {
      ScopeGuard annotation(*this, AnnotationScope());
      Append(params.annotations, ParseStarExpression().events);
    }
  } else if (Accept(Sym::kDoubleStar)) {
    if (params.bare_star_pending) Fail("named arguments must follow bare *");
    params.after_kwarg = true;
    AddNamedParameter(params);
    if (annotations && Accept(Sym::kColon)) {
      ScopeGuard annotation(*this, AnnotationScope());
      params.kwarg_annotation = ParseExpression().events;
    }
  } else {
    AddNamedParameter(params);
    params.bare_star_pending = false;
    if (annotations && Accept(Sym::kColon)) {
      ScopeGuard annotation(*this, AnnotationScope());
      Append(params.annotations, ParseExpression().events);
    }
    if (Accept(Sym::kEqual)) {
      Append(params.keyword_only ? params.kw_defaults : params.defaults, ParseExpression().events);
      params.seen_default |= !params.keyword_only;
    } else if (params.seen_default && !params.keyword_only) {
      Fail("non-default argument follows default argument");
    }
  }
}

void Parser::AddNamedParameter(Parameters& params) {
  const uint32_t line = cur_.line;  // CPython names the line of the second spelling
  AddParameterName(params, ExpectName(), line);
}

void Parser::AddParameterName(Parameters& params, std::string_view name, uint32_t line) const {
  if (!compile_checks_) return;
  for (std::string_view seen : params.names)
    CheckCompiles(seen != name,
                  "duplicate argument '" + std::string(name) + "' in function definition", line);
  params.names.push_back(name);
}

// CPython: a __future__ import only after the module's docstring and other
// __future__ imports (comments and blank lines aside). A statement that is
// neither ends the place where they may be.
void Parser::NoteStatementStart() {
  CheckAsyncComprehensions();
  if (!future_allowed_) return;
  const bool from_import = At(Sym::kFrom);  // ParseFromImport tells whether a __future__ one
  // A str literal first (bytes are no docstring), maybe in parentheses. Read
  // at its first token: `"a" + b` or `(1)` pass for one, which errs towards
  // accepting.
  const bool docstring =
      first_statement_ &&
      (At(Sym::kLParen) || (AtKind(TokenKind::kString) &&
                            cur_.text.find_first_of("bB") > cur_.text.find_first_of("'\"")));
  first_statement_ = false;
  if (!from_import && !docstring) future_allowed_ = false;
}

void Parser::CheckFutureImport(const ImportFromStmt& stmt) {
  CheckCompiles(future_allowed_, "from __future__ imports must occur at the beginning of the file",
                stmt.line);
  // Python 3.7 to 3.13 know the same features.
  static constexpr std::string_view kFeatures[] = {
      "nested_scopes",  "generators",       "division",       "absolute_import", "with_statement",
      "print_function", "unicode_literals", "barry_as_FLUFL", "generator_stop",  "annotations"};
  for (const std::string& name : stmt.names) {
    CheckCompiles(name != "braces", "not a chance", stmt.line);
    if (name == "annotations" && future_allowed_) future_annotations_ = true;
    CheckCompiles(
        std::find(std::begin(kFeatures), std::end(kFeatures), name) != std::end(kFeatures),
        "future feature " + name + " is not defined", stmt.line);
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
    while (Accept(Sym::kComma) && !At(Sym::kColon))
      Append(events, ParseStarNamedExpression().events);
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

// Patterns hold no calls (no events): skip them to the guard or the colon,
// noting their names for the compile checks.
Events Parser::ParseCaseBlock() {
  if (!AtSoftKeyword("case")) FailSyntax();
  Advance();
  int depth = 0;
  bool any = false;
  bool after_dot = false;
  while (depth > 0 || (!At(Sym::kIf) && !At(Sym::kColon))) {
    if (AtKind(TokenKind::kNewline) || AtKind(TokenKind::kEndMarker)) FailSyntax();
    if (At(Sym::kLParen) || At(Sym::kLSquare) || At(Sym::kLBrace)) ++depth;
    if (At(Sym::kRParen) || At(Sym::kRSquare) || At(Sym::kRBrace)) --depth;
    if (compile_checks_ && AtKind(TokenKind::kName) && cur_.sym == Sym::kNone && !after_dot)
      NotePatternName();
    after_dot = At(Sym::kDot);
    Advance();
    any = true;
  }
  if (!any) FailSyntax();
  Events events;
  if (Accept(Sym::kIf)) events = ParseNamedExpression().events;
  Append(events, ParseBlock());
  return events;
}

// A pattern's Name (not after a dot): the start of a value (`a.b`) or class
// (`C(...)`) pattern reads it, a class pattern's keyword (`x=`) is no name,
// any other is a capture, which binds (`_` is the wildcard).
void Parser::NotePatternName() {
  const Sym next = PeekNext().sym;
  if (next == Sym::kDot || next == Sym::kLParen) {
    NoteName(cur_.text);
  } else if (next != Sym::kEqual && cur_.text != "_") {
    NoteBoundName(cur_.text);
  }
}

}  // namespace internal

std::vector<ImportEvent> ParseImportEvents(std::string_view source) {
  return internal::Parser(source).ParseFile().Release();
}

}  // namespace tpkg::py
