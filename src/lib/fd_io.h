// fd_io.h: whole-buffer pread/write loops that retry EINTR and short transfers.
//
//   size_t n = tpkg::PreadFull(fd, buf, offset, path);  // short only at end of file
//   tpkg::WriteFull(fd, bytes, path);                    // all or an Error
//
// Errors are thrown as tpkg::Error naming `what` (usually the file's path)
// and the failing operation, with the errno attached.
//
// Thread safety: stateless; safe from any thread on any descriptor.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace tpkg {

// Reads up to out.size() bytes at `offset`; returns fewer only at end of file.
size_t PreadFull(int fd, std::span<char> out, uint64_t offset, std::string_view what);

// Writes every byte at the descriptor's current position.
void WriteFull(int fd, std::span<const char> bytes, std::string_view what);

}  // namespace tpkg
