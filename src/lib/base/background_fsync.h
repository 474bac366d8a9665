// background_fsync.h (private): an fsync of a file on a thread of its own,
// for what a write-back wrote ahead of the rest while it waits for the
// analysis (journal/write_back.cc).
//
//   BackgroundFsync early(fd, path);   // the bytes written so far go to disk
//   ... write the rest ...
//   early.Finish();                    // joined; throws its failure
//   FsyncOrThrow(fd, path);            // commits only what came after
//
// Why: on ext4 the fsync of a new 25 MB archive costs about 15 ms even when
// its pages were all written back long before (the journal commit of its
// block allocations and the disk's cache flush; measured on the project's
// machine: 14-15 ms 200 ms after sync_file_range, against 0.6-0.9 ms for the
// fsync of 300 KiB appended after an earlier fsync). Taken while the save
// waits for its analysis, it leaves the last fsync only the tail.
//
// Its cost when the save stops before its last fsync (the analysis refuses
// the package, or finds nothing to change after all): the destructor waits
// for the fsync of what was written, which the save then deletes. An fsync
// cannot be cancelled; refusals are rare and the common path gains it.
//
// Errors: a failed fsync reports a writeback error once per open file, and
// a later fsync of the same file may then succeed with the data lost, so
// Finish() must be called before the final fsync and its exception kept: it
// throws the early fsync's failure, naming the file. With no thread to be
// had, nothing is done early and Finish() does nothing (the final fsync
// does it all).
//
// Thread safety: the owner constructs it and calls Finish(); the thread only
// calls fsync on the descriptor (which must stay open until Finish() or the
// destructor) and sets `error_`, which the owner reads only after joining.
#pragma once

#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

namespace tpkg {

class BackgroundFsync {
 public:
  // `sync`: the system call, fsync(2) unless a test makes it fail (a real
  // writeback error cannot be had on demand).
  BackgroundFsync(int fd, std::string what, std::function<int(int)> sync = ::fsync);
  ~BackgroundFsync();  // joins; a failure not asked for by Finish() is dropped
  BackgroundFsync(const BackgroundFsync&) = delete;
  BackgroundFsync& operator=(const BackgroundFsync&) = delete;

  // Waits for the fsync; throws Error naming the file when it failed.
  void Finish();

 private:
  void Join();

  const std::string what_;
  std::thread thread_;  // not joinable when none could be started
  int error_ = 0;       // errno of a failed fsync, set by the thread
};

}  // namespace tpkg
