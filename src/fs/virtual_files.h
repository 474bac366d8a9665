// virtual_files.h: the generated files of a torch.package mount.
//
// A mount of a torch.package (an archive with `.data/extern_modules` or
// `.data/version`) shows files whose bytes are computed rather than stored,
// from libtpkg's metadata regeneration (metadata.h) over the current records:
//
//   path                    content
//   .data/extern_modules    the extern list as the exporter would write it now
//                           (an unmodified archive gets its own bytes back)
//   .data/deps.dot          the dependency graph, as torch's
//                           dependency_graph_string() prints it
//
// Any other ZIP (torch.save checkpoints, generic zips) gets none. The
// analysis runs once, on first use (stat or read of either file), not at
// mount time; problems it finds (torch's PackagingError text) are logged
// once and the files are still served. If a record cannot be read at all
// (corrupt data), `.data/extern_modules` falls back to the archive's own
// bytes and `.data/deps.dot` reads fail with the reason.
//
//   VirtualFiles vf(zip);
//   for (size_t i = 0; i < vf.size(); ++i) tree.AddVirtualFile(vf.path(i), i);
//   auto bytes = vf.Content(0);   // generated once, then cached
//
// Thread safety: the slot list is immutable after construction; Content()
// runs the analysis at most once (std::call_once) and may be called from any
// thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/zip_reader.h"

namespace tpkg::fs {

inline constexpr const char* kExternModulesPath = ".data/extern_modules";
inline constexpr const char* kDepsDotPath = ".data/deps.dot";
inline constexpr const char* kVersionPath = ".data/version";

// Whether `zip` is a torch.package (FORMAT.md §10.3).
bool IsTorchPackage(const ZipReader& zip);

class VirtualFiles {
 public:
  explicit VirtualFiles(std::shared_ptr<const ZipReader> zip);
  VirtualFiles(const VirtualFiles&) = delete;
  VirtualFiles& operator=(const VirtualFiles&) = delete;

  size_t size() const { return paths_.size(); }
  const std::string& path(size_t slot) const { return paths_[slot]; }
  // The file's bytes. Throws Error when they cannot be produced.
  std::shared_ptr<const std::string> Content(size_t slot) const;
  // Whether Content() has run the analysis already (it is then cheap).
  bool IsGenerated() const { return generated_flag_.load(std::memory_order_acquire); }

 private:
  struct Generated {
    std::shared_ptr<const std::string> extern_modules;  // null: see failure
    std::shared_ptr<const std::string> deps_dot;        // null: see failure
    std::shared_ptr<const Error> failure;               // why the analysis failed
  };
  void GenerateOnce() const;  // never throws: failures land in generated_

  std::shared_ptr<const ZipReader> zip_;
  std::vector<std::string> paths_;  // slot -> path: extern_modules, deps.dot
  mutable std::once_flag once_;
  mutable std::atomic<bool> generated_flag_{false};
  mutable Generated generated_;  // written once under once_
};

}  // namespace tpkg::fs
