// journal_fs_ops_internal.h: what the files of JournalFsOps share
// (journal_fs_ops.cc: names, attributes; journal_fs_names.cc: the namespace;
// journal_fs_files.cc: open files and their bytes). Include only from those.
//
// Thread safety: Content is a value owned by one operation; the rest is
// stateless.
#pragma once

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "journal_fs_ops.h"
#include "log.h"
#include "tpkg/error.h"

namespace tpkg::fs {

// What one read or write goes to: exactly one of the three is set. The
// shared pointers keep descriptor and reader alive for the length of the I/O.
struct JournalFsOps::Content {
  std::shared_ptr<const ScopedFd> fd;
  std::shared_ptr<RecordReader> reader;
  std::shared_ptr<const std::string> generated;
};

[[noreturn]] inline void ThrowErrno(int err, const std::string& what) {
  throw Error(ErrcFromErrno(err), what + ": " + std::strerror(err), err);
}

// Errors that are ordinary answers to what a program asked (a name exists,
// is missing, a directory is not empty): the program reports them itself.
inline bool IsOrdinaryAnswer(int err) {
  switch (err) {
    case ENOENT: case EEXIST: case ENOTEMPTY: case ENOTDIR: case EISDIR:
    case ENAMETOOLONG: case EINVAL: case EACCES: case EPERM: case EBADF:
      return true;
    default:
      return false;
  }
}

// `what` is the path named in log lines, or a callable computing it (only
// when something is logged).
template <class What, class Fn>
auto JournalFsOps::Guard(const char* verb, const What& what, Fn&& fn) noexcept -> decltype(fn()) {
  auto name = [&]() -> std::string {
    try {
      if constexpr (std::is_invocable_v<const What&>) {
        return Describe(what());
      } else {
        return Describe(std::string(what));
      }
    } catch (...) {
      return "?";
    }
  };
  try {
    return fn();
  } catch (const Error& e) {
    const int err = ToErrno(e);
    if (IsOrdinaryAnswer(err)) {
      TPKG_LOG(kDebug) << verb << " '" << name() << "': " << e.what();
    } else {
      TPKG_LOG(kError) << "Cannot " << verb << " '" << name() << "': " << e.what();
    }
    return -err;
  } catch (const std::bad_alloc&) {
    TPKG_LOG(kError) << "Cannot " << verb << " '" << name() << "': out of memory";
    return -ENOMEM;
  } catch (const std::exception& e) {
    TPKG_LOG(kError) << "Cannot " << verb << " '" << name() << "': " << e.what();
    return -EIO;
  }
}

}  // namespace tpkg::fs
