// file_structure.h: the tree PackageImporter.file_structure() prints
// (torch/package/file_structure_representation.py), as text.
//
//   tpkg::GlobGroup filter("**", {".data/**"}, "/");
//   tpkg::FileStructureText("model.pt", record_names, filter);
//   // "─── model.pt\n    ├── res\n    │   └── a.txt\n    └── m.py\n"
//
// The rules are torch's, quirks included: the records kept are those the
// group matches (torch's GlobGroup with separator "/", include "**" and no
// exclude by default); each record adds its folders as directories and its
// last component as a file (a later record replaces an earlier child of the
// same name); every directory prints its sub-directories first, then its
// files, each sorted by code point; the root line is "─── <filename>", as
// given to PackageImporter (torch prints str() of the path it was given).
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tpkg/glob.h"

namespace tpkg {

std::string FileStructureText(std::string_view filename, const std::vector<std::string>& records,
                              const GlobGroup& filter);

}  // namespace tpkg
