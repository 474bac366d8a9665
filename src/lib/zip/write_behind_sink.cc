#include "zip/write_behind_sink.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include <algorithm>
#include <system_error>

#include "tpkg/background_thread.h"

namespace tpkg {

namespace {

// Whether copy_file_range on the file system of `fd` shares extents (a
// reflink) instead of copying: XFS and btrfs. A guess by file system only
// (an XFS made without reflinks copies): it picks a piece size, nothing else.
bool SharesExtents(int fd) {
  struct statfs st;
  if (::fstatfs(fd, &st) != 0) return false;
  return st.f_type == XFS_SUPER_MAGIC || st.f_type == BTRFS_SUPER_MAGIC;
}

}  // namespace

WriteBehindSink::WriteBehindSink(int fd, std::string what)
    : inner_(fd, std::move(what)),
      fd_(fd),
      copy_piece_(SharesExtents(fd) ? kSharedExtentsPiece : kChunk) {}

WriteBehindSink::~WriteBehindSink() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void WriteBehindSink::Write(std::span<const char> bytes) {
  inner_.Write(bytes);
  Advance(bytes.size());
}

void WriteBehindSink::CopyFrom(int src_fd, uint64_t offset, uint64_t size) {
  while (size > 0) {
    const uint64_t piece = std::min(size, copy_piece_ - offset % copy_piece_);
    inner_.CopyFrom(src_fd, offset, piece);
    Advance(piece);
    offset += piece;
    size -= piece;
  }
}

uint64_t WriteBehindSink::writeback_started() const {
  std::lock_guard lock(mu_);
  return started_;
}

void WriteBehindSink::Advance(uint64_t bytes) {
  written_ += bytes;
  const uint64_t whole = written_ - written_ % kChunk;
  if (whole > published_) Publish(whole);
  if (written_ - waited_ > kDirtyLimit + kWaitStep) {
    const uint64_t target = written_ - kDirtyLimit;
    // Advisory, like every call here: a failure only leaves more to the
    // final fsync, which reports real I/O errors.
    ::sync_file_range(
        fd_, static_cast<off_t>(waited_), static_cast<off_t>(target - waited_),
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    waited_ = target;
  }
}

void WriteBehindSink::Publish(uint64_t end) {
  if (!inline_ && !thread_.joinable()) {
    try {
      thread_ = StartBackgroundThread([this] { RunWriteback(); });
    } catch (const std::system_error&) {
      inline_ = true;  // no thread to be had: still write behind, from here
    }
  }
  if (inline_) {
    ::sync_file_range(fd_, static_cast<off_t>(published_), static_cast<off_t>(end - published_),
                      SYNC_FILE_RANGE_WRITE);
    std::lock_guard lock(mu_);
    started_ = end;
  } else {
    {
      std::lock_guard lock(mu_);
      ready_ = end;
    }
    wake_.notify_one();
  }
  published_ = end;
}

void WriteBehindSink::RunWriteback() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || ready_ > started_; });
    if (stop_) return;  // the owner's fsync (or nobody: a failed save) does the rest
    const uint64_t from = started_;
    const uint64_t to = ready_;
    lock.unlock();
    ::sync_file_range(fd_, static_cast<off_t>(from), static_cast<off_t>(to - from),
                      SYNC_FILE_RANGE_WRITE);
    lock.lock();
    started_ = to;
  }
}

void StartWriteback(int fd) {
  // nbytes 0: to the end of the file. A failure only leaves more to the fsync.
  ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

}  // namespace tpkg
