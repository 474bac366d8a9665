// fd_sink.h: a ZipSink writing to a file descriptor (private to libtpkg).
//
//   auto sink = std::make_unique<tpkg::FdSink>(ScopedFd(fd), "out.pt");  // owns fd
//   auto sink = std::make_unique<tpkg::FdSink>(fd, "fd 3");             // borrows fd
//
// Writes at the descriptor's current position. CopyFrom() moves bytes with
// copy_file_range(2) (no trip through user space; a reflink on btrfs/XFS)
// and falls back to pread/write where the kernel refuses (pipes, O_APPEND,
// some cross-filesystem copies).
//
// Thread safety: none; one thread owns a sink.
#pragma once

#include <string>

#include "base/scoped_fd.h"
#include "tpkg/zip_writer.h"

namespace tpkg {

class FdSink : public ZipSink {
 public:
  FdSink(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  FdSink(ScopedFd owned, std::string what)
      : fd_(owned.get()), owned_(std::move(owned)), what_(std::move(what)) {}

  void Write(std::span<const char> bytes) override;
  void CopyFrom(int src_fd, uint64_t offset, uint64_t size) override;

 private:
  int fd_;
  ScopedFd owned_;  // invalid when the descriptor is borrowed
  std::string what_;
  bool kernel_copy_ = true;  // cleared once copy_file_range refuses this pair
};

}  // namespace tpkg
