// write_behind_sink.h (private): a ZipSink for big files that must end up
// fsync'd, such as the temp archive of a write-back.
//
//   ZipWriter w = ZipWriter::ToSink(std::make_unique<WriteBehindSink>(fd, path), prefix);
//   ... w.Finish(); fsync(fd);   // finds little left to write
//
// Copying a 2 GB archive into the page cache and then fsyncing it costs the
// sum of both; starting the disk writes while copying costs about the larger
// of the two. Every kWindow bytes, writeback of the window just filled is
// started (sync_file_range WRITE) and the window before it is waited for,
// which also keeps the dirty memory of the copy bounded. sync_file_range
// gives no durability by itself: the caller's fsync does.
//
// Thread safety: none; one thread owns a sink.
#pragma once

#include <cstdint>
#include <string>

#include "zip/fd_sink.h"

namespace tpkg {

class WriteBehindSink : public ZipSink {
 public:
  static constexpr uint64_t kWindow = 32 << 20;

  // Writes at `fd`'s current position, which must be 0 (a new file).
  WriteBehindSink(int fd, std::string what) : inner_(fd, std::move(what)), fd_(fd) {}

  void Write(std::span<const char> bytes) override;
  // Copies in pieces that end on window boundaries of the source, so that
  // writeback can start between them (pieces stay 64 KiB aligned for FdSink).
  void CopyFrom(int src_fd, uint64_t offset, uint64_t size) override;

 private:
  void Advance(uint64_t bytes);

  FdSink inner_;
  int fd_;
  uint64_t written_ = 0;  // bytes written so far (the file offset)
  uint64_t started_ = 0;  // writeback started for [0, started_)
};

// Starts the writeback of every dirty page of `fd` without waiting for it
// (advisory, like the sink's): the caller's work meanwhile, such as reading
// the file back to check it, overlaps the disk's; its fsync then waits for
// what is left.
void StartWriteback(int fd);

}  // namespace tpkg
