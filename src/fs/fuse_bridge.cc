#include "fuse_bridge.h"

#include <cerrno>

namespace tpkg::fs {
namespace {

void Init(void* userdata, fuse_conn_info* conn) {
  auto* bridge = static_cast<FuseBridge*>(userdata);
  if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) {
    conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
    bridge->kernel_skips_open = true;
  }
  bridge->SkipOpenDirWhereSupported(conn);
  // Copying through user space is cheaper than splice for page-cache reads.
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  // The archive does not change under a read-only view, so the kernel need
  // not re-check the size before each cached read.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  // The kernel keeps each file's POSIX ACL (there are none: getxattr answers
  // ENODATA, setxattr EOPNOTSUPP) after asking once, instead of passing
  // `ls -l`'s lookup of it to the daemon for every file every time: half of
  // the requests of a warm `ls -lR`. It also makes the kernel check modes
  // (default_permissions, which FuseArgv always asks for anyway).
  if (conn->capable & FUSE_CAP_POSIX_ACL) conn->want |= FUSE_CAP_POSIX_ACL;
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FuseBridge& bridge = FuseBridge::Of(req);
  bridge.Serve(req, "open", ino, [&] {
    if (bridge.kernel_skips_open) return -ENOSYS;
    const int rc = bridge.ops().Open(ino, fi->flags);
    if (rc < 0) return rc;
    fi->keep_cache = 1;
    fi->noflush = 1;
    fuse_reply_open(req, fi);
    return 0;
  });
}

}  // namespace

// Lookup, getattr, read, readdir(plus) and statfs are the shared ones.
// Everything that would change the tree is left unset: the mount is
// read-only ("ro"), so the kernel answers EROFS before asking us.
void FuseBridge::AddOperations(fuse_lowlevel_ops* ops) {
  ops->init = Init;
  ops->open = Open;
}

}  // namespace tpkg::fs
