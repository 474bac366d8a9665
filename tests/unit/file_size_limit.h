// file_size_limit.h: a real short write for tests. While a FileSizeLimit
// lives, RLIMIT_FSIZE makes the kernel cut a write short at the limit and
// refuse the next one with EFBIG (SIGXFSZ ignored), as a disk that fills up
// does with ENOSPC. Process-wide: tests that use it must not run writers on
// other threads meanwhile.
#pragma once

#include <signal.h>
#include <sys/resource.h>

namespace tpkg::testing {

class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old_limit_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{bytes, old_limit_.rlim_max};
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_limit_);
    signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_limit_{};
  sighandler_t old_handler_;
};

}  // namespace tpkg::testing
