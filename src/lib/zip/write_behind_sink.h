// write_behind_sink.h (private): a ZipSink for big files that must end up
// fsync'd, such as the temp archive of a write-back.
//
//   {
//     ZipWriter w = ZipWriter::ToSink(std::make_unique<WriteBehindSink>(fd, path), prefix);
//     ... w.Finish();
//   }                             // the sink's thread joined
//   fsync(fd);                    // finds little left to write
//
// Copying an archive into the page cache and then fsyncing it costs the sum
// of both; starting the disk writes while copying costs about the larger of
// the two. Every kChunk bytes written, writeback of that chunk is started on
// a thread (zip/writeback_starter.h), and the copy waits for what is more
// than kDirtyLimit behind it, which keeps the dirty memory of a 2 GB copy
// bounded. Starting writeback is advisory and gives no durability: the
// caller's fsync does, and reports the errors of what it writes. The waits
// are not advisory: a wait consumes the file's writeback error (the kernel
// reports it once per open file), so a failed one throws, naming the file,
// unless the call itself is refused (ENOSYS, EPERM under a seccomp filter,
// EINVAL, ESPIPE: it did nothing, and took no error); then the sink stops
// waiting and leaves it all to the fsync.
// Measured figures: doc/performance.md.
//
// Thread safety: one thread owns a sink and calls Write/CopyFrom; only its
// WritebackStarter has a thread (its header says what it shares). The
// descriptor must stay open until the sink is destroyed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "zip/fd_sink.h"
#include "zip/writeback_starter.h"

namespace tpkg {

class WriteBehindSink : public ZipSink {
 public:
  static constexpr uint64_t kChunk = 4 << 20;
  // The copy waits, at least kWaitStep at a time, for what is more than
  // kDirtyLimit behind it: at most kDirtyLimit + kWaitStep + one piece
  // (a chunk; kSharedExtentsPiece where extents may be shared) of dirty pages.
  static constexpr uint64_t kDirtyLimit = 64 << 20;
  static constexpr uint64_t kWaitStep = 8 << 20;
  // CopyFrom's pieces where copy_file_range may share extents (XFS or btrfs,
  // the source on the same device): each piece is then a reflink of its own
  // that writes nothing, so fewer, bigger ones (4 MiB pieces made the
  // reflinked save of a 2 GiB package take 0.008 s against 0.005 s). Where
  // the guess is wrong (an XFS made without reflinks) the kernel copies the
  // bytes and their writeback starts every 32 MiB instead of every 4.
  static constexpr uint64_t kSharedExtentsPiece = 32 << 20;

  // The piece size for a copy into a file system of type `fs_type`
  // (statfs f_type) from a file on the same device or not.
  static uint64_t CopyPieceFor(long fs_type, bool same_device);

  // Writes at `fd`'s current position, which must be 0 (a new file).
  // `what` names the file in errors.
  WriteBehindSink(int fd, std::string what, WritebackCalls calls = WritebackCalls::System());

  // In pieces of at most kChunk, so that writeback starts between them.
  void Write(std::span<const char> bytes) override;
  // In pieces that end on boundaries of the piece size in the source, so
  // that writeback can start between them (pieces stay 64 KiB aligned for
  // FdSink).
  void CopyFrom(int src_fd, uint64_t offset, uint64_t size) override;

 private:
  void Advance(uint64_t bytes);
  uint64_t CopyPiece(int src_fd) const;

  FdSink inner_;
  const int fd_;
  const std::string what_;
  const std::function<int(int, uint64_t, uint64_t)> wait_;
  long fs_type_ = 0;            // statfs f_type of fd_ (0: unknown)
  dev_t device_ = 0;            // st_dev of fd_
  uint64_t written_ = 0;        // bytes written so far (the file offset)
  uint64_t waited_ = 0;         // [0, waited_) waited for (on disk)
  bool waits_refused_ = false;  // the kernel refuses the wait: the fsync does it all
  WritebackStarter starter_;    // last: stopped and joined first
};

}  // namespace tpkg
