// ZipSink's default raw copy and FdSink.
#include <algorithm>
#include <vector>

#include "base/file_util.h"
#include "zip/fd_sink.h"

namespace tpkg {
namespace {

constexpr size_t kCopyBuffer = 1 << 20;

[[noreturn]] void ThrowSourceEnded() {
  throw Error(Errc::kCorrupt, "source archive ended before the record being copied");
}

}  // namespace

void ZipSink::CopyFrom(int src_fd, uint64_t offset, uint64_t size) {
  std::vector<char> buffer(static_cast<size_t>(std::min<uint64_t>(size, kCopyBuffer)));
  while (size > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size, buffer.size()));
    const size_t got = PreadFull(src_fd, std::span(buffer).first(want), offset, "source archive");
    if (got != want) ThrowSourceEnded();
    Write(std::span(buffer).first(got));
    offset += got;
    size -= got;
  }
}

void FdSink::Write(std::span<const char> bytes) { WriteAll(fd_, bytes, what_); }

void FdSink::CopyFrom(int src_fd, uint64_t offset, uint64_t size) {
  uint64_t left = size;
  if (kernel_copy_) {
    // At the descriptor's position (no explicit offset): the sink may be a
    // pipe or O_APPEND file, which is also why a refusal sticks for the sink.
    left = CopyInKernel(src_fd, offset, fd_, std::nullopt, size, what_);
    kernel_copy_ = left == 0;
  }
  if (left > 0) ZipSink::CopyFrom(src_fd, offset + (size - left), left);
}

}  // namespace tpkg
