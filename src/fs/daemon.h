// daemon.h: mount an archive and serve it until unmounted.
//
//   return RunDaemon(ParseCommandLine(args).options);   // the process exit status
//
// Order (each step fails with one clear line before anything is mounted):
// mountpoint checks -> /dev/fuse -> archive (strict reader) -> FsOps ->
// FUSE session -> mount -> signal handlers -> (background: daemonize, the
// parent exits 0 only now that the mount works) -> loop -> unmount.
// SIGINT, SIGTERM, SIGHUP, `fusermount3 -u` and `umount` all end with 0.
//
// Thread safety: called once, from main's thread.
#pragma once

#include "command_line.h"

namespace tpkg::fs {

// Returns the exit status; throws Error for failures before the mount.
int RunDaemon(const Options& options);

}  // namespace tpkg::fs
