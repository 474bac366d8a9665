// TEMPORARY line-based import scanner (see import_scan.h): handles only the
// simple statement forms the policy tests use. Replaced by the "scan" branch.
#include "tpkg/import_scan.h"

#include <algorithm>
#include <sstream>

#include "tpkg/error.h"

namespace tpkg {
namespace {

std::string Trim(std::string s) {
  const auto b = s.find_first_not_of(" \t()");
  const auto e = s.find_last_not_of(" \t()\\,");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> SplitNames(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = Trim(item);
    if (const auto as = item.find(" as "); as != std::string::npos) item = Trim(item.substr(0, as));
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string Resolve(const std::string& mod, std::string_view package, int lineno) {
  size_t level = 0;
  while (level < mod.size() && mod[level] == '.') ++level;
  if (level == 0) return mod;
  std::string base(package);
  for (size_t i = 1; i < level; ++i) {
    const auto dot = base.rfind('.');
    if (dot == std::string::npos) throw Error(Errc::kInvalidArgument, "line " + std::to_string(lineno) + ": attempted relative import beyond top-level package");
    base = base.substr(0, dot);
  }
  const std::string rest = mod.substr(level);
  return rest.empty() ? base : base + "." + rest;
}

}  // namespace

std::vector<ImportRef> ScanImports(std::string_view source, std::string_view package) {
  std::vector<ImportRef> refs;
  auto add = [&refs](std::string m, std::optional<std::string> n) {
    for (const auto& r : refs) if (r.module == m && r.name == n) return;
    refs.push_back({std::move(m), std::move(n)});
  };
  std::stringstream in{std::string(source)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find("!!syntax error!!") != std::string::npos) {
      throw Error(Errc::kInvalidArgument, "line " + std::to_string(lineno) + ": invalid syntax");
    }
    const std::string t = Trim(line.substr(0, line.find('#')));
    if (t.starts_with("import ")) {
      for (auto& n : SplitNames(t.substr(7))) add(n, std::nullopt);
    } else if (t.starts_with("from ")) {
      const auto imp = t.find(" import ");
      if (imp == std::string::npos) continue;
      std::string names = t.substr(imp + 8);
      while (names.find('(') != std::string::npos && names.find(')') == std::string::npos &&
             std::getline(in, line)) {
        ++lineno;
        names += " " + line;
      }
      const std::string mod = Resolve(Trim(t.substr(5, imp - 5)), package, lineno);
      for (auto& n : SplitNames(names)) {
        if (n == "*") add(mod, std::nullopt); else add(mod, n);
      }
    }
  }
  return refs;
}

}  // namespace tpkg

namespace tpkg {

std::string PackageOf(std::string_view module_name, bool is_package) {
  const size_t dot = module_name.rfind('.');
  if (is_package || dot == std::string_view::npos) return std::string(module_name);
  return std::string(module_name.substr(0, dot));
}

}  // namespace tpkg
