// scoped_fd.h: the owner of one POSIX file descriptor (ScopedFd), and of one
// directory stream (ScopedDir).
//
// Every descriptor libtpkg hands out (journal data files, temp archives) is a
// ScopedFd, so no path can leak one. Move-only; closes on destruction.
//
//   tpkg::ScopedFd fd(::open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd.valid()) {
//     const int err = errno;  // before the message's allocation can change it
//     tpkg::ThrowSystemError("Cannot open '" + path + "'", err);
//   }
//   ::pread(fd.get(), buf, n, 0);
//   int raw = fd.release();  // the caller now closes `raw` (e.g. kept in a FUSE handle table)
//
// Thread safety: a ScopedFd is owned by one thread at a time; the descriptor
// itself may of course be used concurrently with pread/pwrite.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>

#include "tpkg/error.h"

namespace tpkg {

class ScopedFd {
 public:
  ScopedFd() = default;
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
  explicit operator bool() const noexcept { return valid(); }
  // Gives up ownership without closing.
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the current descriptor (errors ignored: nothing useful can be
  // done about a failing close of a descriptor we only read or already
  // fsync'd) and takes `fd`.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // Closes now; throws Error naming `what` if close() reports a failure (a
  // delayed write error on NFS, a full quota), for writers that must see it.
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

// An open directory stream (opendir, fdopendir), closed on destruction, so
// that an exception while listing cannot leak it. Null when the open failed:
//   ScopedDir dir(::opendir(path.c_str()));
//   if (!dir) { const int err = errno; ... }
//   while (const dirent* e = ::readdir(dir.get())) ...
struct DirCloser {
  void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};
using ScopedDir = std::unique_ptr<DIR, DirCloser>;

}  // namespace tpkg
