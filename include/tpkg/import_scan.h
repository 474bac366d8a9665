// import_scan.h: which modules a Python source file imports, as torch.package sees it.
//
// ScanImports() reproduces torch 1.13's find_files_source_depends_on(src,
// package) (torch/package/find_file_dependencies.py) without Python: a
// Python 3.11 tokenizer and a recursive-descent parser that computes, for
// every import statement and every `__import__(...)` call, the (module,
// attribute) candidates torch's ast.NodeVisitor records, in the same order.
// Strings and comments never count; imports inside functions, classes, `if`,
// `try`, `with`, `match` and after `;` do.
//
//   auto refs = tpkg::ScanImports("from . import util\nimport numpy as np\n",
//                                 tpkg::PackageOf("corpus_models.model", false));
//   // {("corpus_models", "util"), ("numpy", nullopt)}
//
// What torch records (FORMAT.md §6.3), for package "p.q":
//
//   source                                  references
//   import a.b as c, d                      (a.b, -) (d, -)
//   from a import b, c                      (a, b) (a, c)
//   from a import *                         (a, -)
//   from . import x / from ..m import y     (p.q, x) / (p.m, y)
//   __import__("a.b.c")                     (a.b.c, -) (a.b, -)     parent, not top level
//   __import__("a.b", fromlist=["x"])       (a.b, x)
//   __import__("m", g, l, ["x"], 1)         (p.q.m, x)
//   __import__("a.b", g, l, [], 1)          (a.b, -) (p.q.a, -)     only the parent is made relative
//   __import__(name) / importlib...         nothing (non-literal arguments are ignored)
//   f(__import__("a"))                      nothing: torch's visit_Call never visits a call's
//   __import__("a").b()                     children, so an __import__ anywhere inside another
//   __import__("a")("b")                    call (arguments or callee) is not seen
//   m = __import__("a"); __import__("a").b  (a, -)
//   x.__import__("a")                       nothing (only a bare name `__import__`)
//
// The order is torch's (ast field order, not always source order): decorators
// after the body they decorate, a function's return annotation last, class
// keywords after all bases, parameter annotations before kw-only defaults
// before positional defaults, dict keys before dict values, `a if t else b`
// as t, a, b. Duplicates keep their first position.
//
// Not modelled (absurd in real code; documented residual differences):
// identifiers are not NFKC-normalized (`ｏｓ` stays as written); an
// `__import__` whose module or fromlist item is a literal of another type
// (int, bytes, None, an expression with a `.value` field) makes torch record
// a non-str entry that can never be imported: such entries are omitted.
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
// ordered, unique. `source` is UTF-8 (a PEP 263 coding cookie is ignored, as
// ast.parse ignores it for str input; a leading BOM is skipped). `package` is
// the package the module lives in: see PackageOf().
//
// Throws Error(kInvalidArgument, "line N: reason") on source the parser
// refuses (callers prefix the file name), and "line N: attempted relative
// import beyond top-level package" for a relative `from` import that climbs
// above `package` (torch raises the same ValueError). A relative `__import__`
// that climbs too far is silently dropped, as torch does.
//
// Syntax checking: the tokenizer is complete (strings with every prefix,
// f-string replacement fields, continuations, brackets, indentation, tabs)
// and the parser covers the whole Python 3.11 grammar, but it accepts a
// superset: it does not check assignment/deletion targets (`f() = 1`),
// duplicate parameters or keywords, `*`/`**` placement rules, identifier
// characters beyond "ASCII or non-ASCII", numeric literal details, escape
// sequence validity, or `nonlocal`/`return`/`await` placement (the last
// are compile-time errors that ast.parse does not raise either). Such
// files are scanned instead of refused.
std::vector<ImportRef> ScanImports(std::string_view source, std::string_view package);

// The `package` torch passes for a module (PackageExporter._get_dependencies):
// the module itself when it is a package, else `module.rsplit(".", 1)[0]`,
// which for a top-level module is the module name itself (a torch quirk:
// `from . import x` in top-level module "m" resolves to ("m", "x")).
std::string PackageOf(std::string_view module_name, bool is_package);

}  // namespace tpkg
