// daemon.h: mount an archive and serve it until unmounted.
//
//   return RunDaemon(ParseCommandLine(args).options);   // the process exit status
//
// Order (each step fails with one clear line before anything is mounted):
// mountpoint checks -> /dev/fuse -> archive -> (background: fork, the parent
// waits, background.h) -> "the last save failed" warning (save_log.h) ->
// mount record (mount_registry.h) -> read/write: the archive file's lock,
// refused while another daemon serves the same file, waiting ("waiting for
// the save of ... (pid N) to finish") while one saves it, plus one line
// when that daemon has not begun its save because a copy of its mount in
// another mount namespace, or files still open in its mount detached by a
// lazy unmount, hold it (naming those processes); read-only: only the wait
// (archive_lock.h) -> archive (strict reader) -> journal (recovers
// an earlier session's edits and says so) -> FsOps or JournalFsOps -> FUSE
// session -> mount -> signal handlers -> (background: detach, the parent
// exits 0 only now that the mount works; errors and warnings of a read/write
// daemon also go to the save log) -> loop -> unmount -> save, its outcome in
// the save log (save_edits.h).
//
// Read/write unless one of these makes the view read-only (one warning
// line, then no write is accepted, so none can be lost): `-o ro` (no
// warning), `-o nostrict`, an archive or folder with no write permission
// bit (even for root), or a journal that cannot be opened (folder not
// writable, immutable, another daemon holds it, the journal belongs to
// another archive: the reason names it).
//
// SIGINT, SIGTERM, SIGHUP, `fusermount3 -u` and `umount` all end the loop;
// the exit status is then SaveEdits()' (save_edits.h): 0 when saved or
// nothing changed, 1 when the save failed (edits kept in the journal).
// `tpkgfs -u` (unmount.h) waits for that exit and reports the outcome.
//
// Thread safety: called once, from main's thread.
#pragma once

#include "command_line.h"

namespace tpkg::fs {

// Returns the exit status; throws Error for failures before the mount.
int RunDaemon(const Options& options);

}  // namespace tpkg::fs
