// module_env.h: where the dependency analysis finds modules.
//
// torch's exporter decides by importing modules in the exporting process.
// libtpkg never runs Python: the policy (policy.h) asks a ModuleEnvironment
// instead. This header has the interface and an implementation over the file
// system that follows CPython's path-based import rules for the interpreter
// the build was configured with (python_env.h: its sys.path, extension
// suffixes, builtin and frozen names, taken from it at build time).
//
//   tpkg::PythonPath py;                         // the configured Python's sys.path
//   py.Find("numpy.core.multiarray")->path;      // ".../numpy/core/multiarray.py"
//   py.Find("torch.Tensor");                     // nullopt: a class, not a module
//   tpkg::FileSystemEnvironment env({"/tmp/src"});  // /tmp/src first, then sys.path
//   env.Find("mypkg")->is_package;
//
// PythonPath lookup, as importlib's PathFinder/FileFinder do it: builtin and
// frozen names first; then for `a.b` the parent `a` must be a package, and
// each directory of its __path__ is tried in order. In one directory a
// regular package (`b/__init__.py`, `.pyc` or extension) wins, then an
// extension `b<suffix>` for each of the interpreter's EXTENSION_SUFFIXES in
// order (`.cpython-311-x86_64-linux-gnu.so`, `.abi3.so`, `.so` on 3.11), then
// `b.py`, then `b.pyc`; a directory `b/` without `__init__` is remembered as a
// namespace portion and used only if no directory has a real module.
//   name                     found as (Debian 12's Python 3.11)
//   json                     /usr/lib/python3.11/json/__init__.py (package)
//   math                     builtin (no file)
//   os.path                  frozen alias (no file)
//   numpy.core._multiarray_umath   .../_multiarray_umath.cpython-311-x86_64-linux-gnu.so
//   torch.Tensor             not found (an attribute; torch's import would fail too)
// Not modelled: import hooks that create modules (six.moves), .pth-added
// paths, modules whose code raises ImportError (found here, not importable
// for torch), zip imports.
//
// Thread safety: PythonPath and FileSystemEnvironment cache lookups behind
// an internal mutex; all methods may be called concurrently.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tpkg/import_scan.h"
#include "tpkg/python_env.h"

namespace tpkg {

// A source's imports as ScanImports() gave them, or why it did not scan.
struct ScannedImports {
  std::vector<ImportRef> refs;
  std::optional<std::string> error;  // ScanImports()' message ("line N: reason")
  friend bool operator==(const ScannedImports&, const ScannedImports&) = default;
};
// ScanImports(source, PackageOf(module, is_package)), the error kept instead of thrown.
ScannedImports ScanModuleImports(std::string_view source, std::string_view module, bool is_package);

// What the exporter learns by importing a module (torch's _intern_module).
struct ModuleSource {
  enum class Kind {
    kSource,           // __file__ ends in .py: `source` holds its text
    kNoFile,           // no __file__ (builtin, namespace package)
    kExtension,        // __file__ is a C extension
    kFileNotFound,     // __file__ exists but is not a readable .py (bytecode only, ...)
    kImplicitPackage,  // tpkg: a folder of the archive itself, written with no source
  };
  Kind kind = Kind::kSource;
  std::string source;       // kSource: text, newlines normalized to \n (linecache)
  bool is_package = false;  // hasattr(module, "__path__")
  std::string file;         // __file__, for error contexts
  // kSource, instead of `source`: the imports, already scanned (owned by the
  // environment, valid while it lives). The policy then follows these and
  // keeps no text on the node, so an analysis that needs only the graph
  // never holds every source at once (metadata.h).
  const ScannedImports* imports = nullptr;
  // kSource: the environment's interpreter compiled this source already (it
  // imported the module from it), so ParseError() need not parse it again.
  bool compiled = false;
};

// The exporter's importer, as the policy sees it.
class ModuleEnvironment {
 public:
  virtual ~ModuleEnvironment() = default;
  // The module as the importer would import it; nullopt when it cannot be imported.
  virtual std::optional<ModuleSource> Find(std::string_view module) = 0;
  // torch's _module_exists(): would importing `module` succeed?
  virtual bool Importable(std::string_view module) = 0;
  // What the exporting interpreter's parser says of `source`: str() of the
  // exception ast.parse raises (torch parses every source it scans, and a
  // source that does not parse is a dependency-resolution error), nullopt
  // when it parses. libtpkg runs no parser: its environments return nullopt
  // and the import scanner's own errors stand (it accepts a superset of
  // Python, import_scan.h); an environment with an interpreter says more.
  virtual std::optional<std::string> ParseError(std::string_view /*source*/) {
    return std::nullopt;
  }
  // The exporting Python's stdlib (torch's implicit externs): by default
  // the configured interpreter's; an archive's environment uses the Python
  // the package records (metadata.h).
  virtual const StdlibNames& stdlib_names() const { return ConfiguredStdlibNames(); }
};

struct FoundModule {
  // How the module's file is loaded; a package's file is its __init__.
  enum class Kind { kBuiltin, kSource, kBytecode, kExtension, kNamespacePackage };
  Kind kind;
  std::string path;                      // the module's file ("" for builtin/namespace)
  std::vector<std::string> search_path;  // __path__: non-empty exactly for packages
  bool is_package() const { return !search_path.empty(); }
};

// Modules of a Python installation on disk.
class PythonPath {
 public:
  // The configured interpreter's sys.path (without '' and zip files).
  static std::vector<std::string> DefaultSearchPath();

  explicit PythonPath(std::vector<std::string> search_path = DefaultSearchPath());
  PythonPath(const PythonPath&) = delete;
  PythonPath& operator=(const PythonPath&) = delete;

  std::optional<FoundModule> Find(std::string_view module) const;
  const std::vector<std::string>& search_path() const { return search_path_; }

 private:
  // One name whose parent (if any) is a package with __path__ `parent_path`; cached.
  std::optional<FoundModule> Cached(std::string_view module,
                                    const std::vector<std::string>* parent_path) const;
  std::optional<FoundModule> FindUncached(const std::string& module,
                                          const std::vector<std::string>& dirs) const;

  std::vector<std::string> search_path_;
  mutable std::mutex mu_;
  // Guarded by mu_.
  mutable std::unordered_map<std::string, std::optional<FoundModule>> cache_;
};

// ModuleEnvironment over PythonPath: `extra_roots` (say, a source tree)
// come before the interpreter's sys.path, like sys.path[0].
class FileSystemEnvironment : public ModuleEnvironment {
 public:
  explicit FileSystemEnvironment(std::vector<std::string> extra_roots = {});
  std::optional<ModuleSource> Find(std::string_view module) override;
  bool Importable(std::string_view module) override;
  const PythonPath& python_path() const { return path_; }

 private:
  PythonPath path_;
};

// Reads a .py file the way linecache does for the exporter: UTF-8, with
// "\r\n" and "\r" turned into "\n". Throws Error naming the file.
std::string ReadPythonSource(const std::string& path);

}  // namespace tpkg
