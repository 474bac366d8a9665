// graceful_stop.h: what a read/write daemon does when SIGINT, SIGTERM or
// SIGHUP arrives while files are open for writing in its mount.
//
// Why: ending the FUSE loop at once ends the connection under those files:
// their next write fails with ENOTCONN, and what a process wrote through a
// shared mapping and had not yet synced is never sent to the daemon, so the
// save could not keep it. `kill` and Ctrl-C are how people stop a daemon
// (systemd sends SIGTERM, then SIGKILL after its own timeout), and nothing
// a process wrote may be lost silently.
//
// So, as `fusermount3 -uz` would: the mount is detached at once (no path
// from outside reaches it any more; the files already open keep working, as
// does a process whose working folder is inside), and the
// loop goes on serving until no file is open for writing any more, then
// ends and the save runs. Files open only for reading are not waited for
// (they lose nothing). The wait is bounded (`-o close_wait=SECONDS`,
// default kDefaultCloseWait; 0 ends at once, as before): a process that
// keeps a file open for ever must not keep its owner's edits unsaved.
// Each step is logged as a warning that names the files (the save log too,
// for a background daemon): the wait and its bound, and, when the bound
// passes, which files were still open, whose later writes fail. A second
// signal ends the wait at once (SignalLoopWaker; the same signal within
// 100 ms of the first is the same event, as a closing terminal's SIGHUP
// arrives twice).
//
// When the bound passes, a process may still hold a shared mapping whose
// pages it wrote but never synced: the kernel sends those only on msync,
// munmap, fsync or its own writeback, and they would go with the
// connection. So before the loop ends, each file still open is fsynced
// through the mount's root, opened before the detach, while the loop still
// serves the writes. That open keeps the detached mount alive once the
// files close, so the loop ends on the next poll (kDrainPoll), not with the
// mount. A second signal ends the wait at once, after the same fsyncs
// (WriteBackBeforeEnd): the waker's helper thread ends the loop, once any
// call of Begin() or MayEnd() on the mount (that open, the fsyncs) has
// returned, since ending the loop under it would leave the call unanswered
// for ever (signal_waker.cc).
//
//   GracefulStop stop({.mountpoint = "/mnt/m", .close_wait = 30s,
//                      .files_open_for_writing = [&] { return ops.FilesOpenForWriting(); }});
//   RunSessionLoop(session, single_threaded, &stop);
//   if (stop.detached()) mount.ForgetDetached();
//
// Thread safety: Begin(), MayEnd(), WriteBackBeforeEnd() and Interrupted() run on the waker's
// helper thread, one at a time; detached() is read by the loop's thread
// after the waker has stopped (its thread joined: no lock needed).
// `files_open_for_writing` must be safe to call while the loop serves.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "tpkg/scoped_fd.h"

namespace tpkg::fs {

inline constexpr std::chrono::seconds kDefaultCloseWait{30};

// "SIGTERM", as the daemon's log lines name a signal.
std::string SignalName(int sig);

struct GracefulStopOptions {
  std::string mountpoint;  // absolute
  std::chrono::milliseconds close_wait = kDefaultCloseWait;
  // Paths (inside the mount) of the files open for writing, each once.
  std::function<std::vector<std::string>()> files_open_for_writing;
};

class GracefulStop {
 public:
  explicit GracefulStop(GracefulStopOptions options);

  // The first signal `sig` has arrived. Returns true when the loop may end
  // now (nothing open for writing, or no wait allowed); otherwise detaches
  // the mount and says what it waits for.
  bool Begin(int sig);
  // While waiting: true once the loop may end (logged when the bound passed).
  bool MayEnd();
  // Another signal ends the wait: before the loop ends, sends the dirty
  // pages of the files still open to the daemon (no-op if no wait began).
  void WriteBackBeforeEnd();
  // Another signal ended the wait: says what was still open.
  void Interrupted(int sig);

  bool detached() const { return detached_; }

 private:
  std::string Listing(const std::vector<std::string>& files) const;
  // The line saying the save runs with `open` still open (after `lead`).
  void LogCutOff(const std::string& lead, const std::vector<std::string>& open) const;
  // Sends the dirty pages of the files `open` (shared mappings) to the
  // daemon; the loop must still be serving. Logs a failure.
  void WriteBackMappedPages(const std::vector<std::string>& open);


  const GracefulStopOptions options_;
  std::chrono::steady_clock::time_point deadline_{};
  bool detached_ = false;
  ScopedFd mount_root_;  // opened by Begin() before the detach, for the fsyncs
  int mount_root_errno_ = 0;
};

}  // namespace tpkg::fs
