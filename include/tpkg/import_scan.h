// import_scan.h: TEMPORARY stand-in with the agreed signature, so that the
// policy can be built and tested before the "scan" branch lands. The real
// header and implementation replace this file on merge.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tpkg {

// torch's (module, attr-or-None) pairs from find_files_source_depends_on.
struct ImportRef {
  std::string module;
  std::optional<std::string> name;
};

// Throws Error(kInvalidArgument) for source it cannot analyse.
std::vector<ImportRef> ScanImports(std::string_view source, std::string_view package);

}  // namespace tpkg
