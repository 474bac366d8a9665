// TrustedStampOf: fstat plus the file-system check of tpkg/file_stamp.h.
#include "tpkg/file_stamp.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <array>

namespace tpkg {
namespace {

// Local file systems with nanosecond times that update ctime on every
// change of the bytes. Some magics are missing from older kernel headers.
constexpr std::array<unsigned long, 7> kTrustedFileSystems = {
    EXT4_SUPER_MAGIC,  // also ext2 and ext3
    XFS_SUPER_MAGIC,  BTRFS_SUPER_MAGIC, TMPFS_MAGIC, F2FS_SUPER_MAGIC, 0xca451a4eUL,  // bcachefs
    0x2fc12fc1UL,                                                                      // zfs
};

// No write bit for others; the group's only when it is this user's private
// group (Debian's default for users: gid == uid, umask 002), whose only
// member is the user.
bool OnlyItsOwnerMayWrite(const struct stat& st) {
  if (st.st_mode & S_IWOTH) return false;
  return !(st.st_mode & S_IWGRP) || (st.st_gid == ::getegid() && ::getegid() == ::geteuid());
}

}  // namespace

std::optional<FileStamp> TrustedStampOf(int fd) {
  struct statfs fs;
  if (::fstatfs(fd, &fs) != 0) return std::nullopt;
  bool trusted = false;
  for (const unsigned long magic : kTrustedFileSystems)
    trusted = trusted || static_cast<unsigned long>(fs.f_type) == magic;
  struct stat st;
  // A file no name leads to any more (replaced, removed) has no later
  // reader; one that another user may write could be changed through a
  // mapping without a new stamp.
  if (!trusted || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink == 0 ||
      (st.st_uid != ::geteuid() && st.st_uid != 0) || !OnlyItsOwnerMayWrite(st))
    return std::nullopt;
  return FileStamp{static_cast<uint64_t>(st.st_dev),
                   static_cast<uint64_t>(st.st_ino),
                   static_cast<uint64_t>(st.st_size),
                   st.st_mtim.tv_sec,
                   st.st_mtim.tv_nsec,
                   st.st_ctim.tv_sec,
                   st.st_ctim.tv_nsec};
}

}  // namespace tpkg
