#include "fuse_bridge.h"

#include <cerrno>
#include <memory>
#include <string>

namespace tpkg::fs {
namespace {

FuseBridge& BridgeOf(fuse_req_t req) { return *static_cast<FuseBridge*>(fuse_req_userdata(req)); }

fuse_entry_param EntryFor(const struct stat& st) {
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.attr = st;
  e.attr_timeout = FuseBridge::kCacheSeconds;
  e.entry_timeout = FuseBridge::kCacheSeconds;
  return e;
}

void Init(void* userdata, fuse_conn_info* conn) {
  auto* bridge = static_cast<FuseBridge*>(userdata);
  if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) {
    conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
    bridge->kernel_skips_open = true;
  }
  if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
    conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
    bridge->kernel_skips_opendir = true;
  }
  // Copying through user space is cheaper than splice for page-cache reads.
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  // The archive does not change under a read-only view, so the kernel need
  // not re-check the size before each cached read.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  struct stat st;
  const int rc = BridgeOf(req).ops().Lookup(parent, name, &st);
  if (rc == -ENOENT) {
    fuse_entry_param negative{};  // ino 0: the kernel caches the miss
    negative.entry_timeout = FuseBridge::kCacheSeconds;
    fuse_reply_entry(req, &negative);
  } else if (rc < 0) {
    fuse_reply_err(req, -rc);
  } else {
    const fuse_entry_param e = EntryFor(st);
    fuse_reply_entry(req, &e);
  }
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  struct stat st;
  const int rc = BridgeOf(req).ops().GetAttr(ino, &st);
  if (rc < 0) {
    fuse_reply_err(req, -rc);
  } else {
    fuse_reply_attr(req, &st, FuseBridge::kCacheSeconds);
  }
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FuseBridge& bridge = BridgeOf(req);
  if (bridge.kernel_skips_open) return (void)fuse_reply_err(req, ENOSYS);
  const int rc = bridge.ops().Open(ino, fi->flags);
  if (rc < 0) return (void)fuse_reply_err(req, -rc);
  fi->keep_cache = 1;
  fi->noflush = 1;
  fuse_reply_open(req, fi);
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FuseBridge& bridge = BridgeOf(req);
  if (bridge.kernel_skips_opendir) return (void)fuse_reply_err(req, ENOSYS);
  const int rc = bridge.ops().OpenDir(ino);
  if (rc < 0) return (void)fuse_reply_err(req, -rc);
  fi->keep_cache = 1;
  fi->cache_readdir = 1;
  fuse_reply_open(req, fi);
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  // One buffer per worker thread, grown to the largest request seen
  // (bounded by the kernel's max_read); no initialization, pread fills it.
  thread_local std::unique_ptr<char[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < size) {
    buffer.reset(new char[size]);
    capacity = size;
  }
  const ssize_t n =
      BridgeOf(req).ops().Read(ino, static_cast<uint64_t>(off), std::span(buffer.get(), size));
  if (n < 0) {
    fuse_reply_err(req, static_cast<int>(-n));
  } else {
    fuse_reply_buf(req, buffer.get(), static_cast<size_t>(n));
  }
}

template <bool kPlus>
void ReadDirImpl(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off) {
  auto buffer = std::make_unique<char[]>(size);
  size_t used = 0;
  auto fill = [&](const DirEntry& entry) {
    const std::string name(entry.name);  // libfuse wants a C string
    char* at = buffer.get() + used;
    size_t need;
    if constexpr (kPlus) {
      fuse_entry_param e = EntryFor(entry.attr);
      // Node id 0 tells the kernel "no attributes for this one": it will
      // look the name up when someone asks, instead of caching a guess.
      if (!entry.attr_complete) e.ino = 0;
      need = fuse_add_direntry_plus(req, at, size - used, name.c_str(), &e, entry.next_offset);
    } else {
      need = fuse_add_direntry(req, at, size - used, name.c_str(), &entry.attr, entry.next_offset);
    }
    if (need > size - used) return false;
    used += need;
    return true;
  };
  const int rc = BridgeOf(req).ops().ReadDir(ino, off, kPlus, fill);
  if (rc < 0) {
    fuse_reply_err(req, -rc);
  } else {
    fuse_reply_buf(req, buffer.get(), used);
  }
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDirImpl<false>(req, ino, size, off);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDirImpl<true>(req, ino, size, off);
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st;
  const int rc = BridgeOf(req).ops().StatFs(&st);
  if (rc < 0) {
    fuse_reply_err(req, -rc);
  } else {
    fuse_reply_statfs(req, &st);
  }
}

fuse_lowlevel_ops MakeOperations() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.getattr = GetAttr;
  ops.open = Open;
  ops.read = Read;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.statfs = StatFs;
  // Everything that would change the tree is left unset: the mount is
  // read-only ("ro"), so the kernel answers EROFS before asking us.
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& FuseBridge::Operations() {
  static const fuse_lowlevel_ops ops = MakeOperations();
  return ops;
}

}  // namespace tpkg::fs
