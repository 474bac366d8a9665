#include "virtual_files.h"

namespace tpkg::fs {

bool IsTorchPackage(const ZipReader& zip) {
  return zip.Find(kExternModulesPath) != nullptr || zip.Find(kVersionPath) != nullptr;
}

VirtualFiles::VirtualFiles(std::shared_ptr<const ZipReader> zip) : zip_(std::move(zip)) {
  if (!IsTorchPackage(*zip_)) return;
  // Regeneration arrives with metadata.h; the archive's own list is the
  // current one while the view is read-only.
  if (const ZipEntry* externs = zip_->Find(kExternModulesPath)) {
    const ZipReader* zip_ptr = zip_.get();
    Add(kExternModulesPath, [zip_ptr, externs] { return zip_ptr->ReadAll(*externs); });
  }
}

void VirtualFiles::Add(std::string path, std::function<std::string()> generate) {
  auto slot = std::make_unique<Slot>();
  slot->path = std::move(path);
  slot->generate = std::move(generate);
  slots_.push_back(std::move(slot));
}

std::shared_ptr<const std::string> VirtualFiles::Content(size_t slot) const {
  const Slot& s = *slots_.at(slot);
  std::call_once(s.once, [&s] { s.content = std::make_shared<const std::string>(s.generate()); });
  return s.content;
}

}  // namespace tpkg::fs
