#include "output.h"

#include <unistd.h>

#include <cerrno>

#include "cli.h"
#include "tpkg/error.h"

namespace tpkg::cli {
namespace {

void WriteToStdout(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EPIPE) throw BrokenPipe{};
      ThrowSystemError("cannot write to standard output", err);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

void Output::Write(std::span<const char> bytes) {
  if (buffer_.size() + bytes.size() > kBufferSize) Flush();
  if (bytes.size() >= kBufferSize) {
    WriteToStdout(std::string_view(bytes.data(), bytes.size()));
  } else {
    buffer_.append(bytes.data(), bytes.size());
  }
}

void Output::Line(std::string_view text) {
  Write(text);
  Write(std::string_view("\n"));
}

void Output::Flush() {
  WriteToStdout(buffer_);
  buffer_.clear();
}

}  // namespace tpkg::cli
