// output.h: buffered writes to stdout that tell a closed pipe from a real error.
//
//   tpkg::cli::Output out;
//   out.Line("model/model.pkl");
//   out.Write(bytes);
//   out.Flush();           // throws BrokenPipe on EPIPE, tpkg::Error otherwise (ENOSPC, ...)
//
// Uses write(2) on descriptor 1 rather than iostreams, whose error state
// cannot say which errno happened. SIGPIPE must be ignored (main() does).
//
// Thread safety: one thread owns an Output.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace tpkg::cli {

class Output {
 public:
  Output() { buffer_.reserve(kBufferSize); }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  void Write(std::span<const char> bytes);
  void Line(std::string_view text);
  void Flush();

 private:
  static constexpr size_t kBufferSize = 256 * 1024;
  std::string buffer_;
};

}  // namespace tpkg::cli
