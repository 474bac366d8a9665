// fuse_bridge.h: libfuse's low-level operation table, as one-line
// trampolines into FsOps.
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

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "fs_ops.h"

namespace tpkg::fs {

class FuseBridge {
 public:
  // The view does not change under the kernel while mounted read-only.
  static constexpr double kCacheSeconds = 86400.0;

  explicit FuseBridge(FsOps& ops) : ops_(ops) {}
  static const fuse_lowlevel_ops& Operations();

  FsOps& ops() { return ops_; }
  // Written by init() only.
  bool kernel_skips_open = false;
  bool kernel_skips_opendir = false;

 private:
  FsOps& ops_;
};

}  // namespace tpkg::fs
