// fuse_unmount.h: unmounting a FUSE mount the way its owner may: umount2(2)
// for root, fusermount3 (the setuid helper) for everyone else. Used by
// `tpkgfs -u` (unmount.h) and by a daemon whose connection was aborted,
// whose mount the kernel leaves in place, dead (daemon.cc).
//
//   if (std::optional<UnmountFailure> f = UnmountFuse("/mnt/model", {.lazy = false}))
//     ... f->err == EBUSY: files are open there; f->why: the reason as one line
//
// Thread safety: stateless; spawns fusermount3 and waits for it.
#pragma once

#include <optional>
#include <string>

namespace tpkg::fs {

struct UnmountOptions {
  // Detach now, end the file system when its last file is closed
  // (MNT_DETACH, fusermount3 -z) instead of refusing a busy mount.
  bool lazy = false;
};

struct UnmountFailure {
  int err = 0;      // errno (EBUSY: in use); 0 when fusermount3 only said why
  std::string why;  // one line, without "fusermount3: "
};

// nullopt once `path` (absolute) is unmounted; never follows a symbolic link.
std::optional<UnmountFailure> UnmountFuse(const std::string& path, UnmountOptions options);

}  // namespace tpkg::fs
