// file_util.h (private): small POSIX helpers that retry EINTR and short
// transfers and throw tpkg::Error naming the file and the reason. The
// whole-buffer reads and writes (PreadFull, PreadExact, PwriteAll, WriteAll)
// are public, in tpkg/file_io.h, which this header includes.
//
//   ScopedFd fd = OpenOrThrow(path, O_RDWR | O_CREAT | O_EXCL, 0600);
//   PwriteAll(fd.get(), bytes, 0, path);
//   FsyncOrThrow(fd.get(), path);
//
// Thread safety: stateless functions; safe from any thread.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tpkg/file_io.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {

// open(2)/openat(2) with O_CLOEXEC added; throws "Cannot open '<what>': <reason>".
// A create refused with ENOSPC on a file system with no free inode says so
// (`df` shows room there).
ScopedFd OpenOrThrow(const std::string& path, int flags, mode_t mode = 0);
ScopedFd OpenAtOrThrow(int dir_fd, const std::string& name, int flags, mode_t mode,
                       const std::string& what);

struct stat FstatOrThrow(int fd, const std::string& what);

// Whether a file system that statvfs(2) measured has no inode left for an
// unprivileged process (f_files is 0 where it has no fixed number of them).
bool HasNoFreeInode(const struct statvfs& vfs);

// What to add to the message of a create (open with O_CREAT, mkdir) of
// `name` relative to `dir_fd` (or AT_FDCWD) that failed with `err`: with
// ENOSPC on a file system that has blocks but no inode left, " (its file
// system has no free inode: `df -i`)", since `df` shows room; else "".
std::string CreateFailureNote(int err, int dir_fd, const std::string& name);

// "a FIFO", "a directory", "a character device"...: for messages refusing a
// file of the wrong type.
std::string_view FileTypeName(mode_t mode);

// True for the copy_file_range(2) errors that mean "not for these two
// files" (EXDEV, EINVAL, EOPNOTSUPP, ENOSYS, EBADF for O_APPEND, EPERM,
// ETXTBSY): a pread/write loop can still do the copy.
bool KernelRefusedCopy(int err);

// The in-kernel half of a copy: copy_file_range(2) from `src_fd` at
// `src_offset` to `dst_fd` at `dst_offset`, or at (and advancing) dst's file
// position when `dst_offset` is nullopt. Pieces are cut at 64 KiB boundaries
// of the source (faster; see file_util.cc). Returns how many trailing bytes
// were NOT copied because the kernel refused this pair (KernelRefusedCopy):
// 0 when everything was copied. Throws on other errors, and kCorrupt when the
// source ends early.
uint64_t CopyInKernel(int src_fd, uint64_t src_offset, int dst_fd,
                      std::optional<uint64_t> dst_offset, uint64_t size, std::string_view what);

// Copies `size` bytes from `src_fd` at `src_offset` to `dst_fd` at
// `dst_offset`. Uses copy_file_range (in-kernel, reflink where the
// filesystem can) and falls back to a bounded pread/pwrite loop when the
// kernel refuses it for this pair of files (EXDEV, EINVAL, EOPNOTSUPP, ...).
void CopyRange(int src_fd, uint64_t src_offset, int dst_fd, uint64_t dst_offset, uint64_t size,
               const std::string& what);

// rename(2) that never replaces: renameat2's RENAME_NOREPLACE, or link(2)
// and unlink(2) on a file system without it. False when `to` exists; throws
// on other errors.
bool RenameNoReplace(const std::string& from, const std::string& to);
// RenameNoReplace to the first free name of `base`, `base`-2 ... `base`-99;
// the name taken, or nullopt when every one is.
std::optional<std::string> RenameToFreeName(const std::string& from, const std::string& base);

// renameat2(2)'s RENAME_EXCHANGE: `a` and `b` swap names in one step, so
// that no other program can put a file at either name in between.
// kUnsupported when the file system cannot (EINVAL: NFS, some FUSE file
// systems), kMissing when either name has no file; throws on other errors.
enum class Exchange { kExchanged, kUnsupported, kMissing };
Exchange ExchangeNames(const std::string& a, const std::string& b);

void FsyncOrThrow(int fd, const std::string& what);
void FdatasyncOrThrow(int fd, const std::string& what);
// Opens a directory read-only and fsyncs it, making renames/creates/unlinks
// inside it durable.
void FsyncDirectory(const std::string& dir);

// dirname/basename of a path without touching the filesystem
// ("/a/b.pt" -> "/a", "b.pt"; "b.pt" -> ".", "b.pt").
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

}  // namespace tpkg
