// pickle_cursor.h: bounds-checked reads over a pickle's bytes.
//
// Every read checks the remaining length first, so a length field that lies
// ends in an Error, never in an allocation or a read past the end.
//
// Thread safety: a cursor belongs to the one scan that reads with it; the
// bytes it reads are only read, so scans of one buffer may run on several
// threads, each with its own cursor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "tpkg/error.h"

namespace tpkg::pickle {

// Throws Error(kCorrupt, "<reason> at byte <offset>").
[[noreturn]] inline void FailAt(const std::string& reason, size_t offset) {
  throw Error(Errc::kCorrupt, reason + " at byte " + std::to_string(offset));
}

class Cursor {
 public:
  explicit Cursor(std::span<const char> bytes) : data_(bytes.data()), size_(bytes.size()) {}

  size_t offset() const { return pos_; }
  bool AtEnd() const { return pos_ >= size_; }
  size_t remaining() const { return size_ - pos_; }

  uint8_t ReadU8() { return static_cast<uint8_t>(ReadBytes(1)[0]); }

  // Little-endian unsigned integer of `n` <= 8 bytes.
  uint64_t ReadLE(int n) {
    std::string_view b = ReadBytes(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
    return v;
  }

  std::string_view ReadBytes(uint64_t n) {
    if (n > remaining())
      FailAt("truncated pickle: " + std::to_string(n) + " bytes declared, " +
                 std::to_string(remaining()) + " left",
             pos_);
    std::string_view out(data_ + pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return out;
  }

  // One text line without its '\n' (protocol 0 operands).
  std::string_view ReadLine() {
    const void* nl = std::memchr(data_ + pos_, '\n', remaining());
    if (nl == nullptr) FailAt("truncated pickle: no newline after text operand", pos_);
    size_t len = static_cast<size_t>(static_cast<const char*>(nl) - (data_ + pos_));
    std::string_view out(data_ + pos_, len);
    pos_ += len + 1;
    return out;
  }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace tpkg::pickle
