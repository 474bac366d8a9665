// extern_list.h (private): `.data/extern_modules` as torch's importer reads
// it, and which modules it lets in from outside the package. One rule for the
// metadata analysis and the load checks.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tpkg {

// `.data/extern_modules` as PackageImporter reads it: splitlines(), here
// without the empty names ("\n" means no externs).
std::vector<std::string> ParseExternModules(const std::string& text);

// Whether the importer lets `module` through as declared: it or a parent
// package is in the extern list (its tree has an extern node on the way), or
// it is on the importer's implicit allow list.
bool DeclaredExtern(std::string_view module, const std::unordered_set<std::string>& declared);

}  // namespace tpkg
