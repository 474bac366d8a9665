#include "journal_bridge.h"

#include <fcntl.h>
#include <stdio.h>  // RENAME_NOREPLACE, RENAME_EXCHANGE

#include <cerrno>
#include <optional>

namespace tpkg::fs {
namespace {

// Who made the request: what it creates belongs to them.
Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  return Caller{ctx->uid, ctx->gid};
}

int ReplyEntry(fuse_req_t req, const JournalBridge& bridge, const struct stat& st) {
  const fuse_entry_param e = EntryFor(bridge, st);
  fuse_reply_entry(req, &e);
  return 0;
}

void Init(void* userdata, fuse_conn_info* conn) {
  auto* bridge = static_cast<JournalBridge*>(userdata);
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  // Folder handles hold nothing: let the kernel skip OPENDIR/RELEASEDIR and
  // cache listings (see the header).
  bridge->SkipOpenDirWhereSupported(conn);
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  // Write-through: a write(2) is in the journal when it returns.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // Only the kernel changes files (see the header), so it need not re-check
  // mtimes to drop its own pages.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  // The kernel keeps each file's POSIX ACL (there are none: getxattr answers
  // ENODATA, setxattr EOPNOTSUPP) after asking once, instead of passing
  // `ls -l`'s lookup of it to the daemon for every file every time: half of
  // the requests of a warm `ls -lR`. It also makes the kernel check modes
  // (default_permissions, which FuseArgv always asks for anyway).
  if (conn->capable & FUSE_CAP_POSIX_ACL) conn->want |= FUSE_CAP_POSIX_ACL;
}

unsigned FieldsOf(int to_set) {
  unsigned f = 0;
  if (to_set & FUSE_SET_ATTR_MODE) f |= kSetMode;
  if (to_set & FUSE_SET_ATTR_SIZE) f |= kSetSize;
  if (to_set & FUSE_SET_ATTR_MTIME) f |= kSetMtime;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) f |= kSetMtimeNow;
  if (to_set & FUSE_SET_ATTR_ATIME) f |= kSetAtime;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) f |= kSetAtimeNow;
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) f |= kSetOwner;
  return f;
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "change attributes of", ino, [&] {
    JournalFsOps& ops = bridge.ops();
    struct stat want = *attr;
    struct stat current;
    // chown to the owner it already has is allowed: fill the half not given.
    if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && ops.GetAttr(ino, &current) == 0) {
      if (!(to_set & FUSE_SET_ATTR_UID)) want.st_uid = current.st_uid;
      if (!(to_set & FUSE_SET_ATTR_GID)) want.st_gid = current.st_gid;
    }
    struct stat st;
    const int rc = ops.SetAttr(ino, want, FieldsOf(to_set),
                               fi ? std::optional<uint64_t>(fi->fh) : std::nullopt, &st);
    if (rc < 0) return rc;
    fuse_reply_attr(req, &st, bridge.AttrTimeout(ino));
    return 0;
  });
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "open", ino, [&] {
    uint64_t fh = 0;
    const int rc = bridge.ops().Open(ino, fi->flags, &fh);
    if (rc < 0) return rc;
    fi->fh = fh;
    fi->keep_cache = bridge.ops().IsVirtual(ino) ? 0 : 1;
    fi->noflush = 1;  // nothing is buffered here: flush has nothing to do
    fuse_reply_open(req, fi);
    return 0;
  });
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "create", parent, name, [&] {
    struct stat st;
    uint64_t fh = 0;
    const int rc = bridge.ops().Create(parent, name, mode, fi->flags, &st, &fh, CallerOf(req));
    if (rc < 0) return rc;
    fi->fh = fh;
    fi->keep_cache = 1;
    fi->noflush = 1;
    const fuse_entry_param e = EntryFor(bridge, st);
    fuse_reply_create(req, &e, fi);
    return 0;
  });
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
           fuse_file_info* fi) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "write", ino, [&] {
    const ssize_t n = bridge.ops().Write(fi->fh, static_cast<uint64_t>(off), std::span(buf, size),
                                         fi->writepage != 0);
    if (n < 0) return static_cast<int>(n);
    fuse_reply_write(req, static_cast<size_t>(n));
    return 0;
  });
}

void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  JournalBridge::Of(req).Serve(req, "flush", ino, [&] { return ReplyStatus(req, 0); });
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "close", ino, [&] { return ReplyStatus(req, bridge.ops().Release(fi->fh)); });
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info* fi) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "sync", ino, [&] { return ReplyStatus(req, bridge.ops().Fsync(fi->fh)); });
}

// Namespace changes reach the disk by group commit; fsyncdir waits for it.
void FsyncDir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "sync", ino, [&] { return ReplyStatus(req, bridge.ops().FsyncDir()); });
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "make directory", parent, name, [&] {
    struct stat st;
    const int rc = bridge.ops().Mkdir(parent, name, mode, &st, CallerOf(req));
    return rc < 0 ? rc : ReplyEntry(req, bridge, st);
  });
}

// A regular file made by mknod(2) is an empty created file; nothing else
// can be in a package.
void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "create", parent, name, [&] {
    JournalFsOps& ops = bridge.ops();
    if (!S_ISREG(mode)) return ops.RefuseSpecialFile("special file", parent, name);
    struct stat st;
    uint64_t fh = 0;
    const int rc = ops.Create(parent, name, mode, O_WRONLY, &st, &fh, CallerOf(req));
    if (rc < 0) return rc;
    ops.Release(fh);
    return ReplyEntry(req, bridge, st);
  });
}

void Symlink(fuse_req_t req, const char*, fuse_ino_t parent, const char* name) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "create", parent, name, [&] {
    return ReplyStatus(req, bridge.ops().RefuseSpecialFile("symbolic link", parent, name));
  });
}

void Link(fuse_req_t req, fuse_ino_t, fuse_ino_t parent, const char* name) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "create", parent, name, [&] {
    return ReplyStatus(req, bridge.ops().RefuseSpecialFile("hard link", parent, name));
  });
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "remove", parent, name,
               [&] { return ReplyStatus(req, bridge.ops().Unlink(parent, name)); });
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "remove directory", parent, name,
               [&] { return ReplyStatus(req, bridge.ops().Rmdir(parent, name)); });
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
            const char* new_name, unsigned flags) {
  const JournalBridge& bridge = JournalBridge::Of(req);
  bridge.Serve(req, "rename", parent, name, [&] {
    // RENAME_WHITEOUT (overlay file systems' own) or a flag newer than
    // this code: refused, never ignored.
    if ((flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0)
      return ReplyStatus(req, -EINVAL);
    return ReplyStatus(
        req, bridge.ops().Rename(parent, name, new_parent, new_name,
                                 (flags & RENAME_NOREPLACE) != 0, (flags & RENAME_EXCHANGE) != 0));
  });
}

}  // namespace

// Lookup, getattr, read, readdir(plus) and statfs are the shared ones.
void JournalBridge::AddOperations(fuse_lowlevel_ops* ops) {
  ops->init = Init;
  ops->setattr = SetAttr;
  ops->open = Open;
  ops->create = Create;
  ops->write = Write;
  ops->flush = Flush;
  ops->release = Release;
  ops->fsync = Fsync;
  ops->fsyncdir = FsyncDir;
  ops->mkdir = Mkdir;
  ops->mknod = Mknod;
  ops->symlink = Symlink;
  ops->link = Link;
  ops->unlink = Unlink;
  ops->rmdir = Rmdir;
  ops->rename = Rename;
}

}  // namespace tpkg::fs
