// background.h: run the daemon in the background from the start, so that
// its pid never changes after the first check.
//
//   Background bg = Background::Start();   // the parent waits inside, then exits
//   ... checks, wait for an earlier save, journal, mount: errors go to the
//       user's terminal and the parent exits with the daemon's status ...
//   bg.Ready();                            // mounted: the parent exits 0
//
// libfuse's fuse_daemonize() forks after the mount, so the pid in the
// journal's lock, the archive's flock and the mount record would name the
// parent, which exits. Forking first keeps one pid for all of them. The
// parent returns only when the child is ready (exit 0) or has exited (its
// status, 1 if it died of a signal): a background mount that fails still
// fails visibly, and one that succeeds is usable when the command returns.
// Ready() detaches the child as fuse_daemonize() does: a new session,
// working folder "/", standard input and output and error on /dev/null.
//
// Thread safety: Start() before any thread exists; Ready() from main's thread.
#pragma once

namespace tpkg::fs {

class Background {
 public:
  // Forks. Returns in the child only; the parent exits inside.
  static Background Start();
  Background(Background&& other) noexcept;
  Background& operator=(Background&&) = delete;
  Background(const Background&) = delete;
  ~Background();  // a child that never became ready lets the parent go with its exit status

  void Ready();

 private:
  explicit Background(int ready_fd) : ready_fd_(ready_fd) {}
  int ready_fd_;  // write end of the pipe to the waiting parent; -1 once ready
};

}  // namespace tpkg::fs
