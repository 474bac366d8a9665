// write_behind_sink.h (private): a ZipSink for big files that must end up
// fsync'd, such as the temp archive of a write-back.
//
//   ZipWriter w = ZipWriter::ToSink(std::make_unique<WriteBehindSink>(fd, path), prefix);
//   ... w.Finish(); fsync(fd);   // finds little left to write
//
// Copying an archive into the page cache and then fsyncing it costs the sum
// of both; starting the disk writes while copying costs about the larger of
// the two. Every kChunk bytes written, writeback of that chunk is started
// (sync_file_range WRITE), and the copy waits for what is more than
// kDirtyLimit behind it, which keeps the dirty memory of a 2 GB copy bounded.
// sync_file_range gives no durability by itself: the caller's fsync does.
//
// The writeback is started by a thread of the sink, not by the copy: on
// ext4 a sync_file_range allocates the chunk's blocks and queues its writes,
// and blocks while the device's queue is full. Issued inline every 4 MiB it
// slowed the copy of a 25 MiB package by about as much as it saved at the
// fsync. From a thread (bench_save.sh, against inline writeback every 32
// MiB): the final fsync of that package waits 0.2-0.4 ms instead of 4-7
// (in-process timestamps), but its copy takes about that much longer (its
// save: 0.039-0.041 s against 0.041-0.042 s); the save of a 2 GiB package
// on ext4 took
// 1.47 s against 1.72 s (medians of 6 rounds, faster in each; cp + fsync
// 1.35 s). Without the thread (it could not be made) the copy issues them
// itself.
//
// Thread safety: one thread owns a sink and calls Write/CopyFrom. The sink's
// writeback thread (started at the first whole chunk, joined by the
// destructor) only calls sync_file_range on the descriptor, which must stay
// open until the sink is destroyed; `ready_` and `stop_` are guarded by `mu_`.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "zip/fd_sink.h"

namespace tpkg {

class WriteBehindSink : public ZipSink {
 public:
  static constexpr uint64_t kChunk = 4 << 20;
  // The copy waits, kWaitStep at a time, for what is more than kDirtyLimit
  // behind it: at most kDirtyLimit + kWaitStep of dirty pages per save.
  static constexpr uint64_t kDirtyLimit = 64 << 20;
  static constexpr uint64_t kWaitStep = 8 << 20;
  // CopyFrom's pieces, between which writeback starts: a chunk where the
  // kernel copies the bytes; where copy_file_range shares extents (XFS,
  // btrfs) each piece is a reflink of its own and writes nothing, so fewer,
  // bigger ones: on XFS with reflinks, 4 MiB pieces made the save of the
  // 2 GiB package take 0.008 s against 0.005 s (bench_save.sh, REFLINK=1).
  static constexpr uint64_t kSharedExtentsPiece = 32 << 20;

  // Writes at `fd`'s current position, which must be 0 (a new file).
  WriteBehindSink(int fd, std::string what);
  ~WriteBehindSink() override;
  WriteBehindSink(const WriteBehindSink&) = delete;
  WriteBehindSink& operator=(const WriteBehindSink&) = delete;

  void Write(std::span<const char> bytes) override;
  // Copies in pieces that end on boundaries of copy_piece() in the source,
  // so that writeback can start between them (pieces stay 64 KiB aligned
  // for FdSink).
  void CopyFrom(int src_fd, uint64_t offset, uint64_t size) override;

  // Bytes from the start of the file whose writeback the thread (or the
  // copy) has asked for: for tests.
  uint64_t writeback_started() const;
  uint64_t copy_piece() const { return copy_piece_; }

 private:
  void Advance(uint64_t bytes);
  // Hands [0, end) to the writeback thread, starting it the first time.
  void Publish(uint64_t end);
  void RunWriteback();

  FdSink inner_;
  const int fd_;
  const uint64_t copy_piece_;  // kChunk or kSharedExtentsPiece, by the file system
  uint64_t written_ = 0;       // bytes written so far (the file offset); the owner's
  uint64_t published_ = 0;     // [0, published_) handed to the thread; the owner's
  uint64_t waited_ = 0;        // [0, waited_) on disk (waited for); the owner's
  bool inline_ = false;        // the thread could not be started: the owner starts writeback

  mutable std::mutex mu_;
  std::condition_variable wake_;
  uint64_t ready_ = 0;    // guarded by mu_: writeback may start for [0, ready_)
  uint64_t started_ = 0;  // guarded by mu_: writeback started for [0, started_)
  bool stop_ = false;     // guarded by mu_
  std::thread thread_;    // joinable once started
};

// Starts the writeback of every dirty page of `fd` without waiting for it
// (advisory, like the sink's): the caller's work meanwhile, such as reading
// the file back to check it, overlaps the disk's; its fsync then waits for
// what is left.
void StartWriteback(int fd);

}  // namespace tpkg
