// The generated files of a torch.package (package_files.h).
#include "tpkg/package_files.h"

#include "package/package_layout.h"

namespace tpkg {
namespace {

// Why the files cannot be made when a source is damaged: the imports of its
// module are unknown, so a list or graph made without them would misreport
// the package (the archive's own extern list is served instead). "" when no
// source is. A damaged pickle leaves the files made without it, and listed
// in `unreadable`.
std::string DamagedSource(const Metadata& m) {
  for (const std::string& record : m.unreadable) {
    const auto source = ModuleOfRecord(record);
    if (!source) continue;
    const NodeAttrs* node = m.graph.Find(source->module);
    return node && node->error_context ? *node->error_context : record + ": damaged";
  }
  return {};
}

}  // namespace

bool IsTorchPackage(const ZipReader& zip) {
  return zip.Find(kExternModulesPath) != nullptr || zip.Find(kVersionPath) != nullptr;
}

std::vector<std::string> GeneratedFilePaths(const ZipReader& zip) {
  if (!IsTorchPackage(zip)) return {};
  return {std::string(kExternModulesPath), std::string(kDepsDotPath)};
}

std::shared_ptr<const std::string> GeneratedFiles::Content(std::string_view path) const {
  std::shared_ptr<const std::string> content;
  if (path == kExternModulesPath) {
    content = extern_modules;
  } else if (path == kDepsDotPath) {
    content = deps_dot;
  } else {
    throw Error(Errc::kNotFound, "no generated file '" + std::string(path) + "'");
  }
  if (!content) throw *failure;
  return content;
}

std::optional<std::string> OwnExternModules(const ZipReader& zip) {
  const ZipEntry* own = zip.Find(kExternModulesPath);
  if (!own || own->is_directory()) return std::nullopt;
  return zip.ReadAll(*own);
}

GeneratedFiles GeneratePackageFiles(const ZipReader& zip, const RecordSource& records,
                                    const MetadataOptions& options, bool unchanged) {
  GeneratedFiles out;
  try {
    const Metadata m = RegenerateMetadata(records, options);
    if (std::string why = DamagedSource(m); !why.empty()) throw Error(Errc::kCorrupt, why);
    out.problems = m.problems;
    out.unreadable = m.unreadable;
    out.extern_modules = std::make_shared<const std::string>(m.extern_modules_text);
    // An unedited archive is shown as it is, even where the analysis would
    // write another list: nobody may misreport what the package declares.
    if (unchanged) {
      if (std::optional<std::string> own = OwnExternModules(zip))
        out.extern_modules = std::make_shared<const std::string>(std::move(*own));
    }
    out.deps_dot = std::make_shared<const std::string>(m.deps_dot);
  } catch (const Error& e) {
    out.failure = std::make_shared<const Error>(
        e.code(), std::string("cannot regenerate the package metadata: ") + e.what(),
        e.sys_errno());
    try {
      if (std::optional<std::string> own = OwnExternModules(zip))
        out.extern_modules = std::make_shared<const std::string>(std::move(*own));
    } catch (const Error&) {
      // The record itself is unreadable: the failure above says why.
    }
  }
  return out;
}

}  // namespace tpkg
