#include "journal_fs_ops.h"

#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "journal_fs_ops_internal.h"
#include "tpkg/journal_records.h"
#include "record_xattrs.h"

namespace tpkg::fs {
namespace {

constexpr blksize_t kBlockSize = 4096;
constexpr mode_t kGeneratedMode = S_IFREG | 0444;

}  // namespace

JournalFsOps::JournalFsOps(std::shared_ptr<const ZipReader> zip, Journal& journal,
                           FsOptions options, std::shared_ptr<RecordAnalysisCache> cache,
                           std::function<void()> on_change)
    : zip_(std::move(zip)),
      journal_(journal),
      options_(options),
      archive_mtime_(ArchiveMtime(*zip_)),
      virtual_files_(zip_, std::make_shared<JournalRecords>(journal),
                     [&journal, cache = std::move(cache)] {
                       return SaveCheckOptions(journal, cache);
                     },
                     [&journal] { return !journal.dirty(); }),
      verifier_(*zip_),
      on_change_(std::move(on_change)) {}

std::string JournalFsOps::NameOfInode(InodeId ino) const {
  if (std::optional<std::string> path = PathOf(ino)) return *path;
  return "(removed file, inode " + std::to_string(ino) + ")";
}

std::string JournalFsOps::PathForLog(InodeId ino, std::string_view name) const {
  const std::string path = NameOfInode(ino);
  return Describe(name.empty() ? path : JoinPath(path, name));
}

std::vector<std::string> JournalFsOps::FilesOpenForWriting() const {
  std::vector<InodeId> writing;
  {
    std::lock_guard lock(files_mu_);
    for (const auto& [ino, open] : open_inodes_) {
      if (open.write_count > 0) writing.push_back(ino);
    }
  }
  std::vector<std::string> paths;
  for (InodeId ino : writing) paths.push_back(NameOfInode(ino));
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string JournalFsOps::HandlePathForLog(uint64_t fh) {
  std::optional<InodeId> ino;
  {
    std::lock_guard lock(files_mu_);
    if (auto it = handles_.find(fh); it != handles_.end()) ino = it->second.ino;
  }
  return ino ? PathForLog(*ino) : "(handle " + std::to_string(fh) + ")";
}

std::string JournalFsOps::Describe(const std::string& path) const {
  if (zip_->prefix().empty()) return path;
  return path.empty() ? zip_->prefix() : zip_->prefix() + "/" + path;
}

std::optional<std::string> JournalFsOps::PathOf(InodeId ino) const {
  std::lock_guard lock(table_mu_);
  return inodes_.PathOf(ino);
}

InodeId JournalFsOps::Intern(const std::string& path) {
  std::lock_guard lock(table_mu_);
  return inodes_.Intern(path);
}

void JournalFsOps::Forget(const std::string& path) {
  std::lock_guard lock(table_mu_);
  inodes_.Forget(path);
}

std::string JournalFsOps::ChildPath(InodeId parent, std::string_view name) const {
  if (name.size() > NAME_MAX) ThrowErrno(ENAMETOOLONG, std::string(name.substr(0, 32)) + "...");
  const std::optional<std::string> dir = PathOf(parent);
  if (!dir) ThrowErrno(ENOENT, "inode " + std::to_string(parent));
  return JoinPath(*dir, name);
}

bool JournalFsOps::IsVirtual(InodeId ino) noexcept {
  try {
    const std::optional<std::string> path = PathOf(ino);
    return path && virtual_files_.SlotOf(*path);
  } catch (...) {
    return false;
  }
}

void JournalFsOps::RefuseGenerated(const std::string& path, const char* verb) const {
  TPKG_LOG(kWarning) << "Cannot " << verb << " '" << Describe(path)
                     << "': it is generated from the package's contents and follows every edit";
  ThrowErrno(EACCES, path);
}

void JournalFsOps::Changed() {
  virtual_files_.Invalidate();
  if (on_change_) on_change_();
}

std::optional<JournalOwner> JournalFsOps::OwnerOf(std::optional<Caller> caller) const {
  if (!caller || (caller->uid == options_.uid && caller->gid == options_.gid)) return std::nullopt;
  return JournalOwner{caller->uid, caller->gid};
}

void JournalFsOps::FillNodeAttr(InodeId ino, const JournalNode& node, struct stat* out) const {
  *out = {};
  out->st_ino = ino;
  out->st_uid = options_.uid;
  out->st_gid = options_.gid;
  out->st_blksize = kBlockSize;
  out->st_uid = node.uid.value_or(options_.uid);
  out->st_gid = node.gid.value_or(options_.gid);
  const struct timespec mtime = node.mtime.value_or(archive_mtime_);
  out->st_mtim = mtime;
  out->st_atim = node.atime.value_or(mtime);
  out->st_ctim = node.ctime.value_or(mtime);
  if (node.is_dir) {
    out->st_mode = S_IFDIR | node.mode.value_or(kDefaultFolderMode);
    out->st_nlink = 2 + node.subdirs;  // ".", its name, and each subfolder's ".."
    return;
  }
  out->st_mode = S_IFREG | node.mode.value_or(kDefaultFileMode);
  out->st_nlink = 1;
  out->st_size = static_cast<off_t>(node.size);
  out->st_blocks = (out->st_size + 511) / 512;
}

void JournalFsOps::FillAttr(InodeId ino, const std::string& path, struct stat* out) const {
  if (const std::optional<size_t> slot = virtual_files_.SlotOf(path)) {
    JournalNode node;
    node.size = virtual_files_.Content(*slot)->size();
    FillNodeAttr(ino, node, out);
    out->st_mode = kGeneratedMode;
    return;
  }
  const std::optional<JournalNode> node = journal_.Stat(path);
  if (!node) ThrowErrno(ENOENT, path);
  FillNodeAttr(ino, *node, out);
}

int JournalFsOps::GetAttr(InodeId ino, struct stat* out) noexcept {
  return GuardFuseOp(
      "stat", [&] { return PathForLog(ino); },
      [&]() -> int {
        std::shared_lock ns(ns_mu_);
        if (const std::optional<std::string> path = PathOf(ino)) {
          FillAttr(ino, *path, out);
          return 0;
        }
        OrphanAttr(ino, out);
        return 0;
      });
}

// An open file whose name is gone (unlinked or replaced): nlink 0, and the
// size of what its handles still read.
void JournalFsOps::OrphanAttr(InodeId ino, struct stat* out) {
  const Content c = OrphanContent(ino);
  JournalNode node;
  if (c.fd || c.patch) {
    struct stat st {};
    if (fstat(c.fd ? c.fd->get() : c.patch->fd(), &st) != 0) {
      const int err = errno;
      ThrowSystemError("cannot stat the journal data file", err);
    }
    node.size = static_cast<uint64_t>(st.st_size);
    node.mtime = st.st_mtim;
  } else {
    std::lock_guard lock(files_mu_);
    node.size = open_inodes_.at(ino).original->size;
  }
  FillNodeAttr(ino, node, out);
  out->st_nlink = 0;
}

int JournalFsOps::SetAttr(InodeId ino, const struct stat& attr, unsigned fields,
                          std::optional<uint64_t> fh, struct stat* out) noexcept {
  return GuardFuseOp(
      "change attributes of", [&] { return PathForLog(ino); },
      [&]() -> int {
        std::shared_lock ns(ns_mu_);
        const std::optional<std::string> path = PathOf(ino);
        bool new_owner = false;
        if (fields & kSetOwner) {
          struct stat current;
          if (path) {
            FillAttr(ino, *path, &current);
          } else {
            OrphanAttr(ino, &current);
          }
          new_owner = attr.st_uid != current.st_uid || attr.st_gid != current.st_gid;
          // A file whose name is gone, or a generated one, keeps its owner.
          if (new_owner && (!path || virtual_files_.SlotOf(*path))) return -EPERM;
        }
        if (!path) {
          // Only ftruncate makes sense on a file whose name is gone.
          if (!(fields & kSetSize) || !fh) return -ENOENT;
          const Content c = ContentOf(ino, true);
          if (c.patch) {
            c.patch->Resize(static_cast<uint64_t>(attr.st_size));
          } else if (::ftruncate(c.fd->get(), attr.st_size) != 0) {
            const int err = errno;
            ThrowSystemError("cannot truncate", err);
          }
          OrphanAttr(ino, out);
          return 0;
        }
        if (virtual_files_.SlotOf(*path) &&
            (fields & (kSetMode | kSetSize | kSetMtime | kSetMtimeNow)))
          RefuseGenerated(*path, "change");
        if (fields & kSetSize) {
          journal_.Truncate(*path, static_cast<uint64_t>(attr.st_size));
          Changed();
        }
        // The kernel checked the caller's right to it (default_permissions).
        if (new_owner) journal_.SetOwner(*path, OwnerOf(Caller{attr.st_uid, attr.st_gid}));
        if (fields & kSetMode) journal_.SetMode(*path, attr.st_mode & 07777);
        struct timespec now {};
        clock_gettime(CLOCK_REALTIME, &now);
        if (fields & (kSetMtime | kSetMtimeNow))
          journal_.SetMtime(*path, (fields & kSetMtimeNow) ? now : attr.st_mtim);
        // A generated file has no times of its own to keep.
        if ((fields & (kSetAtime | kSetAtimeNow)) && !virtual_files_.SlotOf(*path))
          journal_.SetAtime(*path, (fields & kSetAtimeNow) ? now : attr.st_atim);
        FillAttr(ino, *path, out);
        return 0;
      });
}

int JournalFsOps::StatFs(struct statvfs* out) noexcept {
  return GuardFuseOp("stat the file system of", journal_.directory(), [&]() -> int {
    // Edits land in the journal, on the archive's file system: its free
    // space is what the mount can take. The journal is made by the first
    // change, so before it the folder it will be made in answers (`df` and
    // find's fstatfs per folder on a fresh mount).
    const std::string& journal = journal_.directory();
    int rc = ::statvfs(journal.c_str(), out);
    if (rc != 0 && errno == ENOENT) {
      rc = ::statvfs(journal.substr(0, journal.rfind('/') + 1).c_str(), out);
    }
    if (rc != 0) {
      const int err = errno;
      ThrowSystemError("cannot stat the journal's file system", err);
    }
    out->f_namemax = NAME_MAX;
    out->f_flag &= ~static_cast<unsigned long>(ST_RDONLY);
    return 0;
  });
}

// Attributes describe the records as they are now (edits included).
int JournalFsOps::ListXattr(InodeId ino, std::string* out) noexcept {
  return GuardFuseOp(
      "list the attributes of", [&] { return PathForLog(ino); },
      [&]() -> int {
        std::optional<std::string> path;
        {
          std::shared_lock ns(ns_mu_);
          path = PathOf(ino);
        }
        if (!path) {
          out->clear();
          return 0;
        }
        ListRecordXattrs(virtual_files_, *path, out);
        return 0;
      });
}

int JournalFsOps::GetXattr(InodeId ino, std::string_view name, std::string* out) noexcept {
  return GuardFuseOp(
      "read an attribute of", [&] { return PathForLog(ino); },
      [&]() -> int {
        if (!name.starts_with(kAttributePrefix)) return -ENODATA;  // before any lock
        std::optional<std::string> path;
        {
          std::shared_lock ns(ns_mu_);
          path = PathOf(ino);
        }
        if (!path) return -ENODATA;
        return GetRecordXattr(virtual_files_, *path, name, out);
      });
}

}  // namespace tpkg::fs
