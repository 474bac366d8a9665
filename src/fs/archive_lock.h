// archive_lock.h: one read/write daemon per archive file, and a new mount
// that waits for the save of the previous one instead of showing the old
// content.
//
//   ScopedFd lock = LockArchive("/srv/model.pt", [](const ArchiveHolder& h) {
//     TPKG_LOG(kWarning) << "waiting for the save of " << h.archive << " (pid " << h.pid << ")";
//   });  // throws Error(EBUSY) naming the mount that serves the same file
//
// The lock is flock(LOCK_EX) on the archive file itself, so it follows the
// file (device and inode), not the name: a hard link, a symlink or another
// path to the same file meets the same lock. A read/write daemon holds it
// from before it opens the archive until it exits, and takes it on its
// saved archive too before renaming it into place, so a mount started at
// any moment of a save sees a holder. Read-only views take no lock.
//
// Who holds it (the pid comes from /proc/locks, readable by everyone, or
// where that names the device differently, from the read/write mount
// records of our own user that name this file; the rest from the holder's
// mount record, mount_registry.h):
//
//   holder                                          LockArchive
//   starting, or mounted (its FUSE mount is there)  refuses: EBUSY, one line naming it
//   unmounted (saving, or exiting)                  calls on_wait once, waits for its exit
//                                                   (pidfd; Ctrl-C interrupts), retries
//   no record (another user's daemon): serving when a read/write tpkgfs mount's
//   source is this file, else finishing
//   not tpkgfs                                      refuses, naming the program
//
// A file system without flock (some network file systems) gives no such
// guarantee: LockArchive then returns an empty ScopedFd.
//
// Thread safety: call from main's thread before serving.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mount_registry.h"
#include "mount_table.h"
#include "tpkg/scoped_fd.h"

namespace tpkg::fs {

struct ArchiveHolder {
  pid_t pid = 0;
  uint64_t start_time = 0;
  std::string program;                // "tpkgfs", or whatever else holds the lock
  std::optional<MountRecord> record;  // when readable
  bool serving = false;               // starting or mounted: a second mount is refused
  // "tpkgfs (pid 42) serving /mnt/a from /srv/a.pt"
  std::string Describe() const;
};

// The processes holding the lock of the file (`dev`, `ino`).
std::vector<ArchiveHolder> FindArchiveHolders(dev_t dev, ino_t ino,
                                              const std::vector<MountInfo>& mounts);

using WaitNotice = std::function<void(const ArchiveHolder&)>;

// Takes the lock of the archive at `archive` (see above).
ScopedFd LockArchive(const std::string& archive, const WaitNotice& on_wait);

// For a read-only view: waits while a daemon that holds the archive's lock
// has unmounted and is saving, so the view shows the saved archive.
void WaitForSaveOf(const std::string& archive, const WaitNotice& on_wait);

// Takes the lock of a finished temp archive before it is renamed over the
// archive (write_back.h's validate hook); empty when flock is unsupported.
ScopedFd LockSavedArchive(const std::string& temp_path);

}  // namespace tpkg::fs
