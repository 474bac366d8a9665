#include "zip/write_behind_sink.h"

#include <fcntl.h>

#include <algorithm>

namespace tpkg {

void WriteBehindSink::Write(std::span<const char> bytes) {
  inner_.Write(bytes);
  Advance(bytes.size());
}

void WriteBehindSink::CopyFrom(int src_fd, uint64_t offset, uint64_t size) {
  while (size > 0) {
    const uint64_t piece = std::min(size, kWindow - offset % kWindow);
    inner_.CopyFrom(src_fd, offset, piece);
    Advance(piece);
    offset += piece;
    size -= piece;
  }
}

void WriteBehindSink::Advance(uint64_t bytes) {
  written_ += bytes;
  while (written_ - started_ >= kWindow) {
    // Advisory: a failure here only means the final fsync does more work,
    // and that fsync reports real I/O errors.
    ::sync_file_range(fd_, static_cast<off_t>(started_), kWindow, SYNC_FILE_RANGE_WRITE);
    if (started_ >= kWindow) {
      ::sync_file_range(
          fd_, static_cast<off_t>(started_ - kWindow), kWindow,
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    }
    started_ += kWindow;
  }
}

void StartWriteback(int fd) {
  // nbytes 0: to the end of the file. A failure only leaves more to the fsync.
  ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

}  // namespace tpkg
