// py_import_parser.h: the import-relevant events of a Python source file,
// in the order torch's ast.NodeVisitor meets them (private to libtpkg).
//
// A recursive-descent parser over the whole Python 3.13 grammar (a superset:
// see import_scan.h for what it does not check; the parser itself is in
// py_parser.h). It builds no tree: each
// rule returns the events of its subtree already in ast field order, so the
// quirks of torch's visitor fall out of the grammar:
//   * a Call's events are dropped (visit_Call never visits children), except
//     a call whose callee is the bare name `__import__`, which yields one
//     ImportCall event describing its literal arguments;
//   * FunctionDef visits args, body, decorators, returns, type_params;
//     ClassDef bases, keywords, body, decorators, type_params; TypeAlias
//     type_params, value; `arguments` annotations, kw_defaults,
//     kwarg annotation, defaults; Dict all keys then all values; IfExp
//     test, body, orelse.
//
//   for (const ImportEvent& e : ParseImportEvents(source)) ...
//
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tpkg::py {

// `import a.b as c`: one event per alias.
struct ImportStmt {
  std::string module;  // "a.b"
  uint32_t line = 0;
};

// `from ..a import b, c` / `from . import *`.
struct ImportFromStmt {
  std::optional<std::string> module;  // nullopt for `from . import x`
  int level = 0;                      // leading dots
  std::vector<std::string> names;     // alias names; "*" for a star import
  uint32_t line = 0;
};

// What torch's visit_Call reads from one argument node: `node.value`
// (present on Constant, Attribute, Subscript, Starred, NamedExpr, Await,
// Yield, YieldFrom) and `node.elts` (List, Tuple, Set).
struct ArgValue {
  enum class Kind : uint8_t {
    kMissing,  // the node has no `.value` (Name, Call, BinOp, JoinedStr, ...)
    kStr,      // Constant str
    kInt,      // Constant int or bool (True is 1)
    kFloat,    // Constant float
    kOther,    // another constant (None, bytes, complex, ...), or an AST node
  };
  Kind kind = Kind::kMissing;
  bool truthy = true;  // bool(value), for kOther
  std::string text;    // kStr
  int64_t number = 0;  // kInt (saturated); kFloat: 1 if > 0 else 0
};

struct CallArg {
  ArgValue value;
  std::optional<std::vector<ArgValue>> elts;  // for List/Tuple/Set displays
};

// A direct `__import__(...)` call (one torch's visitor reaches).
struct ImportCall {
  std::vector<CallArg> args;                              // positional, Starred included
  std::vector<std::pair<std::string, CallArg>> keywords;  // name "" for **kwargs
  uint32_t line = 0;
};

using ImportEvent = std::variant<ImportStmt, ImportFromStmt, ImportCall>;

// Throws SyntaxError (py_tokenizer.h) on source it cannot parse. Expects
// UTF-8 without NUL bytes (the caller checks).
std::vector<ImportEvent> ParseImportEvents(std::string_view source);

}  // namespace tpkg::py
