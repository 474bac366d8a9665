// import_scan.h: which modules a Python source file imports, as torch.package sees it.
//
// ScanImports() reproduces torch's find_files_source_depends_on(src,
// package) (torch/package/find_file_dependencies.py, the same visitor in
// 1.13 and 2.6) without Python: a tokenizer and a recursive-descent parser
// for the grammar of Python 3.8 to 3.13 (that is, 3.13's, which accepts all
// the older ones) that compute, for every import statement and every
// `__import__(...)` call, the (module, attribute) candidates torch's
// ast.NodeVisitor records, in the same order. Strings and comments never
// count; imports inside functions, classes, `if`, `try`, `with`, `match`,
// f-string replacement fields, type parameters and after `;` do. Newer
// syntax is accepted whatever Python runs beside it: a package written for
// 3.12+ scans the same on a machine with 3.11.
//
//   auto refs = tpkg::ScanImports("from . import util\nimport numpy as np\n",
//                                 tpkg::PackageOf("corpus_models.model", false));
//   // {("corpus_models", "util"), ("numpy", nullopt)}
//
// What torch records (doc/format.md §6.3), for package "p.q":
//
//   source                                  references
//   import a.b as c, d                      (a.b, -) (d, -)
//   from a import b, c                      (a, b) (a, c)
//   from a import *                         (a, -)
//   from . import x / from ..m import y     (p.q, x) / (p.m, y)
//   __import__("a.b.c")                     (a.b.c, -) (a.b, -)     parent, not top level
//   __import__("a.b", fromlist=["x"])       (a.b, x)
//   __import__("m", g, l, ["x"], 1)         (p.q.m, x)
//   __import__("a.b", g, l, [], 1)          (a.b, -) (p.q.a, -)     only the parent is relative
//   __import__(name) / importlib...         nothing (non-literal arguments are ignored)
//   f(__import__("a"))                      nothing: torch's visit_Call never visits a call's
//   __import__("a").b()                     children, so an __import__ anywhere inside another
//   __import__("a")("b")                    call (arguments or callee) is not seen
//   m = __import__("a"); __import__("a").b  (a, -)
//   x.__import__("a")                       nothing (only a bare name `__import__`)
//
// The order is torch's (ast field order, not always source order): decorators
// after the body they decorate, a function's return annotation after them and
// its type parameters (PEP 695: bound, then default) last, a class's type
// parameters after its decorators, a `type` statement's parameters before its
// value, class keywords after all bases, parameter annotations before kw-only defaults
// before positional defaults, dict keys before dict values, `a if t else b`
// as t, a, b. Duplicates keep their first position.
//
// Documented residual differences (the only ones the differential tests allow):
//   * torch records entries whose module or attribute is not a str when an
//     `__import__` argument is a non-str literal or an expression with a
//     `.value` field: `__import__(info.name)` records the ast.Name node
//     itself (8 files of Debian's Python tree do this). Such entries can
//     never be imported (the exporter drops them), have no ImportRef form,
//     and are omitted. With a positive level and a truthy non-str module,
//     torch formats "<package>.<repr>" strings: omitted as well.
//   * identifiers are not NFKC-normalized (`import ｏｓ` stays as written,
//     where CPython's parser turns it into `os`).
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tpkg {

// One candidate, torch's (module, attr-or-None): `attr` may name a submodule
// (`from pkg import sub`), which the exporter tries first.
struct ImportRef {
  std::string module;
  std::optional<std::string> name;
  friend bool operator==(const ImportRef&, const ImportRef&) = default;
};

// Exactly torch.package's find_files_source_depends_on(src, package):
// ordered, unique. `source` is a module's bytes: UTF-8 (a leading BOM is
// skipped), or, when they are not valid UTF-8, in the encoding a PEP 263
// coding declaration names, as torch's exporter (through linecache) and its
// importer (compiling the bytes) read them. `package` is the package the
// module lives in: see PackageOf().
//
// Throws Error(kInvalidArgument, "line N: reason") on source the parser
// refuses (callers prefix the file name), and "line N: attempted relative
// import beyond top-level package" for a relative `from` import that climbs
// above `package` (torch raises the same ValueError). A relative `__import__`
// that climbs too far is silently dropped, as torch does.
//
// Syntax checking: the tokenizer is complete (strings with every prefix,
// f-strings as Python 3.12+ tokenizes them (PEP 701: any quotes, comments,
// backslashes and newlines in replacement fields, nested f-strings), format
// specs, continuations, brackets, indentation, tabs, numeric literal shapes)
// and the parser covers the whole Python 3.13 grammar (soft keywords `match`,
// `case`, `_`, `type`; PEP 695/696 type parameters; `except*`), including
// argument and parameter ordering rules. Newer syntax is accepted under an
// older interpreter: on Python 3.11, where torch's own scan refuses
// `f"{d["k"]}"` or `type X = int`, ScanImports reports what torch on 3.13
// reports. It is not a full compiler front end, so it accepts a small
// superset of what ast.parse accepts; such files are scanned instead of
// refused:
//   * assignment, augmented-assignment and `del` targets are not checked
//     here (`f() = 1`, `a + 1 = 2`, `(yield) = 1`, `f((a)=1)`); annotated ones
//     are (`a + 1: int` is refused), and FindCompileError checks the others;
//   * identifier characters are "ASCII letters, digits, _ or any non-ASCII
//     UTF-8" (CPython wants XID_Start/XID_Continue: `× = 1` is refused);
//   * escape sequences are only decoded, and so only checked, in the
//     arguments of `__import__` (`'\N{unknown}'`, `'\x4'`, `b'\x4'`
//     elsewhere pass);
//   * a generator expression as a class base (`class C(x for x in y)`);
//   * `case` patterns are skipped to their guard or colon, not checked
//     (they hold no calls, so no imports).
// Compile-time errors that ast.parse does not raise either (`return` or
// `nonlocal` at module level, duplicate parameters or keywords) are not
// errors here (torch's exporter accepts them too; FindCompileError below
// finds most of them). Expressions nested deeper than 300 levels (CPython allows 200
// brackets, and deeper unbracketed nesting up to its C stack) are refused
// as "too many nested expressions".
std::vector<ImportRef> ScanImports(std::string_view source, std::string_view package);

// What CPython's compile() refuses in a source that ScanImports accepts
// (torch's importer compiles each module it imports: such a module fails to
// import with SyntaxError), as "line N: reason"; nullopt when none is found.
// Found: `return`, `yield`, `await` (outside parentheses), `async for` and
// `async with` where their function does not allow them, `break` and
// `continue` outside a loop, `nonlocal` at module level or of a name no def
// around binds (or one a def in between declares global: CPython's "no
// binding for nonlocal"; a def counts as binding every Name of its
// assignment, `for`, `with` and `del` targets, subscripts' too, and every
// walrus target in it, also a lambda's), a name declared both global and nonlocal in one body or so
// declared while a parameter of it, a `from __future__` import after other
// statements or of an unknown feature, a parameter named twice, a keyword
// argument repeated in a call, a `yield` inside a comprehension (but for its
// first iterable and its lambdas), an assignment, augmented-assignment, `del`,
// `for`, `with` or comprehension target that is not one (`f() = 1`,
// `a, b += 1`, `*a = 1`, `a, *b, *c = d`, `__debug__ = 1`), a starred
// expression where none may be (`a = *b`, `[*a for a in b]`), `import *`
// in a def or class, `yield from` in an `async def`, a truncated or
// out-of-range `\x`, `\u` or `\U` escape in a str or in an f-string's text
// and format specs, a truncated `\x` in bytes (on the line an f-string
// ends on, or a str's first line, as CPython 3.13 names them;
// `\N{name}` is not checked), a list,
// set or dict comprehension with an `async for` (or holding such a
// comprehension) outside an async def (a generator expression may be
// asynchronous anywhere), a name used, assigned, annotated, or bound by a
// def, class, `except ... as`, match pattern or type alias before its
// `global` or `nonlocal` declaration in the same body (a tuple target's
// names are said to be used, where CPython says assigned; names in a
// function's local annotations and walrus targets in a comprehension are
// not seen; imports bind without a complaint, as in CPython 3.11 to 3.13).
// Not found (it needs more of CPython's symbol table or of its compiler):
// a `nonlocal` of a name that a def around only reads in an assignment
// target (`a[x] = 1`, `x.y = 1`) or that only a lambda's walrus binds (these
// count as bound), `nonlocal __classdict__` in a method under 3.11 (3.12+
// accepts it), limits such as 20 nested blocks. A `nonlocal` of a type
// parameter (3.12+) is refused in other words, as a name no def binds. An `await` in a
// comprehension of a sync def is refused as an await outside an async function, a `yield` in one
// outside any def as outside a function. When a source has several errors, CPython names its symbol
// table's first, and this the first in source order (a `nonlocal` no def binds only when it finds
// nothing else). Each check errs towards accepting: nothing
// compile() accepts is refused (tests/python compare with the stack's compile()).
std::optional<std::string> FindCompileError(std::string_view source);

// The `package` torch passes for a module (PackageExporter._get_dependencies):
// the module itself when it is a package, else `module.rsplit(".", 1)[0]`,
// which for a top-level module is the module name itself (a torch quirk:
// `from . import x` in top-level module "m" resolves to ("m", "x")).
std::string PackageOf(std::string_view module_name, bool is_package);

}  // namespace tpkg
