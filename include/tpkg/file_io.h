// file_io.h: whole-buffer transfers on a file descriptor, for the library,
// the daemon and the tool alike (one implementation of the loops that retry
// EINTR and short transfers).
//
//   std::string buf(size, '\0');
//   buf.resize(tpkg::PreadFull(fd, buf, 0, path));       // short only at end of file
//   tpkg::PreadExact(fd, std::span(buf), offset, path);  // end of file: Error(kCorrupt)
//   tpkg::PwriteAll(fd, bytes, offset, path);
//
//   call         position            file ends early
//   PreadFull    `offset` (pread)    returns the bytes read so far
//   PreadExact   `offset` (pread)    throws Error(kCorrupt)
//   PwriteAll    `offset` (pwrite)   (n/a)
//   PwriteSome   `offset` (pwrite)   (n/a); returns the bytes written: short
//                when the file system refused the rest after some were
//                written (a full disk), as write(2) is; throws only when
//                nothing was written
//   WriteAll     current (write)     (n/a)
//
// Any other failure throws tpkg::Error "Cannot read '<what>': <reason>" /
// "Cannot write '<what>': <reason>" carrying the errno (ThrowSystemError):
// `what` names the file, or the record, for the message.
//
// And RealPath, the one wrapper of realpath(3).
//
// Thread safety: stateless functions; safe from any thread (pread/pwrite do
// not move the file position; WriteAll does, so one writer per descriptor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tpkg {

size_t PreadFull(int fd, std::span<char> out, uint64_t offset, std::string_view what);
void PreadExact(int fd, std::span<char> out, uint64_t offset, std::string_view what);
void PwriteAll(int fd, std::span<const char> bytes, uint64_t offset, std::string_view what);
size_t PwriteSome(int fd, std::span<const char> bytes, uint64_t offset, std::string_view what);
void WriteAll(int fd, std::span<const char> bytes, std::string_view what);

// The canonical absolute path of `path` (realpath(3): symbolic links, "."
// and ".." resolved), or nullopt with errno telling why.
std::optional<std::string> RealPath(const std::string& path);

}  // namespace tpkg
