// scoped_fd.h: RAII owner of a POSIX file descriptor (private to libtpkg and its shells).
//
//   tpkg::ScopedFd fd(::open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd.valid()) tpkg::ThrowSystemError("cannot open " + path, errno);
//   ::pread(fd.get(), buf, n, off);           // closed when `fd` goes out of scope
//
// API: ScopedFd(int), get(), valid(), release() (gives up ownership),
// reset(int) (closes the old one), Close() (closes now and throws on error,
// for writers that must see a failed close). Move-only.
//
// Thread safety: a ScopedFd is a value owned by one thread; the descriptor
// itself may be shared for pread/pwrite by whoever is handed get().
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "tpkg/error.h"

namespace tpkg {

class ScopedFd {
 public:
  ScopedFd() noexcept = default;
  explicit ScopedFd(int fd) noexcept : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }

  // Gives up ownership without closing; returns the descriptor.
  int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the current descriptor (errors ignored) and owns `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

  // Closes now; throws Error naming `what` if close() reports a failure
  // (a delayed write error on NFS, a full quota).
  void Close(const std::string& what) {
    const int fd = release();
    if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) {
      const int err = errno;
      ThrowSystemError("cannot close " + what, err);
    }
  }

 private:
  int fd_ = -1;
};

}  // namespace tpkg
