// file_stamp.h: what tells one version of a file from another without
// reading it: device, inode, size, and the modification and status-change
// times (what git's index and make trust).
//
//   std::optional<tpkg::FileStamp> now = tpkg::TrustedStampOf(fd);
//   if (now && *now == kept) ...   // the bytes are those seen when `kept` was taken
//
// Why it can vouch for the bytes: any write changes the status-change time
// (ctime), which no unprivileged process can set back (utimensat sets it to
// "now" too), and a file replaced by another has another inode or ctime.
// TrustedStampOf() gives one only on local file systems that keep
// nanosecond times and update ctime on every change (ext2/3/4, XFS, btrfs,
// tmpfs, f2fs, bcachefs): on network and FUSE file systems another machine
// or daemon may change the bytes without the times this kernel shows, and
// FAT-like ones keep seconds at best.
//
// The limit: the kernel takes times from a clock that ticks every few
// milliseconds (before Linux 6.13; later kernels give a file whose times
// were just read a finer one on its next change), so a second write of the
// same size within one tick of the stamp being taken keeps it. Callers use
// stamps for caches whose worst case is a stale answer about a file that
// its writer changed in that window (package/analysis_store.h), never to
// skip a check that guards what is served or saved.
//
// Thread safety: a value type; TrustedStampOf() is stateless.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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
  // The fields as 56 bytes (little-endian), for keys and files.
  std::string Bytes() const;
};

// The stamp of the open file `fd`, or nullopt when fstat fails, when it is
// not a regular file that some name still leads to, or when its file
// system is not one whose stamps vouch for the bytes (see above).
std::optional<FileStamp> TrustedStampOf(int fd);

}  // namespace tpkg
