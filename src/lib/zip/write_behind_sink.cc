#include "zip/write_behind_sink.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cerrno>

#include "tpkg/error.h"

namespace tpkg {

uint64_t WriteBehindSink::CopyPieceFor(long fs_type, bool same_device) {
  const bool may_share = fs_type == XFS_SUPER_MAGIC || fs_type == BTRFS_SUPER_MAGIC;
  return may_share && same_device ? kSharedExtentsPiece : kChunk;
}

WriteBehindSink::WriteBehindSink(int fd, std::string what, WritebackCalls calls)
    : inner_(fd, what),
      fd_(fd),
      what_(std::move(what)),
      wait_(calls.wait),
      starter_(fd, std::move(calls)) {
  // Only a piece size hangs on these: unknown, the copy uses chunks.
  struct statfs fs;
  if (::fstatfs(fd, &fs) == 0) fs_type_ = static_cast<long>(fs.f_type);
  struct stat st;
  if (::fstat(fd, &st) == 0) device_ = st.st_dev;
}

void WriteBehindSink::Write(std::span<const char> bytes) {
  while (!bytes.empty()) {
    const size_t piece =
        static_cast<size_t>(std::min<uint64_t>(bytes.size(), kChunk - written_ % kChunk));
    inner_.Write(bytes.first(piece));
    Advance(piece);
    bytes = bytes.subspan(piece);
  }
}

void WriteBehindSink::CopyFrom(int src_fd, uint64_t offset, uint64_t size) {
  const uint64_t piece_size = CopyPiece(src_fd);
  while (size > 0) {
    const uint64_t piece = std::min(size, piece_size - offset % piece_size);
    inner_.CopyFrom(src_fd, offset, piece);
    Advance(piece);
    offset += piece;
    size -= piece;
  }
}

uint64_t WriteBehindSink::CopyPiece(int src_fd) const {
  struct stat st;
  return CopyPieceFor(fs_type_, ::fstat(src_fd, &st) == 0 && st.st_dev == device_);
}

void WriteBehindSink::Advance(uint64_t bytes) {
  written_ += bytes;
  starter_.StartUpTo(written_ - written_ % kChunk);
  if (!waits_refused_ && written_ - waited_ > kDirtyLimit + kWaitStep) {
    const uint64_t target = written_ - kDirtyLimit;
    if (wait_(fd_, waited_, target - waited_) != 0) {
      const int err = errno;
      if (err != ENOSYS && err != EPERM && err != EINVAL && err != ESPIPE) {
        // This wait took the file's writeback error: the final fsync would not see it.
        ThrowSystemError("Cannot write '" + what_ + "'", err);
      }
      waits_refused_ = true;  // refused before doing anything: the fsync does it all
    }
    waited_ = target;
  }
}

}  // namespace tpkg
