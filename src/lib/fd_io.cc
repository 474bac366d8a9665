#include "fd_io.h"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "tpkg/error.h"

namespace tpkg {

size_t PreadFull(int fd, std::span<char> out, uint64_t offset, std::string_view what) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n == 0) break;
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      ThrowSystemError(std::string(what) + ": read failed", err);
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

void WriteFull(int fd, std::span<const char> bytes, std::string_view what) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      ThrowSystemError(std::string(what) + ": write failed", err);
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace tpkg
