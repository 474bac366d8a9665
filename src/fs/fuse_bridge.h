// fuse_bridge.h: libfuse's low-level operation table for the read-only
// view, as short trampolines into FsOps (the shared ones are in
// fuse_bridge_base.h).
//
//   FuseBridge bridge(ops);
//   FuseSession session(args, FuseBridge::Operations(), &bridge);
//
// The bridge owns the FUSE-facing policy: which capabilities to ask for,
// cache lifetimes, and how results become fuse_reply_* calls. The view is
// immutable for now, so entries, attributes and negative lookups are cached
// by the kernel for a day and file pages are kept across opens; the kernel
// is asked to skip OPEN/OPENDIR entirely where it can (FUSE_CAP_NO_OPEN_SUPPORT),
// which makes it keep the page and readdir caches by itself.
//
// Thread safety: the bridge is shared by all FUSE worker threads; its only
// state (the negotiated flags) is written in init(), which libfuse runs
// before any other request, and read-only afterwards.
#pragma once

#include "fs_ops.h"
#include "fuse_bridge_base.h"

namespace tpkg::fs {

class FuseBridge : public BridgeBase<FuseBridge, FsOps> {
 public:
  using BridgeBase::BridgeBase;

  // The view does not change under the kernel while mounted read-only.
  double AttrTimeout(fuse_ino_t) const { return kCacheSeconds; }
  uint64_t ReadTarget(fuse_ino_t ino, const fuse_file_info*) const { return ino; }
  static void AddOperations(fuse_lowlevel_ops* ops);  // init, open

  // Written by init() only.
  bool kernel_skips_open = false;
};

}  // namespace tpkg::fs
