// import_scan.cc: torch's _ExtractModuleReferences (find_file_dependencies.py, 1.13 to 2.6)
// applied to the events of py_import_parser, with its exact semantics.
#include "tpkg/import_scan.h"

#include <algorithm>
#include <unordered_set>
#include <variant>

#include "scan/py_import_parser.h"
#include "scan/py_parser.h"
#include "scan/py_tokenizer.h"
#include "scan/source_encoding.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

using py::ArgValue;

[[noreturn]] void FailAtLine(uint32_t line, const std::string& reason) {
  throw Error(Errc::kInvalidArgument, "line " + std::to_string(line) + ": " + reason);
}

uint32_t LineOfOffset(std::string_view source, size_t offset) {
  return 1 + static_cast<uint32_t>(
                 std::count(source.begin(), source.begin() + static_cast<ptrdiff_t>(offset), '\n'));
}

// The text the scan reads (PEP 263: scan/source_encoding.h); ast.parse
// refuses NUL bytes.
std::string_view SourceText(std::string_view source, std::string& converted) {
  if (size_t nul = source.find('\0'); nul != std::string_view::npos)
    FailAtLine(LineOfOffset(source, nul), "source code cannot contain null bytes");
  return SourceAsUtf8(source, converted);
}

// torch/package/_importlib.py _resolve_name: `package.rsplit(".", level - 1)`
// must give `level` parts; the base is the first. nullopt when it climbs
// above the top-level package.
std::optional<std::string> ResolveName(const std::string* name, std::string_view package,
                                       int64_t level) {
  size_t end = package.size();
  for (int64_t i = 1; i < level; ++i) {
    size_t dot = end == 0 ? std::string_view::npos : package.rfind('.', end - 1);
    if (dot == std::string_view::npos) return std::nullopt;
    end = dot;
  }
  std::string base(package.substr(0, end));
  return name != nullptr && !name->empty() ? base + "." + *name : base;
}

// Ordered, unique references: torch keeps them as dict keys.
class References {
 public:
  void Add(std::string module, std::optional<std::string> name) {
    std::string key = module + (name ? '\1' + *name : std::string(1, '\0'));
    if (seen_.insert(std::move(key)).second) refs_.push_back({std::move(module), std::move(name)});
  }
  std::vector<ImportRef> Take() { return std::move(refs_); }

 private:
  std::unordered_set<std::string> seen_;
  std::vector<ImportRef> refs_;
};

class Visitor {
 public:
  explicit Visitor(std::string_view package) : package_(package) {}

  void operator()(const py::ImportStmt& s) { refs_.Add(s.module, std::nullopt); }
  void operator()(const py::ImportFromStmt& s);
  void operator()(const py::ImportCall& c);
  std::vector<ImportRef> Take() { return refs_.Take(); }

 private:
  // _absmodule(module_name, level) for a str module; nullopt where torch
  // raises (level not comparable with 0, a float level, climbing too high).
  std::optional<std::string> AbsModule(const std::string& name, const ArgValue& level) const;
  static bool ReadFromlist(const py::CallArg& arg, std::vector<ArgValue>& out);
  void VisitImportCall(const ArgValue& name, const std::vector<ArgValue>& fromlist,
                       const ArgValue& level);

  std::string_view package_;
  References refs_;
};

// visit_ImportFrom: a relative import beyond the top-level package raises
// out of the whole scan.
void Visitor::operator()(const py::ImportFromStmt& s) {
  std::string module;
  if (s.level > 0) {
    std::optional<std::string> resolved =
        ResolveName(s.module ? &*s.module : nullptr, package_, s.level);
    if (!resolved) FailAtLine(s.line, "attempted relative import beyond top-level package");
    module = std::move(*resolved);
  } else {
    module = *s.module;
  }
  for (const std::string& alias : s.names)
    refs_.Add(module, alias == "*" ? std::nullopt : std::optional(alias));
}

// visit_Call for `__import__(...)`: any exception torch's code would hit
// (a missing argument, a node without `.value` / `.elts`) drops the call;
// references added before the exception stay.
void Visitor::operator()(const py::ImportCall& c) {
  if (c.args.empty() || c.args[0].value.kind == ArgValue::Kind::kMissing) return;
  std::vector<ArgValue> fromlist;
  if (c.args.size() > 3) {
    if (!ReadFromlist(c.args[3], fromlist)) return;
  } else {
    for (const auto& [keyword, arg] : c.keywords)
      if (keyword == "fromlist" && !ReadFromlist(arg, fromlist)) return;
  }
  ArgValue level;
  level.kind = ArgValue::Kind::kInt;
  if (c.args.size() > 4)
    level = c.args[4].value;
  else
    for (const auto& [keyword, arg] : c.keywords)
      if (keyword == "level") level = arg.value;
  if (level.kind == ArgValue::Kind::kMissing) return;
  VisitImportCall(c.args[0].value, fromlist, level);
}

bool Visitor::ReadFromlist(const py::CallArg& arg, std::vector<ArgValue>& out) {
  if (!arg.elts) return false;
  for (const ArgValue& v : *arg.elts) {
    if (v.kind == ArgValue::Kind::kMissing) return false;
    out.push_back(v);
  }
  return true;
}

// Non-str modules or names are references torch records but that can never
// be imported; they have no ImportRef form and are left out.
void Visitor::VisitImportCall(const ArgValue& name, const std::vector<ArgValue>& fromlist,
                              const ArgValue& level) {
  if (fromlist.empty()) {
    if (name.kind != ArgValue::Kind::kStr) return;
    refs_.Add(name.text, std::nullopt);
    size_t dot = name.text.rfind('.');
    if (dot == std::string::npos) return;
    // Despite torch's comment, this is the parent, made absolute with level.
    if (std::optional<std::string> parent = AbsModule(name.text.substr(0, dot), level))
      refs_.Add(std::move(*parent), std::nullopt);
    return;
  }
  std::optional<std::string> module;
  if (name.kind == ArgValue::Kind::kStr) {
    module = AbsModule(name.text, level);
  } else if (!name.truthy && level.kind == ArgValue::Kind::kInt && level.number > 0) {
    module = ResolveName(nullptr, package_, level.number);  // falsy name: the package itself
  }
  if (!module) return;
  for (const ArgValue& alias : fromlist) {
    if (alias.kind != ArgValue::Kind::kStr) continue;
    refs_.Add(*module, alias.text == "*" ? std::nullopt : std::optional(alias.text));
  }
}

std::optional<std::string> Visitor::AbsModule(const std::string& name,
                                              const ArgValue& level) const {
  switch (level.kind) {
    case ArgValue::Kind::kInt:
      if (level.number <= 0) return name;
      return ResolveName(&name, package_, level.number);
    case ArgValue::Kind::kFloat:  // 0.0 is not > 0; a positive float breaks rsplit
      if (level.number <= 0) return name;
      return std::nullopt;
    default:  // `level > 0` raises TypeError
      return std::nullopt;
  }
}

}  // namespace

std::vector<ImportRef> ScanImports(std::string_view source, std::string_view package) {
  std::string converted;
  source = SourceText(source, converted);
  std::vector<py::ImportEvent> events;
  try {
    events = py::ParseImportEvents(source);
  } catch (const py::SyntaxError& e) {
    FailAtLine(e.line, e.reason);
  }
  Visitor visitor(package);
  for (const py::ImportEvent& event : events) std::visit(visitor, event);
  return visitor.Take();
}

std::optional<std::string> FindCompileError(std::string_view source) {
  try {
    std::string converted;
    source = SourceText(source, converted);
    (void)py::internal::Parser(source, /*compile_checks=*/true).ParseFile();
  } catch (const py::SyntaxError& e) {
    return "line " + std::to_string(e.line) + ": " + e.reason;
  } catch (const Error& e) {
    return e.what();
  }
  return std::nullopt;
}

std::string PackageOf(std::string_view module_name, bool is_package) {
  if (is_package) return std::string(module_name);
  size_t dot = module_name.rfind('.');
  return std::string(dot == std::string_view::npos ? module_name : module_name.substr(0, dot));
}

}  // namespace tpkg
