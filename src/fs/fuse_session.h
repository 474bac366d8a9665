// fuse_session.h: RAII owners for libfuse's argument vector, session,
// mount and signal handlers, and the session loop.
//
//   FuseArgs args({"tpkgfs", "-o", "ro,fsname=/srv/model.pt"});
//   FuseSession session(args, FuseBridge::Operations(), &bridge);
//   FuseMount mount(session, "/mnt/model");          // unmounts when destroyed;
//                                                    // reads /dev/fuse as below
//   FuseSignalHandlers signals(session);             // SIGINT/SIGTERM/SIGHUP end the loop
//   int rc = RunSessionLoop(session, /*single_threaded=*/false);
//
// The kernel can end one read of /dev/fuse with ECONNABORTED while it tears
// down the connection of an ordinary unmount: in fs/fuse/dev.c (6.18) a
// reader that took a request (often the RELEASE of the last file closed in
// a detached mount) finds the processing queues already marked
// disconnected. It is no abort (an abort through fusectl reads ENODEV, as
// tpkgfs never asks for FUSE_ABORT_ERROR), but libfuse would print "fuse:
// reading device: Software caused connection abort" and end the loop with
// the error, and the daemon would exit 1 after a save that went well. So the
// mount reads the device through libfuse's custom I/O, which reports that
// error as ENODEV: the end of the session it is.
//
// Destroy in reverse order of construction (declare them in this order).
// Each constructor throws Error(kIo) naming what failed; libfuse has already
// logged its own detail through the fuse log handler by then.
//
// Thread safety: these are owned and used by main's thread; the loop's
// worker threads only see the session through libfuse.
#pragma once

#include <string>
#include <vector>

#include "fuse_bridge.h"
#include "graceful_stop.h"

namespace tpkg::fs {

class FuseArgs {
 public:
  explicit FuseArgs(const std::vector<std::string>& argv);
  ~FuseArgs();
  FuseArgs(const FuseArgs&) = delete;
  FuseArgs& operator=(const FuseArgs&) = delete;
  fuse_args* get() { return &args_; }

 private:
  fuse_args args_ = FUSE_ARGS_INIT(0, nullptr);
};

class FuseSession {
 public:
  FuseSession(FuseArgs& args, const fuse_lowlevel_ops& ops, void* userdata);
  ~FuseSession();
  FuseSession(const FuseSession&) = delete;
  FuseSession& operator=(const FuseSession&) = delete;
  fuse_session* get() { return session_; }

 private:
  fuse_session* session_ = nullptr;
};

class FuseMount {
 public:
  FuseMount(FuseSession& session, const std::string& mountpoint);
  ~FuseMount();  // harmless if the mount is already gone (fusermount3 -u)
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  // The daemon detached the mount itself (GracefulStop): the destructor
  // must not unmount the mountpoint again, where another mount may sit now.
  void ForgetDetached() { detached_ = true; }

 private:
  FuseSession& session_;
  bool detached_ = false;
};

class FuseSignalHandlers {
 public:
  explicit FuseSignalHandlers(FuseSession& session);
  ~FuseSignalHandlers();
  FuseSignalHandlers(const FuseSignalHandlers&) = delete;
  FuseSignalHandlers& operator=(const FuseSignalHandlers&) = delete;

 private:
  FuseSession& session_;
};

// Runs the loop until unmount or a handled signal (after FuseSignalHandlers;
// a SignalLoopWaker makes sure a signal ends it, once `stop`, if given,
// lets it: graceful_stop.h). Returns libfuse's result: 0 (unmounted, also
// by the kernel once the last file of a detached mount was closed), a
// positive signal number, or -errno.
int RunSessionLoop(FuseSession& session, bool single_threaded, GracefulStop* stop = nullptr);

// Routes libfuse's own messages through TPKG_LOG.
void RouteFuseLogToOurLog();

}  // namespace tpkg::fs
