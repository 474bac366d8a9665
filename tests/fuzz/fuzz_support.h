// fuzz_support.h: what the libFuzzer targets in tests/fuzz share.
//
// The readers under test take paths (the daemon and the tools open archives
// by name), so each input is written to a scratch file in a private folder
// under $TMPDIR (tmpfs /dev/shm when present: no disk I/O per execution).
//
// Thread safety: libFuzzer runs one input at a time on one thread; nothing
// here is shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tpkg::fuzz {

// A folder of this process's own, made on first use and removed at exit.
const std::string& ScratchFolder();

// Writes `bytes` to `<scratch>/<name>` (replacing it) and returns the path.
std::string WriteScratchFile(std::string_view name, std::string_view bytes);

// Removes `path` and everything below it (no error if absent).
void RemoveTree(const std::string& path);

// Reads an input as a stream of small fields, returning zeros once empty.
class InputCursor {
 public:
  InputCursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return empty() ? 0 : data_[pos_++]; }
  uint16_t U16() { return static_cast<uint16_t>(Byte() | (Byte() << 8)); }
  // Up to `max` bytes (fewer at the end of the input).
  std::string_view Bytes(size_t max);
  std::string_view Rest() { return Bytes(size_ - pos_); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Aborts with a message (libFuzzer records the input as a crash).
[[noreturn]] void Fail(const std::string& what);

}  // namespace tpkg::fuzz
