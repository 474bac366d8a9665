#include "virtual_files.h"

#include "tpkg/journal_records.h"

#include <malloc.h>

#include "log.h"

namespace tpkg::fs {

VirtualFiles::VirtualFiles(std::shared_ptr<const ZipReader> zip,
                           std::shared_ptr<RecordAnalysisCache> cache)
    : VirtualFiles(
          zip, std::make_shared<ZipRecordSource>(*zip),
          [cache = std::move(cache)] {
            MetadataOptions options;
            options.cache = cache;
            return options;
          },
          [] { return true; }) {}

// The ZipRecordSource above refers to *zip, which zip_ keeps alive.
VirtualFiles::VirtualFiles(std::shared_ptr<const ZipReader> zip,
                           std::shared_ptr<const RecordSource> source,
                           std::function<MetadataOptions()> options,
                           std::function<bool()> unchanged)
    : zip_(std::move(zip)),
      source_(std::move(source)),
      make_options_(std::move(options)),
      unchanged_(std::move(unchanged)) {
  paths_ = GeneratedFilePaths(*zip_);
}

std::optional<size_t> VirtualFiles::SlotOf(std::string_view path) const {
  for (size_t slot = 0; slot < paths_.size(); ++slot) {
    if (paths_[slot] == path) return slot;
  }
  return std::nullopt;
}

bool VirtualFiles::HoldsGenerated(std::string_view path) const {
  for (const std::string& file : paths_) {
    if (file.size() > path.size() && file.starts_with(path) && file[path.size()] == '/')
      return true;
  }
  return false;
}

GeneratedFiles VirtualFiles::Generate() const {
  if (!options_) options_ = make_options_();
  GeneratedFiles out = GeneratePackageFiles(*zip_, *source_, *options_, unchanged_());
  if (!out.problems.empty()) {
    TPKG_LOG(kWarning) << zip_->path() << ": the package would not export as it is:\n"
                       << out.problems;
  }
  if (out.failure) TPKG_LOG(kWarning) << out.failure->what();
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
  return generated_.Content(paths_.at(slot));
}

std::shared_ptr<const RecordXattrs> VirtualFiles::Attributes() const {
  std::lock_guard lock(attributes_mu_);
  const uint64_t epoch = epoch_.load(std::memory_order_acquire);
  if (!attributes_ || attributes_epoch_ != epoch) {
    attributes_ = std::make_shared<const RecordXattrs>(RecordXattrs::Compute(*source_));
    attributes_epoch_ = epoch;
  }
  return attributes_;
}

}  // namespace tpkg::fs
