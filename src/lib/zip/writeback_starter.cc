#include "zip/writeback_starter.h"

#include <fcntl.h>

#include <exception>

#include "tpkg/background_thread.h"

namespace tpkg {

void StartWriteback(int fd, uint64_t from, uint64_t length) {
  ::sync_file_range(fd, static_cast<off_t>(from), static_cast<off_t>(length),
                    SYNC_FILE_RANGE_WRITE);
}

WritebackCalls WritebackCalls::System() {
  return {
      .start = StartWriteback,
      .wait =
          [](int fd, uint64_t from, uint64_t length) {
            return ::sync_file_range(
                fd, static_cast<off_t>(from), static_cast<off_t>(length),
                SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
          },
      .start_thread = StartBackgroundThread,
  };
}

WritebackStarter::WritebackStarter(int fd, WritebackCalls calls)
    : fd_(fd), calls_(std::move(calls)) {}

WritebackStarter::~WritebackStarter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void WritebackStarter::StartUpTo(uint64_t end) {
  if (end <= handed_) return;
  if (!inline_ && !thread_.joinable()) {
    try {
      thread_ = calls_.start_thread([this] { Run(); });
    } catch (const std::exception&) {
      inline_ = true;  // no thread to be had (system_error, bad_alloc): start it from here
    }
  }
  if (inline_) {
    calls_.start(fd_, handed_, end - handed_);
  } else {
    {
      std::lock_guard lock(mu_);
      ready_ = end;
    }
    wake_.notify_one();
  }
  handed_ = end;
}

void WritebackStarter::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || ready_ > started_; });
    if (stop_) return;  // the owner's fsync (or nobody: a failed save) does the rest
    const uint64_t from = started_;
    const uint64_t to = ready_;
    lock.unlock();
    calls_.start(fd_, from, to - from);
    lock.lock();
    started_ = to;
  }
}

}  // namespace tpkg
