#include "tpkg/file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "tpkg/error.h"

namespace tpkg {
namespace {

// Shared by PwriteAll, PwriteSome and WriteAll: `offset` < 0 means "at the
// current position". With `stop_short`, a failure after some bytes were
// written ends the loop and returns their count instead of throwing.
size_t WriteLoop(int fd, std::span<const char> bytes, int64_t offset, std::string_view what,
                 bool stop_short = false) {
  size_t written = 0;
  while (written < bytes.size()) {
    const std::span<const char> rest = bytes.subspan(written);
    const ssize_t n =
        offset < 0 ? ::write(fd, rest.data(), rest.size())
                   : ::pwrite(fd, rest.data(), rest.size(), static_cast<off_t>(offset + written));
    if (n > 0) {
      written += static_cast<size_t>(n);
      continue;
    }
    const int err = n < 0 ? errno : ENOSPC;  // 0 bytes for a non-empty write: no room
    if (err == EINTR) continue;
    if (stop_short && written > 0) break;
    ThrowSystemError("Cannot write '" + std::string(what) + "'", err);
  }
  return written;
}

}  // namespace

size_t PreadFull(int fd, std::span<char> out, uint64_t offset, std::string_view what) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n == 0) break;
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      ThrowSystemError("Cannot read '" + std::string(what) + "'", err);
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

void PreadExact(int fd, std::span<char> out, uint64_t offset, std::string_view what) {
  if (PreadFull(fd, out, offset, what) != out.size()) {
    throw Error(Errc::kCorrupt, "Cannot read '" + std::string(what) + "': unexpected end of file");
  }
}

void PwriteAll(int fd, std::span<const char> bytes, uint64_t offset, std::string_view what) {
  WriteLoop(fd, bytes, static_cast<int64_t>(offset), what);
}

size_t PwriteSome(int fd, std::span<const char> bytes, uint64_t offset, std::string_view what) {
  return WriteLoop(fd, bytes, static_cast<int64_t>(offset), what, /*stop_short=*/true);
}

void WriteAll(int fd, std::span<const char> bytes, std::string_view what) {
  WriteLoop(fd, bytes, -1, what);
}

std::optional<std::string> RealPath(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (!resolved) return std::nullopt;  // errno from realpath, untouched
  std::string out(resolved);
  std::free(resolved);
  return out;
}

}  // namespace tpkg
