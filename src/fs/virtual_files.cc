#include "virtual_files.h"

#include <malloc.h>

#include "log.h"

namespace tpkg::fs {

bool IsTorchPackage(const ZipReader& zip) {
  return zip.Find(kExternModulesPath) != nullptr || zip.Find(kVersionPath) != nullptr;
}

VirtualFiles::VirtualFiles(std::shared_ptr<const ZipReader> zip)
    : VirtualFiles(zip, std::make_shared<ZipRecordSource>(*zip), MetadataOptions{},
                   [] { return true; }) {}

// The ZipRecordSource above refers to *zip, which zip_ keeps alive.
VirtualFiles::VirtualFiles(std::shared_ptr<const ZipReader> zip,
                           std::shared_ptr<const RecordSource> source, MetadataOptions options,
                           std::function<bool()> unchanged)
    : zip_(std::move(zip)),
      source_(std::move(source)),
      options_(std::move(options)),
      unchanged_(std::move(unchanged)) {
  if (IsTorchPackage(*zip_)) paths_ = {kExternModulesPath, kDepsDotPath};
}

std::optional<size_t> VirtualFiles::SlotOf(std::string_view path) const {
  for (size_t slot = 0; slot < paths_.size(); ++slot) {
    if (paths_[slot] == path) return slot;
  }
  return std::nullopt;
}

// When a record cannot be read (corrupt data), nothing can be regenerated:
// `.data/extern_modules` then falls back to the archive's own bytes, and
// `.data/deps.dot` fails with the reason rather than show a partial graph.
VirtualFiles::Generated VirtualFiles::Generate() const {
  Generated out;
  try {
    const Metadata m = RegenerateMetadata(*source_, options_);
    if (!m.ok()) {
      TPKG_LOG(kWarning) << zip_->path() << ": the package would not export as it is:\n"
                         << m.problems;
    }
    out.extern_modules = std::make_shared<const std::string>(m.extern_modules_text);
    // An unedited archive is shown as it is, even where the analysis would
    // write another list: the mount must not misreport what the package declares.
    if (const ZipEntry* own = zip_->Find(kExternModulesPath); own && unchanged_()) {
      out.extern_modules = std::make_shared<const std::string>(zip_->ReadAll(*own));
    }
    out.deps_dot = std::make_shared<const std::string>(m.deps_dot);
  } catch (const Error& e) {
    out.failure = std::make_shared<const Error>(
        e.code(), std::string("cannot regenerate the package metadata: ") + e.what(),
        e.sys_errno());
    TPKG_LOG(kWarning) << out.failure->what();
    if (const ZipEntry* own = zip_->Find(kExternModulesPath)) {
      out.extern_modules = std::make_shared<const std::string>(zip_->ReadAll(*own));
    }
  }
  return out;
}

std::shared_ptr<const std::string> VirtualFiles::Content(size_t slot) const {
  std::lock_guard lock(mu_);
  const uint64_t epoch = epoch_.load(std::memory_order_acquire);
  if (generated_epoch_.load(std::memory_order_relaxed) != epoch) {
    generated_ = Generate();
    // The analysis held every source in memory; hand that back to the system.
    malloc_trim(0);
    generated_epoch_.store(epoch, std::memory_order_release);
  }
  const bool externs = paths_.at(slot) == kExternModulesPath;
  const auto& content = externs ? generated_.extern_modules : generated_.deps_dot;
  if (!content) throw *generated_.failure;
  return content;
}

std::shared_ptr<const RecordAttributes> VirtualFiles::Attributes() const {
  std::lock_guard lock(attributes_mu_);
  const uint64_t epoch = epoch_.load(std::memory_order_acquire);
  if (!attributes_ || attributes_epoch_ != epoch) {
    attributes_ = std::make_shared<const RecordAttributes>(RecordAttributes::Compute(*source_));
    attributes_epoch_ = epoch;
  }
  return attributes_;
}

}  // namespace tpkg::fs
