// open_files.h: the processes that keep a file system in use (Linux /proc):
// a descriptor open on it, their working or root folder in it, or one of its
// files mapped into their memory.
//
//   std::vector<pid_t> users = ProcessesUsingDevice(fuse_major, fuse_minor);
//   if (!users.empty()) std::cerr << "in use by " << DescribeProcesses(users) << "\n";
//
// Why tpkgfs asks: after a lazy unmount (`umount -l`, `fusermount3 -uz`) a
// FUSE file system lives on, detached, while any of these remain; only when
// the last one goes does the kernel end the session, and tpkgfs start its
// save. `tpkgfs -u` and a mount waiting for that save name them (unmount.h,
// daemon.h), as `tpkgfs -u` does when the kernel refuses to unmount a mount
// they use (EBUSY).
//
// No request goes to a FUSE daemon, however hung: a descriptor's device
// comes from statx(2) with AT_STATX_DONT_SYNC and no fields asked for, which
// FUSE answers from the inode's super block (even for a caller the mount
// does not allow), and a mapping's from /proc/<pid>/maps. Other file systems
// may still delay it: following /proc/<pid>/cwd revalidates the folder on
// NFS, which waits for a hung server, and reading maps takes the process's
// memory lock. Callers run it once, after 2 s of waiting, and go on waiting
// either way; a refused unmount, which must fail at once, waits at most 2 s
// for it (on another thread) and fails without the names if it takes
// longer. Processes we may not inspect (another user's, unless we are root)
// and those that exit meanwhile are skipped: the answer may miss a holder,
// never names one that holds nothing.
//
// Errors: Error naming `proc_root` and the reason when it cannot be read.
// Thread safety: a plain function.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tpkg::fs {

// The pids (increasing, each once) that use the file system with st_dev
// major:minor. `proc_root` is for tests.
std::vector<pid_t> ProcessesUsingDevice(unsigned major, unsigned minor,
                                        const std::string& proc_root = "/proc");

}  // namespace tpkg::fs
