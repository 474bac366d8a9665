// python_env.h: facts about Python interpreters that the dependency analysis
// needs without running Python, all taken from the real interpreters by
// scripts/gen_python_env_tables.py (never typed by hand).
//
//   tpkg::ConfiguredPython().version;          // "3.11.2": the -Dpython of the build
//   tpkg::ConfiguredPython().search_path;      // its sys.path, for the probe (module_env.h)
//   tpkg::IsStdlibModule("json.decoder");      // true: in its sys.stdlib_module_names
//   const tpkg::StdlibNames& s = tpkg::StdlibNamesFor("3.13.5");   // a package's Python
//   s.Contains("telnetlib");                   // false: removed in 3.13
//
// Two sources:
//   * the configured interpreter (meson's -Dpython, the one with torch): the
//     build asks it for its version, stdlib folder, sys.path, extension
//     suffixes, stdlib names and the modules it has without a file, so the
//     module probe follows whatever Python the machine has;
//   * tables committed for each supported version (3.11 from Debian 12,
//     3.13 from Debian 13; src/lib/package/python_tables/), so that a package
//     records the Python it was exported with (`.data/python_version`) and
//     its stdlib list (torch.package's implicit externs) is that Python's
//     even on a machine with another one.
//
// Thread safety: everything here is immutable after first use (function-local
// statics); all functions may be called from any thread.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tpkg {

// The interpreter meson was configured with (-Dpython), as it described
// itself at build time.
struct PythonInterpreter {
  std::string executable;                       // "/usr/bin/python3"
  std::string version;                          // platform.python_version(): "3.11.2"
  std::string stdlib_dir;                       // sysconfig's "stdlib": "/usr/lib/python3.11"
  std::vector<std::string> search_path;         // sys.path of a plain run, without '' and zips
  std::vector<std::string> extension_suffixes;  // importlib.machinery.EXTENSION_SUFFIXES, in order
};
const PythonInterpreter& ConfiguredPython();

// sys.stdlib_module_names of one Python version (torch's is_stdlib_module()).
class StdlibNames {
 public:
  StdlibNames(std::string version, std::unordered_set<std::string_view> names)
      : version_(std::move(version)), names_(std::move(names)) {}
  // "3.13": major.minor of the interpreter the names come from.
  const std::string& version() const { return version_; }
  // True when the top-level name of `module` (before the first '.') is a stdlib module.
  bool Contains(std::string_view module) const {
    return names_.contains(module.substr(0, module.find('.')));
  }

 private:
  std::string version_;
  std::unordered_set<std::string_view> names_;  // views of static tables
};

// The configured interpreter's.
const StdlibNames& ConfiguredStdlibNames();
// The stdlib names of Python `version` ("3.13.5", "3.13", as
// `.data/python_version` holds it): the configured interpreter's when it has
// that major.minor, else the committed table of that version, else (an
// unknown or unparsable version, or none) the configured interpreter's.
const StdlibNames& StdlibNamesFor(std::string_view version);
// major.minor of every version with a committed table, ascending ("3.11", "3.13").
std::vector<std::string> CommittedStdlibVersions();

// ConfiguredStdlibNames().Contains(module).
bool IsStdlibModule(std::string_view module);
// True for modules compiled into or frozen in the configured interpreter (no
// file): sys.builtin_module_names, the frozen modules (`os.path`, ...), and
// the aliases `typing.io` / `typing.re` that typing registers itself.
bool IsBuiltinModule(std::string_view module);

}  // namespace tpkg
