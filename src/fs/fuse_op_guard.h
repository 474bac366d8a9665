// fuse_op_guard.h: the one place where an exception thrown by a file-system
// operation becomes the -errno that FUSE replies with. Shared by both stacks:
// the read-only one (FsOps, fuse_bridge.cc) and the read/write one
// (JournalFsOps, journal_bridge.cc); the ops guard each operation, and the
// bridges guard what they do around it (buffers, replies).
//
//   return GuardFuseOp("read", [&] { return PathForLog(ino); }, [&]() -> ssize_t {
//     ...  // may throw
//   });
//
// What `op` throws never goes further (libfuse's C frames cannot unwind it):
//   tpkg::Error       -> -ToErrno(e)
//   std::bad_alloc    -> -ENOMEM
//   anything else     -> -EIO
// and it is logged once, in one format for both stacks:
//   "Cannot read 'model/.data/0.storage': CRC-32 mismatch ..."
// (a packaging rule's refusal, Errc::kPolicy, as its own message says it:
// "Cannot create 'res/A.txt': 'res/a.txt' differs from it only in case, ...")
// at debug level when the errno is an ordinary answer to what a program
// asked (ENOENT, EEXIST, ENOTEMPTY, ...: the program reports those itself),
// unless a packaging rule refused it (a warning: the errno alone would not
// say why), at error level otherwise. `path` is a string or a callable computing it,
// called only when the line is logged.
//
// No FUSE types here, so the mapping is unit-tested without a kernel.
// Thread safety: stateless; called from any FUSE worker thread.
#pragma once

#include <string>
#include <type_traits>

namespace tpkg::fs {

// The exception being handled, as FUSE sees it.
struct OpFailure {
  int err;             // the positive errno to reply with
  const char* reason;  // valid while the exception is being handled
  // A packaging rule refused it (Errc::kPolicy): logged as a warning even
  // when its errno is an ordinary answer, since only the line says why.
  bool policy = false;
};

// Call only inside a catch block (it rethrows the current exception).
OpFailure CurrentOpFailure() noexcept;

// Whether `err` answers what a program asked rather than reports a fault.
bool IsOrdinaryAnswer(int err) noexcept;

// Whether LogOpFailure() would emit a line for this failure.
bool OpFailureLogged(const OpFailure& failure) noexcept;

// "Cannot <verb> '<path>': <reason>"; a line that cannot be built is dropped.
void LogOpFailure(const char* verb, const std::string& path, const OpFailure& failure) noexcept;

// `path`, or what it computes; "?" when computing it throws.
template <class Path>
std::string ResolveLogPath(const Path& path) noexcept {
  try {
    if constexpr (std::is_invocable_v<const Path&>) {
      return std::string(path());
    } else {
      return std::string(path);
    }
  } catch (...) {
    return "?";  // short enough not to allocate
  }
}

template <class Path, class Op>
auto GuardFuseOp(const char* verb, const Path& path, Op&& op) noexcept -> decltype(op()) {
  try {
    return op();
  } catch (...) {
    const OpFailure failure = CurrentOpFailure();
    if (OpFailureLogged(failure)) LogOpFailure(verb, ResolveLogPath(path), failure);
    return -failure.err;
  }
}

}  // namespace tpkg::fs
