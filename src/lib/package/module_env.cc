// PythonPath: importlib's path-based lookup, done with stat() calls.
#include "tpkg/module_env.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "tpkg/error.h"
#include "tpkg/python_env.h"

namespace tpkg {
namespace {

enum class PathKind { kNone, kFile, kDir };

PathKind Stat(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return PathKind::kNone;
  if (S_ISDIR(st.st_mode)) return PathKind::kDir;
  return S_ISREG(st.st_mode) ? PathKind::kFile : PathKind::kNone;
}

// The configured interpreter's importlib.machinery.EXTENSION_SUFFIXES, in
// its order (3.11: `.cpython-311-x86_64-linux-gnu.so`, `.abi3.so`, `.so`).
std::optional<std::string> FindExtension(const std::string& dir, const std::string& stem) {
  for (const std::string& suffix : ConfiguredPython().extension_suffixes) {
    std::string path = dir + "/" + stem + suffix;
    if (Stat(path) == PathKind::kFile) return path;
  }
  return std::nullopt;
}

// One directory of a search path, as importlib's FileFinder sees it. Returns
// a module, or a namespace portion (kNamespacePackage with one directory).
std::optional<FoundModule> FindInDirectory(const std::string& dir, const std::string& name) {
  using K = FoundModule::Kind;
  const std::string base = dir + "/" + name;
  const bool is_dir = Stat(base) == PathKind::kDir;
  if (is_dir) {
    if (auto so = FindExtension(base, "__init__")) return FoundModule{K::kExtension, *so, {base}};
    if (Stat(base + "/__init__.py") == PathKind::kFile) {
      return FoundModule{K::kSource, base + "/__init__.py", {base}};
    }
    if (Stat(base + "/__init__.pyc") == PathKind::kFile) {
      return FoundModule{K::kBytecode, base + "/__init__.pyc", {base}};
    }
  }
  if (auto so = FindExtension(dir, name)) return FoundModule{K::kExtension, *so, {}};
  if (Stat(base + ".py") == PathKind::kFile) return FoundModule{K::kSource, base + ".py", {}};
  if (Stat(base + ".pyc") == PathKind::kFile) return FoundModule{K::kBytecode, base + ".pyc", {}};
  if (is_dir) return FoundModule{K::kNamespacePackage, "", {base}};
  return std::nullopt;
}

}  // namespace

std::vector<std::string> PythonPath::DefaultSearchPath() { return ConfiguredPython().search_path; }

PythonPath::PythonPath(std::vector<std::string> search_path)
    : search_path_(std::move(search_path)) {}

// Parents before children, in a loop: importing `a.b.c` needs `a` and `a.b`
// to be packages first, and a hostile archive may import a name with any
// number of dots (recursion would overflow the stack). A builtin name is
// found whatever its parent is (`os.path`; `os` is no package).
std::optional<FoundModule> PythonPath::Find(std::string_view module) const {
  if (IsBuiltinModule(module)) return FoundModule{FoundModule::Kind::kBuiltin, "", {}};
  std::optional<FoundModule> parent;
  for (size_t dot = module.find('.');; dot = module.find('.', dot + 1)) {
    auto found = Cached(module.substr(0, dot), parent ? &parent->search_path : nullptr);
    if (dot == std::string_view::npos) return found;
    // No package, so no submodule below it (builtins, the only exception, are handled above).
    if (!found || !found->is_package()) return std::nullopt;
    parent = std::move(found);
  }
}

std::optional<FoundModule> PythonPath::Cached(std::string_view module,
                                              const std::vector<std::string>* parent_path) const {
  const std::string key(module);
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  auto found = FindUncached(key, parent_path ? *parent_path : search_path_);
  std::lock_guard lock(mu_);
  cache_.emplace(key, found);
  return found;
}

// `module` in the directories `dirs` (sys.path, or its parent's __path__).
std::optional<FoundModule> PythonPath::FindUncached(const std::string& module,
                                                    const std::vector<std::string>& dirs) const {
  if (IsBuiltinModule(module)) return FoundModule{FoundModule::Kind::kBuiltin, "", {}};
  const std::string name = module.substr(module.rfind('.') + 1);  // npos + 1 == 0
  if (name.empty() || name.find('/') != std::string::npos) return std::nullopt;
  FoundModule namespace_pkg{FoundModule::Kind::kNamespacePackage, "", {}};
  for (const auto& dir : dirs) {
    auto found = FindInDirectory(dir, name);
    if (!found) continue;
    if (found->kind != FoundModule::Kind::kNamespacePackage) return found;
    namespace_pkg.search_path.push_back(found->search_path.front());
  }
  if (namespace_pkg.search_path.empty()) return std::nullopt;
  return namespace_pkg;
}

ScannedImports ScanModuleImports(std::string_view source, std::string_view module,
                                 bool is_package) {
  ScannedImports out;
  try {
    out.refs = ScanImports(source, PackageOf(module, is_package));
  } catch (const Error& e) {
    out.error = e.what();
  }
  return out;
}

std::string ReadPythonSource(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    ThrowSystemError("Cannot read '" + path + "'", err);
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string raw = buf.str();
  std::string text;
  text.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\r') {
      text += raw[i];
    } else {
      text += '\n';
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
    }
  }
  return text;
}

namespace {

std::vector<std::string> WithDefaultPath(std::vector<std::string> roots) {
  for (auto& dir : PythonPath::DefaultSearchPath()) roots.push_back(std::move(dir));
  return roots;
}

}  // namespace

FileSystemEnvironment::FileSystemEnvironment(std::vector<std::string> extra_roots)
    : path_(WithDefaultPath(std::move(extra_roots))) {}

bool FileSystemEnvironment::Importable(std::string_view module) {
  return path_.Find(module).has_value();
}

std::optional<ModuleSource> FileSystemEnvironment::Find(std::string_view module) {
  const auto found = path_.Find(module);
  if (!found) return std::nullopt;
  using K = FoundModule::Kind;
  ModuleSource out;
  out.is_package = found->is_package();
  out.file = found->path;
  switch (found->kind) {
    case K::kSource:
      out.kind = ModuleSource::Kind::kSource;
      out.source = ReadPythonSource(found->path);
      break;
    case K::kBuiltin:
    case K::kNamespacePackage: out.kind = ModuleSource::Kind::kNoFile; break;
    case K::kExtension: out.kind = ModuleSource::Kind::kExtension; break;
    case K::kBytecode: out.kind = ModuleSource::Kind::kFileNotFound; break;
  }
  return out;
}

}  // namespace tpkg
