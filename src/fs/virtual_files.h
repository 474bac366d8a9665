// virtual_files.h: the generated files of a torch.package mount.
//
// A mount of a torch.package shows files whose bytes are computed rather
// than stored: `.data/extern_modules` and `.data/deps.dot`. What they hold is
// decided in libtpkg (tpkg/package_files.h), which `tpkg cat` uses too; this
// class adds what a mount needs on top: the analysis runs on first use (stat
// or read of either file), not at mount time, and again on the first use
// after Invalidate() (a read/write mount calls it on every change, so the
// files follow the edits); problems it finds (torch's PackagingError text)
// are logged once per run and the files are still served.
//
//   VirtualFiles vf(zip);                // or (zip, journal_records, options)
//   for (size_t i = 0; i < vf.size(); ++i) tree.AddVirtualFile(vf.path(i), i);
//   auto bytes = vf.Content(0);   // generated once, then cached until Invalidate()
//
// Thread safety: the slot list is immutable after construction; Content()
// and Invalidate() may be called from any thread: the analysis runs under
// mu_ (one at a time), and an Invalidate() that lands while it runs makes
// the next Content() run it again (epochs), so no stale result sticks.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/analysis_cache.h"
#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/package_files.h"
#include "tpkg/record_attributes.h"
#include "tpkg/zip_reader.h"

namespace tpkg::fs {

class VirtualFiles {
 public:
  // The records of `zip` as they are (the read-only view); with `cache`,
  // the analysis keeps and reuses its per-record results there
  // (tpkg/analysis_cache.h; with its disk layer, across mounts).
  explicit VirtualFiles(std::shared_ptr<const ZipReader> zip,
                        std::shared_ptr<RecordAnalysisCache> cache = nullptr);
  // The records of `source` (the edited namespace; `zip` is the archive
  // as opened, whose own `.data/extern_modules` is the fallback, and is
  // shown as it is while `unchanged()` says the records are the archive's).
  // `options()` is called once, by the first analysis: what it gathers (the
  // original record names of an edited package: a string per record) is no
  // cost of the mount.
  VirtualFiles(std::shared_ptr<const ZipReader> zip, std::shared_ptr<const RecordSource> source,
               std::function<MetadataOptions()> options, std::function<bool()> unchanged);
  VirtualFiles(const VirtualFiles&) = delete;
  VirtualFiles& operator=(const VirtualFiles&) = delete;

  size_t size() const { return paths_.size(); }
  const std::string& path(size_t slot) const { return paths_[slot]; }
  // The file's bytes. Throws Error when they cannot be produced.
  std::shared_ptr<const std::string> Content(size_t slot) const;
  // The slot of `path`, if it is a generated file.
  std::optional<size_t> SlotOf(std::string_view path) const;
  // Whether a generated file lies below the folder `path` (`.data`).
  bool HoldsGenerated(std::string_view path) const;
  // Whether Content() has a current result (it is then cheap).
  bool IsGenerated() const {
    return generated_epoch_.load(std::memory_order_acquire) ==
           epoch_.load(std::memory_order_acquire);
  }
  // The records changed: the next Content() runs the analysis again.
  void Invalidate() { epoch_.fetch_add(1, std::memory_order_acq_rel); }

  // The extended attributes of every record (tpkg/record_attributes.h: RecordXattrs), for
  // any model file, computed from the current records on first use and again
  // after Invalidate(). Throws Error when a record cannot be read.
  std::shared_ptr<const RecordXattrs> Attributes() const;

 private:
  GeneratedFiles Generate() const;  // never throws: failures land in the result; under mu_

  std::shared_ptr<const ZipReader> zip_;
  std::shared_ptr<const RecordSource> source_;
  const std::function<MetadataOptions()> make_options_;
  mutable std::optional<MetadataOptions> options_;  // made by the first Generate(); guarded by mu_
  const std::function<bool()> unchanged_;
  std::vector<std::string> paths_;  // slot -> path: extern_modules, deps.dot
  std::atomic<uint64_t> epoch_{1};  // bumped by Invalidate()
  mutable std::mutex mu_;
  mutable std::atomic<uint64_t> generated_epoch_{0};  // epoch of generated_; written under mu_
  mutable GeneratedFiles generated_;                  // guarded by mu_
  mutable std::mutex attributes_mu_;  // never held with mu_
  mutable uint64_t attributes_epoch_ = 0;                       // guarded by attributes_mu_
  mutable std::shared_ptr<const RecordXattrs> attributes_;  // guarded by attributes_mu_
};

}  // namespace tpkg::fs
