// journal_fs_ops.h: the read/write mount's file-system operations, over the
// edit journal (tpkg/journal.h), as plain C++ returning 0 / -errno.
//
// Like FsOps (the read-only view) there are no FUSE types here, so the whole
// write path is unit-testable without a kernel; journal_bridge.cc adapts it
// to libfuse. Every method is noexcept: what it throws is caught, logged
// once and returned as -errno by GuardFuseOp (fuse_op_guard.h), e.g.
// "Cannot write 'model/a.py': No space left on device" and -ENOSPC.
//
//   JournalFsOps ops(zip, journal, FsOptions{getuid(), getgid()});
//   struct stat st; uint64_t fh;
//   ops.Create(kRootInode, "new.py", 0644, O_WRONLY, &st, &fh);
//   ops.Write(fh, 0, bytes);
//   ops.Release(fh);
//
// What a package can hold, and so what the mount accepts (the rules users see):
//   * regular files and directories only: symlink, link and mknod of anything
//     but a regular file give EPERM (a ZIP record has no such kinds, and
//     torch.package would not know what to do with them);
//   * names of at most 255 bytes (ENAMETOOLONG), paths the journal accepts;
//   * no Python bytecode caches: `__pycache__` folders and `.pyc` files give
//     EPERM (tpkg/journal.h), which Python's importer silently ignores;
//   * `.data/extern_modules` and `.data/deps.dot` are generated from the
//     package's contents and follow every edit: opening them for writing,
//     truncating, removing or renaming them gives EACCES / EPERM with a log
//     line saying why;
//   * permission bits, mtimes set with utimens (`touch -d`) and empty
//     folders are kept by the save (in the ZIP's headers and folder entries;
//     the exact rules in tpkg/write_back.h); mtimes to the second, from 1970
//     to 2106 (else EOVERFLOW). Kept only while mounted
//     (in the journal, until the next save): atimes (apart from mtimes),
//     ctimes, and who owns a file: its creator (fuse_get_context, seen with
//     -o allow_other) or a chown's (whose right to it the kernel checked:
//     default_permissions; `tar -x` and `cp -a` as root make them); after a
//     save everything belongs to the mount's owner again. A file whose name
//     is gone or a generated one keeps its owner (EPERM);
//   * POSIX times: create, mkdir, unlink, rmdir and rename set the mtime and
//     ctime of the folders whose listing changed; chmod, utimens and writes
//     set the ctime; a new file or folder gets the current time. Folders
//     count 2 + their subfolders in st_nlink.
//
// Files: an open file is a handle (`fh`, a key into handles_, never a
// pointer). Its bytes are those of the journal node at the inode's current
// path: the original record until the first write, then the journal data
// file; a stored record written without O_TRUNC becomes a patch
// (tpkg/record_patch.h), so a small write costs O(write), not a copy of the
// record (deflated records cannot be patched in place: their first write
// copies them). A patch's reads check the original record's CRC-32 first
// (the RecordVerifier, once per mount), as reads of the original do. When
// an open file loses its name (unlink, or another file renamed over it), the
// inode keeps the descriptor / patch / record it had, so reads and writes
// through open handles go on working, as POSIX requires.
//
// Thread safety: shared by all FUSE worker threads. ns_mu_ is held
// exclusively by every operation that changes names (create, mkdir, unlink,
// rmdir, rename) and shared by the others, so a path resolved through the
// inode table stays valid during the journal call that uses it. table_mu_
// guards the InodeTable itself (lookups intern names under the shared
// lock); files_mu_ guards the handle and open-inode tables. Neither is held
// during I/O. The Journal serializes its own calls; VirtualFiles and the
// RecordVerifier guard themselves.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "file_reader.h"
#include "fs_ops.h"  // FsOptions, DirEntry, DirFiller
#include "inode_table.h"
#include "tpkg/journal.h"
#include "virtual_files.h"

namespace tpkg::fs {

// Which attributes SetAttr() changes (bit set).
enum SetAttrField : unsigned {
  kSetMode = 1u << 0,
  kSetSize = 1u << 1,
  kSetMtime = 1u << 2,     // to attr.st_mtim
  kSetMtimeNow = 1u << 3,  // to the current time
  kSetAtime = 1u << 4,     // to attr.st_atim (kept while mounted, never saved)
  kSetOwner = 1u << 5,     // uid and gid (both given)
  kSetAtimeNow = 1u << 6,  // to the current time
};

// Who asks for an operation (fuse_get_context): a file or folder it creates
// is its own.
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

class JournalFsOps {
 public:
  // `cache` (tpkg/analysis_cache.h): the per-record analysis results the
  // generated files reuse after an edit (the daemon fills it in the
  // background from the first change on, analysis_warmer.h, and its save
  // reuses it). `on_change`: called after every change of the namespace or
  // of a file's bytes, from the FUSE thread that made it (cheap, no locks held).
  JournalFsOps(std::shared_ptr<const ZipReader> zip, Journal& journal, FsOptions options,
               std::shared_ptr<RecordAnalysisCache> cache = nullptr,
               std::function<void()> on_change = nullptr);

  // --- Names and attributes ---
  int Lookup(InodeId parent, std::string_view name, struct stat* out) noexcept;
  int GetAttr(InodeId ino, struct stat* out) noexcept;
  int SetAttr(InodeId ino, const struct stat& attr, unsigned fields, std::optional<uint64_t> fh,
              struct stat* out) noexcept;
  int OpenDir(InodeId ino) noexcept;
  int ReadDir(InodeId ino, int64_t offset, bool plus, const DirFiller& fill) noexcept;
  int Mkdir(InodeId parent, std::string_view name, mode_t mode, struct stat* out,
            std::optional<Caller> caller = std::nullopt) noexcept;
  int Unlink(InodeId parent, std::string_view name) noexcept;
  int Rmdir(InodeId parent, std::string_view name) noexcept;
  // `no_replace`: RENAME_NOREPLACE; `exchange` (RENAME_EXCHANGE) gives EINVAL.
  int Rename(InodeId parent, std::string_view name, InodeId new_parent, std::string_view new_name,
             bool no_replace, bool exchange) noexcept;
  // symlink, link, mknod of a non-regular file: -EPERM (see the rules above).
  int RefuseSpecialFile(const char* what, InodeId parent, std::string_view name) noexcept;
  int StatFs(struct statvfs* out) noexcept;
  // Extended attributes (record_xattrs.h): the NUL-terminated names, or one
  // value; -ENODATA for a name the node does not have.
  int ListXattr(InodeId ino, std::string* out) noexcept;
  int GetXattr(InodeId ino, std::string_view name, std::string* out) noexcept;

  // --- Files ---
  // O_TRUNC empties the file; O_APPEND writes at the end.
  int Open(InodeId ino, int flags, uint64_t* fh) noexcept;
  // O_CREAT|O_EXCL semantics (the kernel checked the name is free).
  int Create(InodeId parent, std::string_view name, mode_t mode, int flags, struct stat* out,
             uint64_t* fh, std::optional<Caller> caller = std::nullopt) noexcept;
  ssize_t Read(uint64_t fh, uint64_t offset, std::span<char> out) noexcept;
  // `page_cache_write`: the kernel writing back a shared mapping's dirty pages
  // (FUSE_WRITE_CACHE): at their own offset, whatever handle it picked (even
  // an O_APPEND one), and all of them or an error, since it ignores a short
  // count there; write(2)'s own writes may come back short on a full disk.
  ssize_t Write(uint64_t fh, uint64_t offset, std::span<const char> data,
                bool page_cache_write = false) noexcept;
  // fsync(2): the file's bytes, then every change so far (Journal::Fsync's rule).
  int Fsync(uint64_t fh) noexcept;
  // fsyncdir(2): every change so far (Journal::Commit).
  int FsyncDir() noexcept;
  int Release(uint64_t fh) noexcept;

  // Whether `ino` is a generated file: its bytes change with every edit
  // elsewhere, so the bridge lets the kernel cache neither its attributes
  // nor its pages.
  bool IsVirtual(InodeId ino) noexcept;

  // Paths (inside the mount) of the files open for writing now, each once,
  // sorted; a file whose name is gone is named by its inode. For a daemon
  // told to stop (graceful_stop.h); safe while the loop serves.
  std::vector<std::string> FilesOpenForWriting() const;

  // The archive path (with the prefix folder) that log lines name for `ino`,
  // or for `name` in directory `ino`.
  std::string PathForLog(InodeId ino, std::string_view name = {}) const;

 private:
  // What an inode that is open holds on to, so it survives losing its name.
  struct OpenInode {
    int open_count = 0;
    int write_count = 0;  // handles open for writing
    // The journal data file (read/write), once edited; shared with the
    // Content of reads and writes in flight so Release() cannot close it
    // under them.
    std::shared_ptr<const ScopedFd> fd;
    uint64_t data_id = 0;                  // of fd or patch
    // A stored record written in place (tpkg/record_patch.h), instead of fd.
    std::shared_ptr<RecordPatch> patch;
    const ZipEntry* original = nullptr;    // content still the original record
    std::shared_ptr<RecordReader> reader;  // for `original`
  };
  struct Handle {
    InodeId ino = 0;
    bool write = false;
    bool append = false;
  };
  struct Content;  // what one Read/Write goes to (journal_fs_ops_internal.h)

  std::optional<std::string> PathOf(InodeId ino) const;
  InodeId Intern(const std::string& path);
  void Forget(const std::string& path);  // the name and every name below it
  std::string ChildPath(InodeId parent, std::string_view name) const;  // throws ENOENT
  void FillAttr(InodeId ino, const std::string& path, struct stat* out) const;
  void FillNodeAttr(InodeId ino, const JournalNode& node, struct stat* out) const;
  Content ContentOf(InodeId ino, bool for_write);
  Content CachedEdited(InodeId ino, const std::string& path, uint64_t data_id);
  Content CachedPatch(InodeId ino, const std::string& path, uint64_t data_id);
  // What an edited file's reads, or any file's writes, go to; a write may
  // turn a large patch into a whole journal file.
  Content EditableContent(InodeId ino, const std::string& path, const JournalNode& node,
                          bool for_write);
  Content OriginalContent(InodeId ino, const ZipEntry* original);
  Content OrphanContent(InodeId ino);
  void OrphanAttr(InodeId ino, struct stat* out);
  void CaptureBeforeLosingName(const std::string& path);
  void RefuseGenerated(const std::string& path, const char* verb) const;
  Handle HandleOf(uint64_t fh);
  uint64_t AddHandle(InodeId ino, int flags);
  void Changed();
  template <class Change>
  int ChangeName(const char* verb, InodeId parent, std::string_view name, Change&& change) noexcept;
  std::string Describe(const std::string& path) const;  // with the prefix folder
  std::string NameOfInode(InodeId ino) const;
  std::string HandlePathForLog(uint64_t fh);
  // The owner to record for `caller` (nullopt: the mount's owner).
  std::optional<JournalOwner> OwnerOf(std::optional<Caller> caller) const;

  const std::shared_ptr<const ZipReader> zip_;
  Journal& journal_;
  const FsOptions options_;
  const struct timespec archive_mtime_;
  VirtualFiles virtual_files_;
  RecordVerifier verifier_;  // each original stored record's CRC, checked once per mount
  const std::function<void()> on_change_;  // may be empty

  mutable std::shared_mutex ns_mu_;
  mutable std::mutex table_mu_;  // held only inside PathOf/Intern/... (never across calls)
  InodeTable inodes_;            // guarded by table_mu_

  mutable std::mutex files_mu_;
  uint64_t next_fh_ = 1;                                // guarded by files_mu_
  std::unordered_map<uint64_t, Handle> handles_;        // guarded by files_mu_
  std::unordered_map<InodeId, OpenInode> open_inodes_;  // guarded by files_mu_
};

}  // namespace tpkg::fs
