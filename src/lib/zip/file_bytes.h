// file_bytes.h: bytes of a file that a caller has already read, handed to
// the checks that would otherwise pread them (private to libtpkg).
//
//   std::string run = ...;                           // one pread at `start`
//   FileBytes bytes{start, run};
//   if (bytes.Holds(offset, 30)) header = bytes.Get(offset, 30);  // else pread
//
// A view: the bytes belong to the caller and must outlive it. Fewer bytes
// than asked (a pread that met the end of the file) are fine: what they do
// not hold is read from the file, which ends there too.
//
// Thread safety: a value; shared read-only.
#pragma once

#include <cstdint>
#include <string_view>

namespace tpkg {

struct FileBytes {
  uint64_t start = 0;      // file offset of bytes[0]
  std::string_view bytes;  // the file's bytes [start, start + bytes.size())

  // Whether the file bytes [offset, offset + len) are all here.
  bool Holds(uint64_t offset, uint64_t len) const {
    return offset >= start && offset - start <= bytes.size() &&
           len <= bytes.size() - (offset - start);
  }
  // Precondition: Holds(offset, len).
  std::string_view Get(uint64_t offset, uint64_t len) const {
    return bytes.substr(static_cast<size_t>(offset - start), static_cast<size_t>(len));
  }
};

}  // namespace tpkg
