// fuse_bridge_base.h: what the read-only bridge (fuse_bridge.h, over FsOps)
// and the read/write one (journal_bridge.h, over JournalFsOps) share: how a
// request is served, libfuse's operation table, and the operations both
// answer alike (lookup, getattr, opendir, read, readdir, readdirplus,
// statfs, getxattr, listxattr).
//
//   class FuseBridge : public BridgeBase<FuseBridge, FsOps> {
//    public:
//     using BridgeBase::BridgeBase;
//     double AttrTimeout(fuse_ino_t ino) const;        // entries and attributes
//     uint64_t ReadTarget(fuse_ino_t ino, const fuse_file_info* fi) const;  // Ops::Read's first
//     static void AddOperations(fuse_lowlevel_ops* ops);  // the bridge's own callbacks
//   };
//   FuseSession session(args, FuseBridge::Operations(), &bridge);
//
// Every callback serves its request through Serve(), which runs the work
// inside GuardFuseOp (fuse_op_guard.h): buffers are allocated in there, so
// no exception (bad_alloc included) unwinds into libfuse's C frames, and
// every request gets exactly one reply.
//
// Thread safety: a bridge is shared by all FUSE worker threads; BridgeBase
// holds the reference to the ops (which guard themselves), whether the
// kernel skips OPENDIR (written by init(), which the kernel answers before
// it sends any other request) and the after-INIT hook (set before the loop,
// run once under a once_flag). The read buffer is per thread.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "fs_ops.h"  // DirEntry, DirFiller
#include "fuse_op_guard.h"

namespace tpkg::fs {

// The entry FUSE caches for a node with attributes `st`.
template <class Bridge>
fuse_entry_param EntryFor(const Bridge& bridge, const struct stat& st) {
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.attr = st;
  e.attr_timeout = e.entry_timeout = bridge.AttrTimeout(st.st_ino);
  return e;
}

// For operations answered by success or an error only: replies 0 when
// `rc` is, and returns `rc` (see Serve()).
inline int ReplyStatus(fuse_req_t req, int rc) {
  if (rc < 0) return rc;
  fuse_reply_err(req, 0);
  return 0;
}

// One buffer per worker thread, grown to the largest read seen (bounded by
// the kernel's max_read) and not initialized: the read fills it.
inline std::span<char> ThreadReadBuffer(size_t size) {
  thread_local std::unique_ptr<char[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < size) {
    buffer.reset(new char[size]);  // unchanged if this throws
    capacity = size;
  }
  return {buffer.get(), size};
}

// Fills one READDIR / READDIRPLUS reply from `list(offset, plus, fill)`
// (the ops' ReadDir) and sends it; returns list's -errno unsent.
template <bool kPlus, class Bridge, class List>
int ReplyDir(fuse_req_t req, const Bridge& bridge, size_t size, off_t off, List&& list) {
  auto buffer = std::make_unique<char[]>(size);
  size_t used = 0;
  auto fill = [&](const DirEntry& entry) {
    const std::string name(entry.name);  // libfuse wants a C string
    char* at = buffer.get() + used;
    size_t need;
    if constexpr (kPlus) {
      fuse_entry_param e = EntryFor(bridge, entry.attr);
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
  const int rc = list(static_cast<int64_t>(off), kPlus, DirFiller(fill));
  if (rc < 0) return rc;
  fuse_reply_buf(req, buffer.get(), used);
  return 0;
}

// The callbacks both bridges answer alike.
template <class Bridge>
struct SharedOperations {
  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Bridge& bridge = Bridge::Of(req);
    bridge.Serve(req, "look up", parent, name, [&] {
      struct stat st;
      const int rc = bridge.ops().Lookup(parent, name, &st);
      if (rc == -ENOENT) {
        // ino 0: the kernel caches the miss (until it creates the name itself).
        fuse_entry_param negative{};
        negative.entry_timeout = Bridge::kCacheSeconds;
        fuse_reply_entry(req, &negative);
        return 0;
      }
      if (rc < 0) return rc;
      const fuse_entry_param e = EntryFor(bridge, st);
      fuse_reply_entry(req, &e);
      return 0;
    });
  }

  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    Bridge& bridge = Bridge::Of(req);
    bridge.Serve(req, "stat", ino, [&] {
      struct stat st;
      const int rc = bridge.ops().GetAttr(ino, &st);
      if (rc < 0) return rc;
      fuse_reply_attr(req, &st, bridge.AttrTimeout(ino));
      return 0;
    });
  }

  // Folder handles hold nothing: where the kernel lets us (the bridge's
  // init() called SkipOpenDirWhereSupported), ENOSYS tells it never to ask
  // again, and it caches listings.
  static void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Bridge& bridge = Bridge::Of(req);
    bridge.Serve(req, "open", ino, [&] {
      if (bridge.kernel_skips_opendir()) return -ENOSYS;
      const int rc = bridge.ops().OpenDir(ino);
      if (rc < 0) return rc;
      fi->keep_cache = 1;
      fi->cache_readdir = 1;
      fuse_reply_open(req, fi);
      return 0;
    });
  }

  static void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    Bridge& bridge = Bridge::Of(req);
    bridge.Serve(req, "read", ino, [&] {
      const std::span<char> buffer = ThreadReadBuffer(size);
      const ssize_t n =
          bridge.ops().Read(bridge.ReadTarget(ino, fi), static_cast<uint64_t>(off), buffer);
      if (n < 0) return static_cast<int>(n);
      fuse_reply_buf(req, buffer.data(), static_cast<size_t>(n));
      return 0;
    });
  }

  template <bool kPlus>
  static void ReadDirImpl(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off) {
    Bridge& bridge = Bridge::Of(req);
    bridge.Serve(req, "list", ino, [&] {
      return ReplyDir<kPlus>(req, bridge, size, off,
                             [&](int64_t offset, bool plus, const DirFiller& fill) {
                               return bridge.ops().ReadDir(ino, offset, plus, fill);
                             });
    });
  }

  static void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    ReadDirImpl<false>(req, ino, size, off);
  }

  static void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    ReadDirImpl<true>(req, ino, size, off);
  }

  static void StatFs(fuse_req_t req, fuse_ino_t ino) {
    Bridge& bridge = Bridge::Of(req);
    bridge.Serve(req, "stat the file system of", ino, [&] {
      struct statvfs st;
      const int rc = bridge.ops().StatFs(&st);
      if (rc < 0) return rc;
      fuse_reply_statfs(req, &st);
      return 0;
    });
  }

  // getxattr/listxattr: size 0 asks for the length; a smaller buffer is ERANGE.
  static int ReplyXattr(fuse_req_t req, size_t size, const std::string& data) {
    if (size == 0) {
      fuse_reply_xattr(req, data.size());
    } else if (size < data.size()) {
      return -ERANGE;
    } else {
      fuse_reply_buf(req, data.data(), data.size());
    }
    return 0;
  }

  static void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    Bridge& bridge = Bridge::Of(req);
    bridge.Serve(req, "read an attribute of", ino, [&] {
      std::string value;
      const int rc = bridge.ops().GetXattr(ino, name, &value);
      return rc < 0 ? rc : ReplyXattr(req, size, value);
    });
  }

  static void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    Bridge& bridge = Bridge::Of(req);
    bridge.Serve(req, "list the attributes of", ino, [&] {
      std::string names;
      const int rc = bridge.ops().ListXattr(ino, &names);
      return rc < 0 ? rc : ReplyXattr(req, size, names);
    });
  }

  static void AddTo(fuse_lowlevel_ops* ops) {
    ops->getxattr = GetXattr;
    ops->listxattr = ListXattr;
    ops->lookup = Lookup;
    ops->getattr = GetAttr;
    ops->opendir = OpenDir;
    ops->read = Read;
    ops->readdir = ReadDir;
    ops->readdirplus = ReadDirPlus;
    ops->statfs = StatFs;
  }
};

// `Bridge` derives from BridgeBase<Bridge, Ops> (see the top of the file).
template <class Bridge, class Ops>
class BridgeBase {
 public:
  // How long the kernel keeps names, attributes and pages that change only
  // through its own requests (all of them in the read-only view).
  static constexpr double kCacheSeconds = 86400.0;

  explicit BridgeBase(Ops& ops) : ops_(ops) {}

  // libfuse's table: the shared callbacks, then the bridge's own.
  static const fuse_lowlevel_ops& Operations() {
    static const fuse_lowlevel_ops table = [] {
      fuse_lowlevel_ops ops{};
      SharedOperations<Bridge>::AddTo(&ops);
      Bridge::AddOperations(&ops);
      return ops;
    }();
    return table;
  }

  // The bridge a request came through (the session's userdata).
  static Bridge& Of(fuse_req_t req) { return *static_cast<Bridge*>(fuse_req_userdata(req)); }

  Ops& ops() const { return ops_; }

  // From the bridge's init(): asks the kernel to skip OPENDIR/RELEASEDIR
  // where it can (SharedOperations::OpenDir then answers ENOSYS).
  void SkipOpenDirWhereSupported(fuse_conn_info* conn) {
    if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
      conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
      kernel_skips_opendir_ = true;
    }
  }
  bool kernel_skips_opendir() const { return kernel_skips_opendir_; }

  // Serves one request about `ino` (or `name` in directory `ino`): `work`
  // replies and returns 0, or returns -errno without replying. That -errno,
  // and whatever `work` throws (logged once as "Cannot <verb> '<path>': ..."),
  // is answered with fuse_reply_err.
  // `fn` runs once, on the first request after INIT has been answered (the
  // kernel applies INIT's reply before it sends anything else). Set before
  // the session loop starts.
  void RunAfterInit(std::function<void()> fn) {
    after_init_ = std::move(fn);
    after_init_pending_.store(static_cast<bool>(after_init_), std::memory_order_release);
  }

  template <class Work>
  void Serve(fuse_req_t req, const char* verb, fuse_ino_t ino, std::string_view name,
             Work&& work) const noexcept {
    if (after_init_pending_.load(std::memory_order_acquire)) RunPendingAfterInit();
    const int rc = GuardFuseOp(
        verb, [&] { return ops_.PathForLog(ino, name); }, work);
    if (rc < 0) fuse_reply_err(req, -rc);
  }
  template <class Work>
  void Serve(fuse_req_t req, const char* verb, fuse_ino_t ino, Work&& work) const noexcept {
    Serve(req, verb, ino, std::string_view(), work);
  }

 private:
  void RunPendingAfterInit() const noexcept {
    std::call_once(after_init_once_, [this] {
      GuardFuseOp(
          "tune", [] { return std::string("the mount"); },
          [this] {
            after_init_();
            return 0;
          });
      after_init_pending_.store(false, std::memory_order_release);
    });
  }

  Ops& ops_;
  bool kernel_skips_opendir_ = false;  // written by init(), before any other request
  std::function<void()> after_init_;   // written before the loop starts
  mutable std::once_flag after_init_once_;
  mutable std::atomic<bool> after_init_pending_{false};
};

}  // namespace tpkg::fs
