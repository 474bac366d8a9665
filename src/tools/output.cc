#include "output.h"

#include <unistd.h>

#include <cerrno>

#include "cli.h"
#include "tpkg/error.h"
#include "tpkg/file_io.h"

namespace tpkg::cli {
namespace {

// The message names standard output in the tool's words; EPIPE means the
// reader left (BrokenPipe), not a failure.
void WriteToStdout(std::string_view bytes) {
  try {
    WriteAll(STDOUT_FILENO, bytes, "standard output");
  } catch (const Error& e) {
    if (e.sys_errno() == EPIPE) throw BrokenPipe{};
    ThrowSystemError("cannot write to standard output", e.sys_errno());
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
