// mount_site.h: where a mount must not go. A FUSE daemon that touches a
// path inside its own mount waits for itself: a read/write daemon keeps its
// journal and save log beside the archive and its analysis cache in the
// user's cache folder, so none of them may lie inside the mountpoint
// (mounting an archive over its own folder hung the daemon for good, and a
// cache folder inside the mount hung the first read of `.data/`). And a
// mountpoint that is already a tpkgfs mount would hide that mount under a
// second one, whose `tpkgfs -u` then reports the wrong archive.
//
//   if (LiesInside(DirName(archive), mountpoint)) ...  // read-only: its journal would be hidden
//   RefuseStackedMount(mountpoint);                    // throws when already a tpkgfs mount
//   std::string warning = HiddenEntriesWarning(mountpoint);
//
// Nothing here stats a path inside an existing mount other than the
// mountpoint itself.
//
// Thread safety: plain functions.
#pragma once

#include <string>

namespace tpkg::fs {

// Whether `path` is `folder` or lies under it, after resolving the symbolic
// links of both (`folder` must exist; of `path` the deepest existing
// ancestor is resolved and the rest taken as written).
bool LiesInside(const std::string& path, const std::string& folder);

// Throws Error(kExists) when `mountpoint` (canonical) is the top of a
// tpkgfs mount already, naming its archive.
void RefuseStackedMount(const std::string& mountpoint);

// A warning when the folder `mountpoint` holds entries, which the mount
// hides until it is unmounted; "" when it is empty or cannot be read.
std::string HiddenEntriesWarning(const std::string& mountpoint);

}  // namespace tpkg::fs
