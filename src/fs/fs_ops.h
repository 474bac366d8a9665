// fs_ops.h: every file-system operation of the mount as plain C++.
//
// One method per FUSE operation, in FUSE's terms (inode numbers, offsets)
// but with no FUSE types: results come back as values and a 0 / negative
// errno return, so the whole file system can be tested without a kernel.
// fuse_bridge.cc adapts these to libfuse's low-level API.
//
//   FsOps ops(zip, FsOptions{});
//   struct stat st;
//   if (ops.Lookup(kRootInode, ".data", &st) == 0) { /* st.st_ino is the inode */ }
//   ssize_t n = ops.Read(ino, 0, std::span(buf, sizeof buf));   // bytes or -errno
//
// Every method is noexcept: what it throws is caught, logged once and
// returned as -errno by GuardFuseOp (fuse_op_guard.h), e.g. "Cannot read
// 'model/.data/0.storage': CRC-32 mismatch ..." and -EIO. Normal misses
// (ENOENT on lookup) are returned, not thrown, and not logged.
//
// This is the read-only view (`-o ro`, or an archive whose edits could not
// be kept; journal_fs_ops.h is the read/write one): the daemon mounts with
// "ro", registers no write-side operation (the kernel answers EROFS
// itself), and Open() refuses write access with -EROFS.
//
// Open state is kept per inode, not per open file, because the bridge lets
// the kernel skip OPEN/RELEASE round trips (FUSE_CAP_NO_OPEN_SUPPORT) to keep
// small-file reads at page-cache speed. The tree's nodes say where bytes come
// from (tree.h FileSource), so a journal-backed source can join the record
// and virtual ones.
//
// Thread safety: FsOps is shared by all FUSE worker threads. The Tree,
// VirtualFiles' slot list and the options are immutable after construction;
// the reader table is guarded by readers_mu_ (never held during I/O); each
// RecordReader, the RecordVerifier and the analysis cache guard themselves.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "file_reader.h"
#include "record_verifier.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/zip_reader.h"
#include "tree.h"
#include "virtual_files.h"

namespace tpkg::fs {

struct FsOptions {
  uid_t uid = 0;  // owner shown for every node
  gid_t gid = 0;
};

// The archive's modification time: every node shows it until edited.
struct timespec ArchiveMtime(const ZipReader& zip);

// One directory entry as ReadDir() hands it out.
struct DirEntry {
  std::string_view name;
  // With plus: full attributes when attr_complete; otherwise (and always
  // without plus) only st_ino and the type bits of st_mode.
  struct stat attr;
  // False for a generated file whose size is not known yet: computing it
  // would run the whole package analysis just because a folder was listed.
  bool attr_complete;
  int64_t next_offset;  // the cookie of the entry after this one
};

// Receives one entry; returns false when the reply buffer is full (the entry
// was not taken).
using DirFiller = std::function<bool(const DirEntry& entry)>;

class FsOps {
 public:
  // Deflated records inflating at once; older inflaters are dropped (their
  // next read restarts), bounding memory to about this many x 400 KiB.
  static constexpr size_t kMaxLiveInflaters = 8;

  // `cache`: where the analysis behind the generated files keeps its
  // per-record results (tpkg/analysis_cache.h), e.g. with a disk layer, so
  // that a later mount of the package scans only what changed; none: it
  // scans every source at its first use.
  FsOps(std::shared_ptr<const ZipReader> zip, FsOptions options,
        std::shared_ptr<RecordAnalysisCache> cache = nullptr);

  // `out->st_ino` is the child's inode.
  int Lookup(InodeId parent, std::string_view name, struct stat* out) noexcept;
  int GetAttr(InodeId ino, struct stat* out) noexcept;
  // Only used when the kernel cannot skip OPEN: checks the access mode.
  int Open(InodeId ino, int flags) noexcept;
  int OpenDir(InodeId ino) noexcept;
  // Entries from cookie `offset` on ("." and ".." first); see DirEntry.
  int ReadDir(InodeId ino, int64_t offset, bool plus, const DirFiller& fill) noexcept;
  // Bytes copied into `out` (short only at the end of the file) or -errno.
  ssize_t Read(InodeId ino, uint64_t offset, std::span<char> out) noexcept;
  int StatFs(struct statvfs* out) noexcept;
  // Extended attributes (record_xattrs.h): the NUL-terminated names, or one
  // value; -ENODATA for a name the node does not have.
  int ListXattr(InodeId ino, std::string* out) noexcept;
  int GetXattr(InodeId ino, std::string_view name, std::string* out) noexcept;

  const Tree& tree() const { return tree_; }

  // The archive path (with the prefix folder) that log lines name for `ino`,
  // or for `name` in directory `ino`.
  std::string PathForLog(InodeId ino, std::string_view name = {}) const;

 private:
  void FillAttr(InodeId ino, struct stat* out) const;
  // Whether FillAttr() would be cheap (false for a virtual file not generated yet).
  bool AttrIsCheap(const Node& node) const;
  uint64_t FileSize(const Node& node) const;
  std::shared_ptr<RecordReader> ReaderFor(InodeId ino, const ZipEntry& entry);
  size_t ReadNode(InodeId ino, uint64_t offset, std::span<char> out);

  const std::shared_ptr<const ZipReader> zip_;
  const FsOptions options_;
  VirtualFiles virtual_files_;
  const Tree tree_;
  const struct timespec archive_mtime_;
  RecordVerifier verifier_;  // each stored record's CRC, checked once per mount

  std::mutex readers_mu_;
  // Guarded by readers_mu_: one reader per file inode that has been read.
  std::unordered_map<InodeId, std::shared_ptr<RecordReader>> readers_;
  // Guarded by readers_mu_: deflated inodes in readers_, oldest first.
  std::deque<InodeId> inflating_;
};

}  // namespace tpkg::fs
