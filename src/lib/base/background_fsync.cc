#include "base/background_fsync.h"

#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "tpkg/background_thread.h"
#include "tpkg/error.h"

namespace tpkg {

BackgroundFsync::BackgroundFsync(int fd, std::string what, std::function<int(int)> sync)
    : what_(std::move(what)) {
  try {
    thread_ = StartBackgroundThread([this, fd, sync = std::move(sync)] {
      if (sync(fd) != 0) error_ = errno;
    });
  } catch (const std::system_error&) {
    // No thread: the caller's final fsync writes it all.
  }
}

BackgroundFsync::~BackgroundFsync() { Join(); }

void BackgroundFsync::Join() {
  if (thread_.joinable()) thread_.join();
}

void BackgroundFsync::Finish() {
  Join();
  if (error_ != 0) ThrowSystemError("Cannot fsync '" + what_ + "'", error_);
}

}  // namespace tpkg
