// virtual_files.h: the generated files of a torch.package mount.
//
// A mount of a torch.package (an archive with `.data/extern_modules` or
// `.data/version`) shows files whose bytes are computed rather than stored:
//
//   path                    content
//   .data/extern_modules    the extern list as it would be regenerated now
//   .data/deps.dot          the dependency graph (added once libtpkg's
//                           metadata.h lands; until then absent, never faked)
//
// Until metadata regeneration exists, `.data/extern_modules` serves the
// archive's own record: for a read-only view that is exactly the current
// state. Any other ZIP (torch.save checkpoints, generic zips) gets none.
//
//   VirtualFiles vf(zip);
//   for (size_t i = 0; i < vf.size(); ++i) tree.AddVirtualFile(vf.path(i), i);
//   auto bytes = vf.Content(0);   // generated once, then cached
//
// Thread safety: the slot list is immutable after construction; Content()
// generates each slot at most once (std::call_once) and may be called from
// any thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tpkg/zip_reader.h"

namespace tpkg::fs {

inline constexpr const char* kExternModulesPath = ".data/extern_modules";
inline constexpr const char* kVersionPath = ".data/version";

// Whether `zip` is a torch.package (FORMAT.md §10.3).
bool IsTorchPackage(const ZipReader& zip);

class VirtualFiles {
 public:
  explicit VirtualFiles(std::shared_ptr<const ZipReader> zip);
  VirtualFiles(const VirtualFiles&) = delete;
  VirtualFiles& operator=(const VirtualFiles&) = delete;

  size_t size() const { return slots_.size(); }
  const std::string& path(size_t slot) const { return slots_[slot]->path; }
  // The file's bytes. Throws Error when generation fails (the next call
  // tries again).
  std::shared_ptr<const std::string> Content(size_t slot) const;

 private:
  struct Slot {
    std::string path;
    std::function<std::string()> generate;
    mutable std::once_flag once;
    mutable std::shared_ptr<const std::string> content;  // written once under `once`
  };
  void Add(std::string path, std::function<std::string()> generate);

  std::shared_ptr<const ZipReader> zip_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace tpkg::fs
