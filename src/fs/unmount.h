// unmount.h: `tpkgfs -u MOUNTPOINT`: unmount, wait for the daemon to finish
// its save, and say how it went.
//
//   return RunUnmount("/mnt/model");   // the process exit status
//
// What it does:
// 1. Finds the mount in /proc/self/mountinfo (never touching the mounted
//    file system, which a hung daemon could block) and the daemon serving it:
//    its mount record (mount_registry.h) by FUSE connection, else the
//    holder of the archive file's lock (archive_lock.h) when the mount's
//    source is the archive. It watches the daemon (pidfd) before unmounting,
//    so a pid reused later cannot fool it.
// 2. Unmounts: umount2(2) as root, `fusermount3 -u` otherwise.
// 3. Waits for the daemon to exit (poll on the pidfd, no busy loop). On a
//    terminal (stderr a tty), a save that takes more than a second shows
//    its progress (bytes of the new archive written so far). A daemon still
//    serving after 2 s is explained on stderr, once, and the wait goes on
//    (Ctrl-C ends only the wait): another mount namespace holds a copy of
//    the mount (mount_table.h), or the mount was detached by a lazy unmount
//    (umount -l, fusermount3 -uz) while files in it were open, which holds
//    off the save until they are closed: the line names the processes that
//    hold them (open_files.h), where this user may inspect them.
// 4. Reads the daemon's entry in the save log (tpkg/save_log.h) and prints:
//      saved or nothing changed      on stdout, exit 0
//      failed                        every reason and where the edits are kept
//                                    and how to deal with them, on stderr, exit 1
//      no entry (daemon killed)      that the outcome is unknown and where
//                                    edits would be, on stderr, exit 1
//      read-only mount               "unmounted ... (read-only: nothing to save)", exit 0
//    plus one line when the daemon logged errors while it served.
// A mount that is already gone but whose daemon is still saving (after a
// plain `fusermount3 -u`) is waited for the same way.
//
// Errors, one line each on stderr and exit 1: the path is not mounted, not
// a tpkgfs mount, mounted by another user (only that user and root may
// unmount it), busy, or the unmount fails for another reason.
//
// Thread safety: called once, from main's thread.
#pragma once

#include <string>

namespace tpkg::fs {

int RunUnmount(const std::string& mountpoint);

}  // namespace tpkg::fs
