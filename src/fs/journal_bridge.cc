#include "journal_bridge.h"

#include <fcntl.h>
#include <stdio.h>  // RENAME_NOREPLACE, RENAME_EXCHANGE

#include <cerrno>
#include <memory>
#include <span>

#include "fuse_dir_reply.h"

namespace tpkg::fs {
namespace {

JournalFsOps& OpsOf(fuse_req_t req) {
  return static_cast<JournalBridge*>(fuse_req_userdata(req))->ops();
}

double TimeoutFor(JournalFsOps& ops, fuse_ino_t ino) {
  return ops.IsVirtual(ino) ? 0.0 : JournalBridge::kCacheSeconds;
}

fuse_entry_param EntryFor(JournalFsOps& ops, const struct stat& st) {
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.attr = st;
  e.attr_timeout = e.entry_timeout = TimeoutFor(ops, st.st_ino);
  return e;
}

void ReplyEntry(fuse_req_t req, int rc, const struct stat& st) {
  if (rc < 0) return (void)fuse_reply_err(req, -rc);
  const fuse_entry_param e = EntryFor(OpsOf(req), st);
  fuse_reply_entry(req, &e);
}

void ReplyErr(fuse_req_t req, int rc) { fuse_reply_err(req, rc < 0 ? -rc : 0); }

void Init(void*, fuse_conn_info* conn) {
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  // Write-through: a write(2) is in the journal when it returns.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // Only the kernel changes files (see the header), so it need not re-check
  // mtimes to drop its own pages.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  struct stat st;
  const int rc = OpsOf(req).Lookup(parent, name, &st);
  if (rc == -ENOENT) {
    fuse_entry_param negative{};  // ino 0: the kernel caches the miss until it creates the name
    negative.entry_timeout = JournalBridge::kCacheSeconds;
    return (void)fuse_reply_entry(req, &negative);
  }
  ReplyEntry(req, rc, st);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  struct stat st;
  const int rc = OpsOf(req).GetAttr(ino, &st);
  if (rc < 0) return (void)fuse_reply_err(req, -rc);
  fuse_reply_attr(req, &st, TimeoutFor(OpsOf(req), ino));
}

unsigned FieldsOf(int to_set) {
  unsigned f = 0;
  if (to_set & FUSE_SET_ATTR_MODE) f |= kSetMode;
  if (to_set & FUSE_SET_ATTR_SIZE) f |= kSetSize;
  if (to_set & FUSE_SET_ATTR_MTIME) f |= kSetMtime;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) f |= kSetMtimeNow;
  if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) f |= kSetAtime;
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) f |= kSetOwner;
  return f;
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  JournalFsOps& ops = OpsOf(req);
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
  if (rc < 0) return (void)fuse_reply_err(req, -rc);
  fuse_reply_attr(req, &st, TimeoutFor(ops, ino));
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  JournalFsOps& ops = OpsOf(req);
  uint64_t fh = 0;
  const int rc = ops.Open(ino, fi->flags, &fh);
  if (rc < 0) return (void)fuse_reply_err(req, -rc);
  fi->fh = fh;
  fi->keep_cache = ops.IsVirtual(ino) ? 0 : 1;
  fi->noflush = 1;  // nothing is buffered here: flush has nothing to do
  fuse_reply_open(req, fi);
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  struct stat st;
  uint64_t fh = 0;
  const int rc = OpsOf(req).Create(parent, name, mode, fi->flags, &st, &fh);
  if (rc < 0) return (void)fuse_reply_err(req, -rc);
  fi->fh = fh;
  fi->keep_cache = 1;
  fi->noflush = 1;
  const fuse_entry_param e = EntryFor(OpsOf(req), st);
  fuse_reply_create(req, &e, fi);
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  // One buffer per worker thread, grown to the largest request (max_read).
  thread_local std::unique_ptr<char[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < size) {
    buffer.reset(new char[size]);
    capacity = size;
  }
  const ssize_t n = OpsOf(req).Read(fi->fh, static_cast<uint64_t>(off), std::span(buffer.get(), size));
  if (n < 0) return (void)fuse_reply_err(req, static_cast<int>(-n));
  fuse_reply_buf(req, buffer.get(), static_cast<size_t>(n));
}

void Write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  const ssize_t n = OpsOf(req).Write(fi->fh, static_cast<uint64_t>(off), std::span(buf, size));
  if (n < 0) return (void)fuse_reply_err(req, static_cast<int>(-n));
  fuse_reply_write(req, static_cast<size_t>(n));
}

void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  ReplyErr(req, OpsOf(req).Release(fi->fh));
}

void Fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  ReplyErr(req, OpsOf(req).Fsync(fi->fh));
}

// Namespace changes are durable when they return (the journal's manifest).
void FsyncDir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); }

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const int rc = OpsOf(req).OpenDir(ino);
  if (rc < 0) return (void)fuse_reply_err(req, -rc);
  fuse_reply_open(req, fi);
}

template <bool kPlus>
void ReadDirImpl(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off) {
  JournalFsOps& ops = OpsOf(req);
  ReplyDir<kPlus>(
      req, size, off,
      [&](int64_t offset, bool plus, const DirFiller& fill) {
        return ops.ReadDir(ino, offset, plus, fill);
      },
      [&](const struct stat& st) { return EntryFor(ops, st); });
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDirImpl<false>(req, ino, size, off);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDirImpl<true>(req, ino, size, off);
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  struct stat st;
  ReplyEntry(req, OpsOf(req).Mkdir(parent, name, mode, &st), st);
}

// A regular file made by mknod(2) is an empty created file; nothing else
// can be in a package.
void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  JournalFsOps& ops = OpsOf(req);
  if (!S_ISREG(mode)) return ReplyErr(req, ops.RefuseSpecialFile("special file", parent, name));
  struct stat st;
  uint64_t fh = 0;
  const int rc = ops.Create(parent, name, mode, O_WRONLY, &st, &fh);
  if (rc == 0) ops.Release(fh);
  ReplyEntry(req, rc, st);
}

void Symlink(fuse_req_t req, const char*, fuse_ino_t parent, const char* name) {
  ReplyErr(req, OpsOf(req).RefuseSpecialFile("symbolic link", parent, name));
}

void Link(fuse_req_t req, fuse_ino_t, fuse_ino_t parent, const char* name) {
  ReplyErr(req, OpsOf(req).RefuseSpecialFile("hard link", parent, name));
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyErr(req, OpsOf(req).Unlink(parent, name));
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyErr(req, OpsOf(req).Rmdir(parent, name));
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
            const char* new_name, unsigned flags) {
  ReplyErr(req, OpsOf(req).Rename(parent, name, new_parent, new_name,
                                  (flags & RENAME_NOREPLACE) != 0, (flags & RENAME_EXCHANGE) != 0));
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st;
  const int rc = OpsOf(req).StatFs(&st);
  if (rc < 0) return (void)fuse_reply_err(req, -rc);
  fuse_reply_statfs(req, &st);
}

fuse_lowlevel_ops MakeOperations() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.getattr = GetAttr;
  ops.setattr = SetAttr;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = Fsync;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.fsyncdir = FsyncDir;
  ops.mkdir = Mkdir;
  ops.mknod = Mknod;
  ops.symlink = Symlink;
  ops.link = Link;
  ops.unlink = Unlink;
  ops.rmdir = Rmdir;
  ops.rename = Rename;
  ops.statfs = StatFs;
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& JournalBridge::Operations() {
  static const fuse_lowlevel_ops ops = MakeOperations();
  return ops;
}

}  // namespace tpkg::fs
