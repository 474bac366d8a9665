#include "tpkg/file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "tpkg/error.h"

namespace tpkg {
namespace {

// Shared by PwriteAll and WriteAll: `offset` < 0 means "at the current position".
void WriteLoop(int fd, std::span<const char> bytes, int64_t offset, std::string_view what) {
  while (!bytes.empty()) {
    const ssize_t n = offset < 0 ? ::write(fd, bytes.data(), bytes.size())
                                 : ::pwrite(fd, bytes.data(), bytes.size(), offset);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      ThrowSystemError("Cannot write '" + std::string(what) + "'", err);
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
    if (offset >= 0) offset += n;
  }
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
