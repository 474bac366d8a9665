// Where a mount must not go (rules in mount_site.h).
#include "mount_site.h"

#include <dirent.h>

#include <memory>

#include "mount_table.h"
#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/record_path.h"

namespace tpkg::fs {
namespace {

std::string Resolved(const std::string& path) { return RealPath(path).value_or(""); }

// `path` (absolute) with its deepest existing ancestor resolved; "" when
// none is.
std::string ResolvedAsFarAsItExists(std::string path) {
  std::string rest;  // the components that do not exist yet, each after a '/'
  for (;;) {
    if (const std::string real = Resolved(path); !real.empty())
      return real == "/" ? (rest.empty() ? real : rest) : real + rest;
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos || path == "/") return {};
    rest = path.substr(slash) + rest;
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}

}  // namespace

bool LiesInside(const std::string& path, const std::string& folder) {
  const std::string inner = ResolvedAsFarAsItExists(path);
  const std::string outer = Resolved(folder);
  if (inner.empty() || outer.empty()) return false;
  if (outer == "/") return true;
  return inner == outer || (inner.starts_with(outer) && inner[outer.size()] == '/');
}

void RefuseStackedMount(const std::string& mountpoint) {
  const std::vector<MountInfo> mounts = ParseMountInfo(ReadMountInfo());
  const MountInfo* top = TopMountAt(mounts, mountpoint);
  if (!top || top->fstype != "fuse.tpkgfs") return;
  throw Error(Errc::kExists, "mountpoint '" + mountpoint + "' is already a tpkgfs mount (of " +
                                 QuoteName(top->source) + "): unmount it first (tpkgfs -u " +
                                 mountpoint + ")");
}

std::string HiddenEntriesWarning(const std::string& mountpoint) {
  std::unique_ptr<DIR, decltype(&::closedir)> dir(::opendir(mountpoint.c_str()), &::closedir);
  if (!dir) return {};
  size_t entries = 0;
  while (const dirent* d = ::readdir(dir.get())) {
    const std::string_view name = d->d_name;
    if (name != "." && name != "..") ++entries;
  }
  if (entries == 0) return {};
  return "mountpoint '" + mountpoint + "' is not empty: its " + std::to_string(entries) +
         (entries == 1 ? " entry is" : " entries are") + " hidden until it is unmounted";
}

}  // namespace tpkg::fs
