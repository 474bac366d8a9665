#include "package/extern_list.h"

#include <utility>

namespace tpkg {

std::vector<std::string> ParseExternModules(const std::string& text) {
  std::vector<std::string> out;
  std::string line;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\n' || text[i] == '\r') {
      if (!line.empty()) out.push_back(std::move(line));
      line.clear();
      if (i + 1 < text.size() && text[i] == '\r' && text[i + 1] == '\n') ++i;
    } else {
      line += text[i];
    }
  }
  return out;
}

bool DeclaredExtern(std::string_view module, const std::unordered_set<std::string>& declared) {
  static const std::unordered_set<std::string_view> kImplicitAllowList = {
      "numpy", "numpy.core", "numpy.core._multiarray_umath", "builtins"};
  if (kImplicitAllowList.contains(module)) return true;
  for (size_t dot = module.find('.');; dot = module.find('.', dot + 1)) {
    if (declared.contains(std::string(module.substr(0, dot)))) return true;
    if (dot == std::string_view::npos) return false;
  }
}

}  // namespace tpkg
