// package_files.h: the generated files a torch.package shows beside its
// records, one source of truth for the mount (src/fs/virtual_files.h) and
// `tpkg cat`.
//
//   path                    content
//   .data/extern_modules    the archive's own record while the records are
//                           unchanged; after an edit, the extern list the
//                           save will write (metadata.h)
//   .data/deps.dot          the dependency graph, as torch's
//                           dependency_graph_string() prints it
//
//   auto zip = tpkg::ZipReader::Open("model.pt");
//   for (const std::string& p : tpkg::GeneratedFilePaths(zip)) ...
//   tpkg::GeneratedFiles g = tpkg::GeneratePackageFiles(zip, tpkg::ZipRecordSource(zip));
//   g.Content(".data/deps.dot");  // throws the failure when it could not be made
//
// Only torch.packages (an archive with `.data/extern_modules` or
// `.data/version`, doc/format.md §10.3) have them. When a record cannot be
// read at all (corrupt data), nothing can be regenerated: extern_modules
// falls back to the archive's own bytes, and deps.dot fails with the reason
// rather than show a partial graph.
//
// Thread safety: pure functions; a GeneratedFiles is an immutable value.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

inline constexpr std::string_view kExternModulesPath = ".data/extern_modules";
inline constexpr std::string_view kDepsDotPath = ".data/deps.dot";
inline constexpr std::string_view kVersionPath = ".data/version";

// Whether `zip` is a torch.package (doc/format.md §10.3).
bool IsTorchPackage(const ZipReader& zip);

// The archive's own `.data/extern_modules`, what the package declares as it
// stands; nullopt when it has none. Throws Error when it cannot be read.
std::optional<std::string> OwnExternModules(const ZipReader& zip);

// The generated files of `zip`, in the order the mount lists them; empty
// for anything but a torch.package.
std::vector<std::string> GeneratedFilePaths(const ZipReader& zip);

struct GeneratedFiles {
  std::shared_ptr<const std::string> extern_modules;  // null: see failure
  std::shared_ptr<const std::string> deps_dot;        // null: see failure
  std::shared_ptr<const Error> failure;               // why the analysis failed
  std::string problems;  // PackagingError text: the package would not export as it is
  std::vector<std::string> unreadable;  // Metadata::unreadable: damaged records the files miss

  // The bytes of the generated file `path`; throws *failure when they
  // could not be made, Error(kNotFound) for another path.
  std::shared_ptr<const std::string> Content(std::string_view path) const;
};

// Regenerates the files over `records` (the archive's own, or an edited
// namespace; `zip` is the archive as opened). `unchanged`: the records are
// the archive's, so its own `.data/extern_modules` is shown as it is.
// Never throws Error: failures land in the result.
GeneratedFiles GeneratePackageFiles(const ZipReader& zip, const RecordSource& records,
                                    const MetadataOptions& options = {}, bool unchanged = true);

}  // namespace tpkg
