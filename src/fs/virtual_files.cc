#include "virtual_files.h"

#include <malloc.h>

#include "log.h"

namespace tpkg::fs {

bool IsTorchPackage(const ZipReader& zip) {
  return zip.Find(kExternModulesPath) != nullptr || zip.Find(kVersionPath) != nullptr;
}

VirtualFiles::VirtualFiles(std::shared_ptr<const ZipReader> zip) : zip_(std::move(zip)) {
  if (IsTorchPackage(*zip_)) paths_ = {kExternModulesPath, kDepsDotPath};
}

// When a record cannot be read (corrupt data), nothing can be regenerated:
// `.data/extern_modules` then falls back to the archive's own bytes, which
// are the current state of a read-only view, and `.data/deps.dot` fails with
// the reason rather than show a partial graph.
void VirtualFiles::GenerateOnce() const {
  try {
    const Metadata m = RegenerateMetadata(ZipRecordSource(*zip_));
    if (!m.ok()) {
      TPKG_LOG(kWarning) << zip_->path() << ": the package would not export as it is:\n"
                         << m.problems;
    }
    generated_.extern_modules = std::make_shared<const std::string>(m.extern_modules_text);
    generated_.deps_dot = std::make_shared<const std::string>(m.deps_dot);
  } catch (const Error& e) {
    generated_.failure = std::make_shared<const Error>(
        e.code(), std::string("cannot regenerate the package metadata: ") + e.what(),
        e.sys_errno());
    TPKG_LOG(kWarning) << generated_.failure->what();
    if (const ZipEntry* own = zip_->Find(kExternModulesPath)) {
      generated_.extern_modules = std::make_shared<const std::string>(zip_->ReadAll(*own));
    }
  }
}

std::shared_ptr<const std::string> VirtualFiles::Content(size_t slot) const {
  std::call_once(once_, [this] {
    GenerateOnce();
    // The analysis held every source in memory; hand that back to the system.
    malloc_trim(0);
    generated_flag_.store(true, std::memory_order_release);
  });
  const bool externs = paths_.at(slot) == kExternModulesPath;
  const auto& content = externs ? generated_.extern_modules : generated_.deps_dot;
  if (!content) throw *generated_.failure;
  return content;
}

}  // namespace tpkg::fs
