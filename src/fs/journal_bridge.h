// journal_bridge.h: libfuse's low-level operation table for the read/write
// mount, as short trampolines into JournalFsOps (the ones shared with the
// read-only view are in fuse_bridge_base.h).
//
//   JournalBridge bridge(ops);
//   FuseSession session(args, JournalBridge::Operations(), &bridge);
//
// Kernel cache policy (the simplest scheme that stays correct): every change
// to a name, an attribute or a byte of a journal-backed file reaches the
// journal *through this kernel mount*, and the kernel updates its own
// dentry, attribute and page caches for every change it forwards (it
// replaces dentries on rename/unlink, truncates pages on truncate and
// O_TRUNC, writes through its pages on write(2) and on msync of a shared
// mmap, and invalidates the attributes after each write). Nothing else
// writes the journal (it is locked to this daemon). So for those files the
// long timeouts and keep_cache of the read-only view stay correct: readers
// see their own and others' writes at once, and mmap works. The exception
// is the generated `.data/extern_modules` and `.data/deps.dot`, whose bytes
// change when *other* files change: they get zero entry/attribute timeouts
// and no keep_cache, so every open re-reads them. The kernel's writeback
// cache stays off, so a write(2) has reached the journal's data file (and
// survives SIGKILL) before it returns.
//
// Folders: the kernel skips OPENDIR/RELEASEDIR (FUSE_CAP_NO_OPENDIR_SUPPORT)
// and keeps each folder's listing in its readdir cache, which it drops
// itself whenever it forwards a change to that folder (create, mkdir,
// unlink, rmdir, rename, link): a repeated `find` or `ls -R` costs no
// round trip, and a cold one one READDIRPLUS per folder plus its end.
//
// Thread safety: the bridge is shared by all FUSE worker threads; what it
// holds is BridgeBase's (fuse_bridge_base.h says how each part is guarded).
#pragma once

#include "fuse_bridge_base.h"
#include "journal_fs_ops.h"

namespace tpkg::fs {

class JournalBridge : public BridgeBase<JournalBridge, JournalFsOps> {
 public:
  using BridgeBase::BridgeBase;

  // Long for what only the kernel itself can change, zero for the generated
  // files (see above).
  double AttrTimeout(fuse_ino_t ino) const { return ops().IsVirtual(ino) ? 0.0 : kCacheSeconds; }
  uint64_t ReadTarget(fuse_ino_t, const fuse_file_info* fi) const { return fi->fh; }
  static void AddOperations(fuse_lowlevel_ops* ops);  // everything but the shared ones
};

}  // namespace tpkg::fs
