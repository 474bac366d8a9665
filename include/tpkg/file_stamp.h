// file_stamp.h: what tells one version of a file from another without
// reading it: device, inode, size, and the modification and status-change
// times (what git's index and make trust).
//
//   std::optional<tpkg::FileStamp> now = tpkg::TrustedStampOf(fd);
//   if (now && *now == kept) ...   // the bytes are those seen when `kept` was taken
//
// Why it can vouch for the bytes: a write(2) or truncate sets the
// status-change time (ctime), which no unprivileged process can set back
// (utimensat sets it to "now" too), and a file replaced by another has
// another inode or ctime. TrustedStampOf() gives a stamp only for a regular
// file that some name still leads to, that belongs to this user (or to
// root) and that nobody else may write (no other write bit, nor a group one
// unless the group is the user's private one, gid == uid: the group bits
// also show a POSIX ACL's grants), on a local file system that keeps
// nanosecond times (ext2/3/4, XFS, btrfs, tmpfs, f2fs, bcachefs, ZFS): on
// network and FUSE file systems another machine or daemon may change the
// bytes without the times this kernel shows, and FAT-like ones keep seconds
// at best.
//
// The limits, which is why callers use stamps only for caches whose worst
// case is an answer about another version of the file
// (package/analysis_store.h), never to skip a check that guards what is
// served or saved:
// - Writes through a shared writable mapping change the times when a clean
//   page is first written, not on later writes to a page still dirty.
// - Kernels before 6.13 take file times from a clock that ticks every few
//   milliseconds, so a second write of the same size within one tick keeps
//   the stamp.
// - A file system whose image someone else made (a disk image, a USB
//   stick) holds whatever inode numbers, owners and times its maker wrote.
//
// Thread safety: a value type; TrustedStampOf() is stateless.
#pragma once

#include <cstdint>
#include <optional>

namespace tpkg {

struct FileStamp {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_sec = 0;
  int64_t mtime_nsec = 0;
  int64_t ctime_sec = 0;
  int64_t ctime_nsec = 0;
  bool operator==(const FileStamp&) const = default;
};

// The stamp of the open file `fd`, or nullopt when fstat fails or the file
// is not one whose stamp vouches for its bytes (see above).
std::optional<FileStamp> TrustedStampOf(int fd);

}  // namespace tpkg
