// The Python 2 module names pickle maps (pickle_compat.h).
#include "scan/pickle_compat.h"

#include <utility>

namespace tpkg {

std::string_view Python3Module(std::string_view module) {
  static const std::pair<std::string_view, std::string_view> kMap[] = {
      {"__builtin__", "builtins"},
      {"copy_reg", "copyreg"},
      {"cPickle", "pickle"},
      {"commands", "subprocess"},
      {"exceptions", "builtins"},
      {"UserDict", "collections"},
      {"urllib2", "urllib.request"},
      {"httplib", "http.client"},
      {"cStringIO", "io"},
      {"StringIO", "io"},
      {"Queue", "queue"},
      {"thread", "_thread"},
  };
  for (const auto& [from, to] : kMap)
    if (module == from) return to;
  return module;
}

bool DemanglePackageModule(std::string_view& module) {
  if (!module.starts_with("<torch_package_")) return false;
  const size_t dot = module.find('.');
  module = dot == std::string_view::npos ? std::string_view() : module.substr(dot + 1);
  return true;
}

}  // namespace tpkg
