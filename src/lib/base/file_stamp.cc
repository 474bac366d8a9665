// TrustedStampOf: fstat plus the file-system check of tpkg/file_stamp.h.
#include "tpkg/file_stamp.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

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

void AppendLittleEndian(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

std::string FileStamp::Bytes() const {
  std::string out;
  out.reserve(56);
  for (const uint64_t v :
       {dev, ino, size, static_cast<uint64_t>(mtime_sec), static_cast<uint64_t>(mtime_nsec),
        static_cast<uint64_t>(ctime_sec), static_cast<uint64_t>(ctime_nsec)})
    AppendLittleEndian(out, v);
  return out;
}

std::optional<FileStamp> TrustedStampOf(int fd) {
  struct statfs fs;
  if (::fstatfs(fd, &fs) != 0) return std::nullopt;
  bool trusted = false;
  for (const unsigned long magic : kTrustedFileSystems)
    trusted = trusted || static_cast<unsigned long>(fs.f_type) == magic;
  struct stat st;
  // A file no name leads to any more (replaced, removed) has no later reader.
  if (!trusted || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink == 0)
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
