// journal_fs_ops_internal.h: what the files of JournalFsOps share
// (journal_fs_ops.cc: names, attributes; journal_fs_names.cc: the namespace;
// journal_fs_files.cc: open files and their bytes). Include only from those.
//
// Thread safety: Content is a value owned by one operation; ThrowErrno is
// stateless.
#pragma once

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "fuse_op_guard.h"
#include "journal_fs_ops.h"
#include "log.h"
#include "tpkg/error.h"

namespace tpkg::fs {

// What one read or write goes to: exactly one of the four is set. The
// shared pointers keep descriptor, reader and patch alive for the length of
// the I/O.
struct JournalFsOps::Content {
  std::shared_ptr<const ScopedFd> fd;
  std::shared_ptr<RecordReader> reader;
  std::shared_ptr<const std::string> generated;
  std::shared_ptr<RecordPatch> patch;  // a stored record written in place
};

[[noreturn]] inline void ThrowErrno(int err, const std::string& what) {
  throw Error(ErrcFromErrno(err), what + ": " + std::strerror(err), err);
}

}  // namespace tpkg::fs
