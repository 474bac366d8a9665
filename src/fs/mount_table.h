// mount_table.h: the mounts this process sees (/proc/self/mountinfo), and
// the other mount namespaces that still hold a FUSE file system.
//
//   std::vector<MountInfo> mounts = ParseMountInfo(ReadMountInfo());
//   const MountInfo* m = TopMountAt(mounts, "/mnt/model");   // nullptr: not mounted
//   if (m && m->fstype == "fuse.tpkgfs" && !m->read_only()) ...
//   std::vector<pid_t> holders = OtherNamespacesWithDevice(m->major, m->minor);
//
// Nothing here touches a mounted file system: a hung daemon cannot block
// these calls (stat(2) of a FUSE mountpoint would wait for its daemon).
//
// Thread safety: plain functions and values.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tpkg::fs {

struct MountInfo {
  unsigned major = 0;  // st_dev of the mounted file system (for FUSE: the connection)
  unsigned minor = 0;
  std::string mount_point;    // unescaped
  std::string mount_options;  // per-mount ("rw,nosuid,...")
  std::string fstype;         // "fuse.tpkgfs"
  std::string source;         // fsname: the archive, unless the user chose another fsname=
  std::string super_options;  // "rw,user_id=0,group_id=0,allow_other"
  bool read_only() const;
  // The uid that mounted a FUSE file system (its user_id= option).
  std::optional<uid_t> fuse_owner() const;
};

// The text of /proc/self/mountinfo ("" when unreadable).
std::string ReadMountInfo();
// Every line that parses, in mount order (later mounts stack on earlier ones).
std::vector<MountInfo> ParseMountInfo(std::string_view text);
// The mount visible at `path` (an absolute, canonical path): the last one
// mounted there; nullptr when none.
const MountInfo* TopMountAt(const std::vector<MountInfo>& mounts, std::string_view path);
// The mount of the FUSE connection major:minor, nullptr when gone.
const MountInfo* MountWithDevice(const std::vector<MountInfo>& mounts, unsigned major,
                                 unsigned minor);
// One process (the first found) of every mount namespace other than ours in
// which the FUSE connection major:minor is mounted. Such a copy (unshare(1)
// copies every mount; with private mounts it takes no part in propagation)
// keeps the file system, and so its daemon, alive after it is unmounted here.
// Empty when there is none or /proc cannot tell (other users' processes).
std::vector<pid_t> OtherNamespacesWithDevice(unsigned major, unsigned minor);

}  // namespace tpkg::fs
