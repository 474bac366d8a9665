// writeback_starter.h (private): starts the writeback of a file's dirty
// pages, one range after another, on a thread of its own (for
// zip/write_behind_sink.h).
//
//   WritebackStarter starter(fd, WritebackCalls::System());
//   starter.StartUpTo(4 << 20);   // writeback of [0, 4 MiB) starts soon
//   ...                            // the owner goes on writing
//   // ~WritebackStarter: stops the thread and joins it
//
// Why a thread: on ext4, sync_file_range(SYNC_FILE_RANGE_WRITE) allocates the
// range's blocks and queues its writes in the caller, and blocks while the
// device's queue is full; the copy that fills the file must not wait for it.
// Starting writeback is advisory: a failure only leaves more to the owner's
// final fsync, which reports real I/O errors. When no thread can be had the
// owner's call starts it inline instead.
//
// Thread safety: StartUpTo() and the destructor are the owner's (one
// thread). The starter's thread only calls `calls.start` on the descriptor,
// which must stay open until the starter is destroyed. `fd_` and `calls_`
// are set at construction and only read by both; `ready_` and `stop_` are
// shared and guarded by `mu_` (a leaf, never held during the system call),
// as is `started_`, which only the thread uses; `handed_`, `inline_` and
// `thread_` are the owner's.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace tpkg {

// Starts the writeback of the dirty pages of `fd` in [from, from + length)
// (length 0: to the end of the file) without waiting for it: sync_file_range
// WRITE, advisory (a failure only leaves more to the caller's fsync). The
// caller's work meanwhile, such as reading the file back to check it,
// overlaps the disk's; its fsync then waits for what is left.
void StartWriteback(int fd, uint64_t from = 0, uint64_t length = 0);

// The system calls of write-behind, replaceable by tests.
struct WritebackCalls {
  // StartWriteback of [from, from + length).
  std::function<void(int fd, uint64_t from, uint64_t length)> start;
  // Writes [from, from + length) and waits until it is on disk
  // (sync_file_range WAIT_BEFORE | WRITE | WAIT_AFTER): 0, or -1 and errno.
  std::function<int(int fd, uint64_t from, uint64_t length)> wait;
  // Starts a thread running `body`; throws as std::thread does.
  std::function<std::thread(std::function<void()> body)> start_thread;

  // sync_file_range(2) and tpkg/background_thread.h.
  static WritebackCalls System();
};

class WritebackStarter {
 public:
  WritebackStarter(int fd, WritebackCalls calls);
  ~WritebackStarter();
  WritebackStarter(const WritebackStarter&) = delete;
  WritebackStarter& operator=(const WritebackStarter&) = delete;

  // Writeback may start for [0, end) (`end` only grows): hands the new part
  // to the thread, which is started the first time; without one, starts it
  // here.
  void StartUpTo(uint64_t end);

 private:
  void Run();

  const int fd_;
  const WritebackCalls calls_;
  uint64_t handed_ = 0;  // [0, handed_) given to the thread or started inline
  bool inline_ = false;  // no thread could be started
  std::thread thread_;   // joinable once started

  std::mutex mu_;
  std::condition_variable wake_;
  uint64_t ready_ = 0;    // writeback may start for [0, ready_)
  uint64_t started_ = 0;  // the thread started it for [0, started_)
  bool stop_ = false;
};

}  // namespace tpkg
