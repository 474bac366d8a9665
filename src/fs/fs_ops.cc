#include "fs_ops.h"


#include <fcntl.h>
#include <limits.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "fuse_op_guard.h"
#include "inode_table.h"  // JoinPath
#include "log.h"
#include "record_xattrs.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

constexpr mode_t kDirMode = S_IFDIR | 0555;
constexpr mode_t kFileMode = S_IFREG | 0444;
constexpr blksize_t kBlockSize = 4096;

// The records' tree plus the generated files; records the tree cannot
// place (a path component over NAME_MAX, which torch writes too, or what
// only -o nostrict admits) are logged and skipped.
Tree BuildTree(const ZipReader& zip, const VirtualFiles& virtual_files) {
  std::vector<std::string> warnings;
  Tree tree = Tree::Build(zip.entries(), &warnings);
  for (const std::string& w : warnings) TPKG_LOG(kWarning) << zip.path() << ": " << w;
  for (size_t slot = 0; slot < virtual_files.size(); ++slot) {
    tree.AddVirtualFile(virtual_files.path(slot), slot);
  }
  return tree;
}

}  // namespace

struct timespec ArchiveMtime(const ZipReader& zip) {
  struct stat st {};
  if (fstat(zip.fd(), &st) != 0) {
    const int err = errno;
    ThrowSystemError("cannot stat the archive", err);
  }
  return st.st_mtim;
}

FsOps::FsOps(std::shared_ptr<const ZipReader> zip, FsOptions options,
             std::shared_ptr<RecordAnalysisCache> cache)
    : zip_(std::move(zip)),
      options_(options),
      virtual_files_(zip_, std::move(cache)),
      tree_(BuildTree(*zip_, virtual_files_)),
      archive_mtime_(ArchiveMtime(*zip_)),
      verifier_(*zip_) {}

std::string FsOps::PathForLog(InodeId ino, std::string_view name) const {
  std::string path = tree_.PathOf(ino);
  if (!name.empty()) path = JoinPath(path, name);
  if (zip_->prefix().empty()) return path;
  return path.empty() ? zip_->prefix() : zip_->prefix() + "/" + path;
}

uint64_t FsOps::FileSize(const Node& node) const {
  if (const auto* rec = std::get_if<RecordRef>(&node.source)) {
    return zip_->entries()[rec->entry_index].size;
  }
  if (const auto* virt = std::get_if<VirtualRef>(&node.source)) {
    return virtual_files_.Content(virt->slot)->size();
  }
  return 0;
}

bool FsOps::AttrIsCheap(const Node& node) const {
  const auto* virt = std::get_if<VirtualRef>(&node.source);
  return !virt || virtual_files_.IsGenerated();
}

void FsOps::FillAttr(InodeId ino, struct stat* out) const {
  const Node& node = tree_.node(ino);
  *out = {};
  out->st_ino = ino;
  out->st_uid = options_.uid;
  out->st_gid = options_.gid;
  out->st_atim = out->st_mtim = out->st_ctim = archive_mtime_;
  out->st_blksize = kBlockSize;
  // The mode and time the archive holds for the record or folder, if any
  // (zip_reader.h: ZipEntry::mode, ::mtime); else the archive file's time
  // and read-only defaults.
  std::optional<uint32_t> mode = node.mode;
  std::optional<int64_t> mtime = node.mtime;
  if (const auto* rec = std::get_if<RecordRef>(&node.source)) {
    const ZipEntry& e = zip_->entries()[rec->entry_index];
    mode = e.mode;
    mtime = e.mtime;
  }
  if (mtime) out->st_atim = out->st_mtim = out->st_ctim = timespec{static_cast<time_t>(*mtime), 0};
  if (node.kind == NodeKind::kDirectory) {
    out->st_mode = mode ? S_IFDIR | *mode : kDirMode;
    out->st_nlink = 2 + node.subdirectories;
    return;
  }
  out->st_mode = mode ? S_IFREG | *mode : kFileMode;
  out->st_nlink = 1;
  out->st_size = static_cast<off_t>(FileSize(node));
  out->st_blocks = (out->st_size + 511) / 512;
}

int FsOps::Lookup(InodeId parent, std::string_view name, struct stat* out) noexcept {
  return GuardFuseOp(
      "look up", [&] { return PathForLog(parent, name); },
      [&]() -> int {
        if (!tree_.Contains(parent)) return -ENOENT;
        if (tree_.node(parent).kind != NodeKind::kDirectory) return -ENOTDIR;
        if (name.size() > NAME_MAX) return -ENAMETOOLONG;
        const auto child = tree_.Lookup(parent, name);
        if (!child) return -ENOENT;
        FillAttr(*child, out);
        return 0;
      });
}

int FsOps::GetAttr(InodeId ino, struct stat* out) noexcept {
  return GuardFuseOp(
      "stat", [&] { return PathForLog(ino); },
      [&]() -> int {
        if (!tree_.Contains(ino)) return -ENOENT;
        FillAttr(ino, out);
        return 0;
      });
}

int FsOps::Open(InodeId ino, int flags) noexcept {
  if (!tree_.Contains(ino)) return -ENOENT;
  const Node& node = tree_.node(ino);
  if (node.kind == NodeKind::kDirectory) return -EISDIR;
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return -EROFS;
  const auto* record = std::get_if<RecordRef>(&node.source);
  if (!record) return 0;
  // The record's local header and region, unless already checked (a
  // deferred reader checks each record at its first open or read).
  return GuardFuseOp(
      "open", [&] { return PathForLog(ino); },
      [&]() -> int {
        zip_->DataOffset(zip_->entries()[record->entry_index]);
        return 0;
      });
}

int FsOps::OpenDir(InodeId ino) noexcept {
  if (!tree_.Contains(ino)) return -ENOENT;
  return tree_.node(ino).kind == NodeKind::kDirectory ? 0 : -ENOTDIR;
}

int FsOps::ReadDir(InodeId ino, int64_t offset, bool plus, const DirFiller& fill) noexcept {
  return GuardFuseOp(
      "list", [&] { return PathForLog(ino); },
      [&]() -> int {
        if (!tree_.Contains(ino)) return -ENOENT;
        const Node& dir = tree_.node(ino);
        if (dir.kind != NodeKind::kDirectory) return -ENOTDIR;
        auto emit = [&](std::string_view name, InodeId target, int64_t next) {
          DirEntry e{name, {}, plus && AttrIsCheap(tree_.node(target)), next};
          if (e.attr_complete) {
            FillAttr(target, &e.attr);
          } else {
            e.attr.st_ino = target;
            e.attr.st_mode = tree_.node(target).kind == NodeKind::kDirectory ? S_IFDIR : S_IFREG;
          }
          return fill(e);
        };
        // Cookies: 0 -> ".", 1 -> "..", 2 + i -> children[i].
        for (int64_t pos = std::max<int64_t>(offset, 0);; ++pos) {
          bool taken;
          if (pos == 0) {
            taken = emit(".", ino, 1);
          } else if (pos == 1) {
            taken = emit("..", ino == kRootInode ? ino : dir.parent, 2);
          } else if (static_cast<size_t>(pos - 2) < dir.children.size()) {
            const auto& [name, child] = dir.children[static_cast<size_t>(pos - 2)];
            taken = emit(name, child, pos + 1);
          } else {
            return 0;
          }
          if (!taken) return 0;
        }
      });
}

std::shared_ptr<RecordReader> FsOps::ReaderFor(InodeId ino, const ZipEntry& entry) {
  std::lock_guard lock(readers_mu_);
  if (auto it = readers_.find(ino); it != readers_.end()) return it->second;
  auto reader = std::shared_ptr<RecordReader>(OpenRecordReader(*zip_, entry, verifier_));
  readers_.emplace(ino, reader);
  if (entry.method == kMethodDeflate) {
    inflating_.push_back(ino);
    if (inflating_.size() > kMaxLiveInflaters) {
      // In-flight reads keep their shared_ptr; the memory goes when they end.
      readers_.erase(inflating_.front());
      inflating_.pop_front();
    }
  }
  return reader;
}

size_t FsOps::ReadNode(InodeId ino, uint64_t offset, std::span<char> out) {
  const Node& node = tree_.node(ino);
  if (const auto* virt = std::get_if<VirtualRef>(&node.source)) {
    const auto content = virtual_files_.Content(virt->slot);
    if (offset >= content->size()) return 0;
    const size_t n = std::min<size_t>(out.size(), content->size() - offset);
    std::memcpy(out.data(), content->data() + offset, n);
    return n;
  }
  const ZipEntry& entry = zip_->entries()[std::get<RecordRef>(node.source).entry_index];
  // The record's deferred checks (its local header: I/O once, then an atomic
  // load) before readers_mu_, which is never held across I/O.
  zip_->DataOffset(entry);
  return ReaderFor(ino, entry)->Read(offset, out);
}

ssize_t FsOps::Read(InodeId ino, uint64_t offset, std::span<char> out) noexcept {
  return GuardFuseOp(
      "read", [&] { return PathForLog(ino); },
      [&]() -> ssize_t {
        if (!tree_.Contains(ino)) return -ENOENT;
        if (tree_.node(ino).kind == NodeKind::kDirectory) return -EISDIR;
        return static_cast<ssize_t>(ReadNode(ino, offset, out));
      });
}

int FsOps::StatFs(struct statvfs* out) noexcept {
  *out = {};
  out->f_bsize = out->f_frsize = kBlockSize;
  out->f_blocks = (zip_->file_size() + kBlockSize - 1) / kBlockSize;
  out->f_files = tree_.size();
  out->f_namemax = NAME_MAX;
  out->f_flag = ST_RDONLY;
  return 0;
}

int FsOps::ListXattr(InodeId ino, std::string* out) noexcept {
  return GuardFuseOp(
      "list the attributes of", [&] { return PathForLog(ino); },
      [&]() -> int {
        if (!tree_.Contains(ino)) return -ENOENT;
        ListRecordXattrs(virtual_files_, tree_.PathOf(ino), out);
        return 0;
      });
}

int FsOps::GetXattr(InodeId ino, std::string_view name, std::string* out) noexcept {
  return GuardFuseOp(
      "read an attribute of", [&] { return PathForLog(ino); },
      [&]() -> int {
        if (!tree_.Contains(ino)) return -ENOENT;
        return GetRecordXattr(virtual_files_, tree_.PathOf(ino), name, out);
      });
}

}  // namespace tpkg::fs
