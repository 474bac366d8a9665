// data_files.h (private): making journal data files, shared by journal.cc
// (copy-on-write, create) and record_patch.cc (patches): each new file's
// bytes and name are durable before the manifest entry that names it.
//
// Thread safety: every function here runs with JournalState::mu held.
#pragma once

#include <fcntl.h>
#include <time.h>

#include <string>
#include <vector>

#include "base/file_util.h"
#include "journal/journal_impl.h"

namespace tpkg {

// Marks `e` with the current time (LogEntry::at_sec).
inline LogEntry Stamped(LogEntry e) {
  struct timespec now {};
  clock_gettime(CLOCK_REALTIME, &now);
  e.at_sec = now.tv_sec;
  e.at_nsec = now.tv_nsec;
  return e;
}

// Deletes a data file unless disarmed: the copy or the log append after its
// creation failed, so nothing will reference it.
class DataFileGuard {
 public:
  DataFileGuard(const JournalState& impl, uint64_t id) : impl_(impl), id_(id) {}
  ~DataFileGuard() {
    if (armed_) impl_.FreeData({id_});
  }
  void Disarm() { armed_ = false; }

 private:
  const JournalState& impl_;
  uint64_t id_;
  bool armed_ = true;
};

inline void SyncDataNames(JournalState& impl) {
  FsyncOrThrow(impl.data_fd.get(), impl.dir + "/data");
  impl.data_names_pending = false;
}

// Creates data file <id> (empty), runs `fill` on it, makes its bytes and its
// name durable, then logs `e` (whose id is set here; group commit) and
// applies it. A create (kCreate) and a new patch (kSetPatch: a sparse file
// of the record's size) hold no bytes yet and skip the name's sync: recovery
// remakes a lost empty file and repairs a lost patch (JournalState::
// data_names_pending, RepairPatches), so they cost no sync of their own,
// only their share of a group commit.
template <class Fill>
ScopedFd NewDataFile(JournalState& impl, LogEntry entry, Fill fill) {
  impl.EnsureCreated();
  LogEntry e = Stamped(std::move(entry));
  e.id = impl.next_id++;
  const std::string what = impl.DataPath(e.id);
  ScopedFd fd = OpenAtOrThrow(impl.data_fd.get(), std::to_string(e.id), O_RDWR | O_CREAT | O_EXCL,
                              0600, what);
  DataFileGuard guard(impl, e.id);
  const bool filled = fill(fd.get(), what);
  if (filled) FdatasyncOrThrow(fd.get(), what);
  if (!filled && (e.op == LogOp::kCreate || e.op == LogOp::kSetPatch)) {
    impl.data_names_pending = true;
  } else {
    // The manifest may only name a file with content once its directory
    // entry is durable.
    SyncDataNames(impl);
  }
  impl.LogGrouped(e);
  guard.Disarm();
  impl.FreeWhenCommitted(impl.ApplyEntry(e));
  return fd;
}

}  // namespace tpkg
