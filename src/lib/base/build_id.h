// build_id.h: the GNU build-id of the program's own code (private).
//
//   std::string_view id = OwnBuildId();   // raw bytes; empty: none
//
// The linker derives it from the linked code, so a rebuild that changes any
// of it gives another id: what keeps results computed by one build (the
// analysis packs of package/analysis_store.h) from being trusted by another
// whose scanner may disagree. It is the id of the ELF object holding
// libtpkg (the executable, or the Python module that links it).
//
// Thread safety: computed once (a function-local static), then read-only.
#pragma once

#include <string_view>

namespace tpkg {

std::string_view OwnBuildId();

}  // namespace tpkg
