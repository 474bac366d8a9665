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

}  // namespace tpkg
