// The interpreter facts of tpkg/python_env.h: the configured interpreter's,
// generated at build time (package/configured_python.inc, in the build
// folder), and the committed per-version stdlib tables
// (package/python_tables/).
#include "tpkg/python_env.h"

#include <span>
#include <string>

namespace tpkg {
namespace {

#include "package/configured_python.inc"

struct CommittedStdlib {
  std::string_view version;  // "3.11"
  std::span<const std::string_view> names;
};

#include "package/python_tables/known_tables.inc"

// "3.13.5" -> "3.13"; "" when `version` does not start with digits.digits.
std::string MajorMinor(std::string_view version) {
  const size_t dot = version.find('.');
  if (dot == 0 || dot == std::string_view::npos) return {};
  size_t end = dot + 1;
  while (end < version.size() && version[end] >= '0' && version[end] <= '9') ++end;
  if (end == dot + 1) return {};
  for (size_t i = 0; i < dot; ++i)
    if (version[i] < '0' || version[i] > '9') return {};
  return std::string(version.substr(0, end));
}

std::vector<std::string> Strings(std::span<const std::string_view> views) {
  return {views.begin(), views.end()};
}

const std::vector<StdlibNames>& CommittedTables() {
  static const std::vector<StdlibNames> tables = [] {
    std::vector<StdlibNames> out;
    for (const CommittedStdlib& t : kCommittedStdlibs) {
      out.emplace_back(std::string(t.version),
                       std::unordered_set<std::string_view>(t.names.begin(), t.names.end()));
    }
    return out;
  }();
  return tables;
}

}  // namespace

const PythonInterpreter& ConfiguredPython() {
  static const PythonInterpreter python{
      std::string(kConfiguredExecutable), std::string(kConfiguredVersion),
      std::string(kConfiguredStdlibDir), Strings(kConfiguredSearchPath),
      Strings(kConfiguredExtensionSuffixes)};
  return python;
}

const StdlibNames& ConfiguredStdlibNames() {
  static const StdlibNames names(MajorMinor(kConfiguredVersion),
                                 std::unordered_set<std::string_view>(std::begin(kConfiguredStdlib),
                                                                      std::end(kConfiguredStdlib)));
  return names;
}

const StdlibNames& StdlibNamesFor(std::string_view version) {
  const std::string wanted = MajorMinor(version);
  if (wanted.empty() || wanted == ConfiguredStdlibNames().version()) return ConfiguredStdlibNames();
  for (const StdlibNames& table : CommittedTables())
    if (table.version() == wanted) return table;
  return ConfiguredStdlibNames();
}

std::vector<std::string> CommittedStdlibVersions() {
  std::vector<std::string> out;
  for (const StdlibNames& table : CommittedTables()) out.push_back(table.version());
  return out;
}

bool IsStdlibModule(std::string_view module) { return ConfiguredStdlibNames().Contains(module); }

bool IsBuiltinModule(std::string_view module) {
  static const std::unordered_set<std::string_view> names(std::begin(kConfiguredBuiltins),
                                                          std::end(kConfiguredBuiltins));
  return names.contains(module);
}

}  // namespace tpkg
