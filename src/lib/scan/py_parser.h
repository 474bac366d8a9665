// py_parser.h: the recursive-descent parser behind ParseImportEvents()
// (private to libtpkg; see py_import_parser.h for what it computes).
//
// Expressions are parsed without building a tree: an Expr carries its
// subtree's events plus just enough about its root node for torch's
// visit_Call (is it the name `__import__`? a constant? a display with
// elements?). Every infix operator yields its operands' events in source
// order, so one flat loop parses `or`, `and`, `not`, comparisons and all
// arithmetic; only the constructs whose ast field order differs from the
// source order get their own handling.
//
// Split over py_parse_statements.cc, py_parse_expressions.cc,
// py_parse_strings.cc (literals and f-strings), py_parse_type_params.cc
// (PEP 695 generics and `type` statements) and py_arg_value.cc.
//
// Thread safety: a Parser is used by one thread for one source.
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scan/py_import_parser.h"
#include "scan/py_literal.h"
#include "scan/py_tokenizer.h"

namespace tpkg::py::internal {

// Brackets alone stop at 200 and f-strings at 149 (tokenizer); this bounds
// the other nestings (lambda defaults) and with them the parser's stack use.
inline constexpr int kMaxNesting = 300;

inline constexpr const char* kAsyncComprehension =
    "asynchronous comprehension outside of an asynchronous function";

// The import events of a subtree, in visit order. Most expressions hold
// none, and an empty list must cost nothing: destroying a
// std::vector<ImportEvent> (variants of strings) is not inlined, and that
// call for every expression's empty list took 7.7% of the scan (perf);
// a std::unique_ptr to it was not inlined either (6.4% of the scan's
// instructions, callgrind). So the list lives behind a plain pointer, null
// while empty, and only the null check is inline.
class Events {
 public:
  Events() noexcept = default;
  Events(Events&& other) noexcept : items_(std::exchange(other.items_, nullptr)) {}
  Events& operator=(Events&& other) noexcept {
    if (this != &other) {
      if (items_) Delete(items_);
      items_ = std::exchange(other.items_, nullptr);
    }
    return *this;
  }
  ~Events() {
    if (items_) [[unlikely]]
      Delete(items_);
  }

  bool empty() const { return !items_ || items_->empty(); }
  template <typename Event>
  void emplace_back(Event&& event) {
    if (!items_) items_ = new std::vector<ImportEvent>();
    items_->emplace_back(std::forward<Event>(event));
  }
  // Moves `more`'s events to the end of this list.
  void Append(Events&& more) {
    if (more.empty()) return;
    if (empty()) {
      *this = std::move(more);
      return;
    }
    items_->insert(items_->end(), std::make_move_iterator(more.items_->begin()),
                   std::make_move_iterator(more.items_->end()));
  }
  std::vector<ImportEvent> Release() && {
    return items_ ? std::move(*items_) : std::vector<ImportEvent>{};
  }

 private:
  [[gnu::noinline]] static void Delete(std::vector<ImportEvent>* items) { delete items; }

  std::vector<ImportEvent>* items_ = nullptr;  // owned
};

inline void Append(Events& dst, Events&& src) { dst.Append(std::move(src)); }

// The root node of an expression, as far as torch's visit_Call can tell
// nodes apart (`.value`, `.elts`, `.id`).
enum class Node : uint8_t {
  kName,    // Name: text is the identifier
  kStr,     // Constant str: text spans the string tokens
  kBytes,   // Constant bytes: text spans the string tokens
  kNumber,  // Constant int/float/complex: text is the token
  kTrue,
  kFalse,
  kNone,
  kEllipsis,
  kAttributeOrSubscript,  // has a `.value`, and may be an annotation target
  kAstValue,              // Starred, NamedExpr, Await, Yield x, YieldFrom
  kNoneValue,             // Yield without a value (`.value` is None)
  kDisplay,               // List, Tuple, Set (have `.elts`)
  kOther,                 // everything else: no `.value`, no `.elts`
};

struct Expr {
  // User-provided: without it GCC 12 cleared each new Expr whole with
  // `rep stos` before setting its members, and that instruction's start-up
  // cost made it the parser's hottest spot. Every member has its own
  // initializer or constructor.
  Expr() noexcept {}
  Events events;  // of the whole subtree, in visit order
  Node node = Node::kOther;
  std::string_view text;
  uint32_t line = 0;
  std::vector<Expr> elts;  // kDisplay elements, kept only for __import__ arguments
  // `(a).b`, `(a.b)[0]`: a trailer after a parenthesized Name, Attribute or
  // Subscript. CPython's annotated-assignment rule commits to the
  // parenthesized target once it matched, so this is no annotation target.
  bool trailer_after_grouped_target = false;
  // For the compile checks (CheckTarget): whether this is an assignment
  // target (a Name, Attribute or Subscript, or a tuple or list of targets
  // with at most one starred), whether it is a starred one (`*x`), and
  // whether a tuple or list holds one.
  bool target = false;
  bool starred = false;
  bool starred_inside = false;
  uint32_t bad_element_line = 0;  // of a tuple's or list's first element that is no target
};

// What `node.value` / `node.elts` give torch for an argument node.
ArgValue ArgValueOf(const Expr& e);

class Parser {
 public:
  // With `compile_checks`, also refuses some of what CPython's compiler
  // refuses after ast.parse accepted the source (FindCompileError,
  // tpkg/import_scan.h).
  explicit Parser(std::string_view source, bool compile_checks = false)
      : tok_(source), compile_checks_(compile_checks) {
    cur_ = tok_.Next();
  }
  Parser(const Parser&) = delete;  // scope_ points into the parser itself
  Parser& operator=(const Parser&) = delete;

  Events ParseFile();

 private:
  struct Arguments {
    Arguments() noexcept {}  // not zeroed with `rep stos`: see Expr
    Events positional_events;
    Events keyword_events;
    std::vector<Expr> positional;                             // only with want_literals
    std::vector<std::pair<std::string_view, Expr>> keywords;  // only with want_literals
  };
  struct Checkpoint {
    Tokenizer::State tokenizer;
    Token cur;
    std::optional<Token> next;
    size_t yields;       // yield_lines_.size()
    size_t async_comps;  // async_comprehension_lines_.size()
    size_t names;        // seen_names_.size()
  };
  // Where a display's first element starts: what a comprehension finds
  // after it belongs to the comprehension (compile checks).
  struct ElementStart {
    size_t yields;       // yield_lines_.size()
    size_t async_comps;  // async_comprehension_lines_.size()
    size_t names;        // seen_names_.size()
    uint32_t line;       // of the display's opening bracket
  };
  ElementStart StartElement(uint32_t line) const {
    return {yield_lines_.size(), async_comprehension_lines_.size(), seen_names_.size(), line};
  }
  template <typename T>
  class ScopedValue {
   public:
    ScopedValue(T& variable, T value) : variable_(variable), saved_(variable) { variable_ = value; }
    ~ScopedValue() { variable_ = saved_; }
    ScopedValue(const ScopedValue&) = delete;
    ScopedValue& operator=(const ScopedValue&) = delete;

   private:
    T& variable_;
    T saved_;
  };
  using ScopedFlag = ScopedValue<bool>;
  // A `nonlocal` name no body from its own outwards was found to bind yet.
  struct UnboundNonlocal {
    std::string_view name;
    uint32_t line;      // of its declaration (the first, when repeated)
    uint32_t body;      // Declarations::ordinal of the body that declares it
    uint32_t position;  // among that body's declarations
  };
  // The `global` and `nonlocal` declarations of one def, class or module
  // body, a def's parameters and the names it may bind: the part of
  // CPython's symbol table the compile checks need.
  struct Declarations {
    struct Directive {
      std::string_view name;
      uint32_t line;
      bool global;
    };
    std::vector<std::string_view> parameters;
    std::vector<Directive> directives;  // in source order, as CPython keeps them
    // A def's only: every name its body may bind, a superset of CPython's
    // locals: every Name of its assignment, `for`, `with` and `del` targets
    // (subscripts' too), every walrus target (of its comprehensions and
    // lambdas too), and the names a def, class, import, `except ... as` or
    // match pattern binds. A binding missed would refuse valid code; a name
    // too many only finds fewer errors.
    std::vector<std::string_view> mentioned;
    // Its own nonlocal names and those of the bodies inside it that no def
    // from there to here binds: the def around must (CheckNonlocalsBound).
    std::vector<UnboundNonlocal> unbound_nonlocals;
    // In the order CPython's symbol table analyses bodies (the order they
    // start in), which decides which error it reports first.
    uint32_t ordinal = 0;
  };
  // Where a statement or expression is, for the compile checks.
  struct Scope {
    bool function = false;        // in the body of a def or a lambda
    bool async_function = false;  // ... of an `async def`
    bool loop = false;            // in a for or while body of that function (or class, module)
    bool module = true;           // no def, lambda or class around
    Declarations* declarations = nullptr;  // of the enclosing def, class or module body
    // Run when its code runs: not an annotation under `from __future__ import
    // annotations` (a string then, though the compiler still refuses a yield
    // or await in it), nor Uncompiled code. Only evaluated calls check their
    // keywords.
    bool evaluated = true;
  };
  // Code that is never compiled (an assert under -O) or never evaluated (a
  // function's local annotations): nothing in it is refused.
  static constexpr Scope Uncompiled() { return Scope{true, true, true, false, nullptr, false}; }
  // A parameter, return or variable annotation where it is evaluated.
  Scope AnnotationScope() const {
    Scope annotation = scope_;
    if (future_annotations_) annotation.evaluated = false;
    return annotation;
  }
  // The body of a def (function) or class (!function) inside the current one.
  Scope BodyScope(bool function, bool is_async, Declarations* declarations) const {
    Scope body{};
    body.function = function;
    body.async_function = is_async;
    body.module = false;
    body.declarations = declarations;
    body.evaluated = scope_.evaluated;  // a lambda in an annotation
    return body;
  }
  Scope LoopBodyScope() const {
    Scope body = scope_;
    body.loop = true;
    return body;
  }
  class ScopeGuard {
   public:
    ScopeGuard(Parser& p, Scope next) : p_(p), saved_(p.scope_) { p_.scope_ = next; }
    ~ScopeGuard() { p_.scope_ = saved_; }
    ScopeGuard(const ScopeGuard&) = delete;
    ScopeGuard& operator=(const ScopeGuard&) = delete;

   private:
    Parser& p_;
    Scope saved_;
  };
  class OpenParen {  // counts parens_ for CheckAwait
   public:
    explicit OpenParen(Parser& p) : p_(p) { ++p_.parens_; }
    ~OpenParen() { --p_.parens_; }
    OpenParen(const OpenParen&) = delete;
    OpenParen& operator=(const OpenParen&) = delete;

   private:
    Parser& p_;
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
  // Inline: most calls find another token and return false at once.
  bool Accept(Sym s) {
    if (cur_.sym != s || s == Sym::kNone) return false;
    Advance();
    return true;
  }
  void Expect(Sym s);
  void ExpectKind(TokenKind k);
  const Token& PeekNext();
  std::string_view ExpectName();
  Checkpoint Save() const {
    return {tok_.Save(),         cur_, next_, yield_lines_.size(), async_comprehension_lines_.size(),
            seen_names_.size()};
  }
  void Restore(const Checkpoint& c);
  [[noreturn]] void Fail(const std::string& reason) const { throw SyntaxError{cur_.line, reason}; }
  [[noreturn]] void FailSyntax() const { Fail("invalid syntax"); }
  // The compile checks (compile_checks_ only).
  void CheckCompiles(bool ok, std::string_view reason, uint32_t line = 0) const {
    if (compile_checks_ && !ok) throw SyntaxError{line ? line : cur_.line, std::string(reason)};
  }
  void NoteStatementStart();  // for `from __future__`'s place; ends CheckAsyncComprehensions
  // Refuses the first async comprehension still pending (see
  // async_comprehension_lines_): at a statement's start, no comprehension
  // of the statement before can take it in any more.
  void CheckAsyncComprehensions() const;
  void CheckFutureImport(const ImportFromStmt& stmt);  // notes future_annotations_
  void CheckAwait() const;
  void CheckDeclaration(std::string_view name, uint32_t line, bool global) const;
  // A Name expression (its token's text) read or bound in the body being
  // parsed, for CheckDeclaration; how it binds is noted once known.
  // In the order CPython's symbol table names them (a read first).
  enum class NameUse : uint8_t { kRead, kAnnotated, kAssigned };
  void NoteName(std::string_view token);
  void NoteBinding(const Expr& target, NameUse use);
  void NoteBoundName(std::string_view token);
  void NotePatternName();
  // Whether names are noted here (see seen_names_): a def, class or module
  // body, in code that is evaluated, outside type-parameter scopes.
  bool NotingNames() const { return note_names_ && scope_.declarations && scope_.evaluated; }
  // At the end of a def or class body: its names go (their body with them).
  void ForgetNamesFrom(size_t start) { seen_names_.resize(start); }
  // A name the def being parsed (function_body_) may bind.
  void Mention(std::string_view token) {
    if (function_body_) function_body_->mentioned.push_back(token);
  }
  // Where a target starts: the Names parsed from then on are what it binds.
  size_t NamesSoFar() const { return names_parsed_.size(); }
  void MentionNamesFrom(size_t start) {
    for (size_t i = start; i < names_parsed_.size(); ++i) Mention(names_parsed_[i]);
  }
  // At the end of a def (function) or class body: what its nonlocal names
  // and those still unbound inside it leave to `outer`, the body around.
  void PassNonlocalsOut(Declarations& body, bool function, Declarations& outer);
  // At the end of the file: a nonlocal name no def around binds, as CPython's
  // symbol table reports the first (the first body, then its first name).
  void CheckNonlocalsBound() const;

  // Statements.
  Events ParseStatement();
  Events ParseSimpleStatements();
  Events ParseSimpleStatement();
  Events ParseExpressionStatement();
  void CheckAnnotationTarget(const Expr& target);
  // Compile checks: `e` where CPython's grammar wants an assignment (or,
  // with `del`, a deletion) target; an augmented assignment's is a single one.
  // Its Names are those parsed from NamesSoFar() `first_name` on.
  enum class TargetUse { kAssign, kDelete, kAugmented };
  void CheckTarget(const Expr& e, TargetUse use, size_t first_name);
  Expr ParseAssignedValue();
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
  Expr ParseWithTarget();
  Events ParseDecorated();
  Events ParseFunctionDef(Events decorators, bool is_async = false);
  Events ParseClassDef(Events decorators);
  Events ParseTypeParams();
  Events ParseTypeAlias();
  struct Parameters {
    Parameters() noexcept {}  // not zeroed with `rep stos`: see Expr
    Events annotations, kw_defaults, kwarg_annotation, defaults;
    bool keyword_only = false;
    bool seen_default = false;       // a positional parameter had a default
    bool bare_star_pending = false;  // `*,` not yet followed by a named parameter
    bool after_kwarg = false;
    std::vector<std::string_view> names;  // compile checks only: duplicates
  };
  // `names`: where to keep the parameters' names (compile checks only).
  Events ParseParameters(Sym closing, bool annotations,
                         std::vector<std::string_view>* names = nullptr);
  void ParseParameter(Parameters& params, bool annotations);
  void AddNamedParameter(Parameters& params);  // ExpectName, then AddParameterName
  void AddParameterName(Parameters& params, std::string_view name, uint32_t line) const;
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
  Events ParseFString();
  Events ParseReplacementField();
  void ParseFStringParts(Events& events);  // literal text and fields, appended
  void ParseConversion();
  Expr ParseParenthesized();
  Expr ParseList();
  Expr ParseBraces();
  Expr ParseDictRest(Events keys, Events values);
  void ParseDictEntry(Events& keys, Events& values);
  void CheckEscapes(const StringLiteral& s) const;
  Expr ParseYield();
  // The generators of a comprehension whose element (a dict's key and value)
  // was parsed from `element` on; `kind` ("list comprehension", ...) names
  // it when a yield is in it.
  Events ParseComprehension(const ElementStart& element, std::string_view kind);
  Events ParseSlices();
  void ParseSlice(Events& events);
  Expr ParseCall(Expr callee);
  struct ArgumentOrder {
    int count = 0;
    bool keyword = false;
    bool double_star = false;
    bool bare_genexp = false;
    std::vector<std::string_view> keywords;  // compile checks only: repeated ones
  };
  Arguments ParseArguments(bool want_literals);
  void ParseArgument(Arguments& out, bool want_literals, ArgumentOrder& order);
  void AddElement(Expr& display, Expr element);
  Expr Comprehension(Expr first, Sym closing, const ElementStart& element, std::string_view kind);

  Tokenizer tok_;
  Token cur_;
  std::optional<Token> next_;
  int depth_ = 0;
  bool want_elts_ = false;  // collecting display elements for __import__ arguments
  const bool compile_checks_;
  Declarations module_declarations_;
  Scope scope_{false, false, false, true, &module_declarations_};
  // Compile checks: the def whose body is being parsed, whose names are
  // noted (Mention); null in a class or module body, whose names bind
  // nothing a nested def sees.
  Declarations* function_body_ = nullptr;
  uint32_t bodies_begun_ = 0;  // Declarations::ordinal of the last def or class body begun
  // Compile checks: every Name expression parsed so far (NoteName), in order.
  std::vector<std::string_view> names_parsed_;
  // Compile checks: nonlocal names a `global` of a def around keeps from
  // any binding further out.
  std::vector<UnboundNonlocal> nonlocals_unbound_by_global_;
  int parens_ = 0;               // open `(` of groupings and calls (compile checks)
  // Compile checks: the line of each yield parsed so far, in source order,
  // but for those of a lambda's body once it ends (its own scope): a
  // comprehension looks for one in its parts (ParseComprehension).
  std::vector<uint32_t> yield_lines_;
  // Compile checks: the lines of the list, set and dict comprehensions that
  // are asynchronous (an `async for`, or such a comprehension in their own
  // parts) outside an async def, in source order. Each is an error unless a
  // comprehension around it takes it in: a generator expression (which may
  // be asynchronous anywhere) drops it, another comprehension becomes
  // asynchronous itself. The element of a display is parsed before it is
  // known to be a comprehension's, hence the list.
  std::vector<uint32_t> async_comprehension_lines_;
  // Compile checks: the Name expressions of the def, class and module bodies
  // being parsed, in source order, for a later `global` or `nonlocal` of
  // the same name in the same body (CPython refuses a name used or bound
  // before). Not kept: names in lambdas (their own scope, no declarations),
  // in comprehensions (taken out as they end, but for their first
  // iterable), in code never evaluated, in type-parameter scopes (PEP 695:
  // their own scope), and keyword argument names.
  struct SeenName {
    std::string_view token;  // into the source: identifies the Name
    const Declarations* body;
    NameUse use;
  };
  std::vector<SeenName> seen_names_;
  bool note_names_ = true;  // false in type-parameter scopes
  bool first_statement_ = true;  // compile checks: the docstring's place
  bool future_allowed_ = true;   // compile checks: only a docstring and __future__ so far
  bool future_annotations_ = false;  // compile checks: `from __future__ import annotations`
  bool raw_fstring_ = false;  // compile checks: the innermost f-string being parsed is raw
  // Compile checks: the first bad escape in the text of the innermost
  // f-string being parsed, refused once its end (and line) is reached.
  std::optional<std::string> fstring_escape_error_;
};

}  // namespace tpkg::py::internal
