// JournalFsOps: open files (handles, what their bytes come from) and
// their data I/O.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <shared_mutex>

#include "journal_fs_ops_internal.h"
#include "tpkg/file_io.h"

namespace tpkg::fs {

// --- Content ---------------------------------------------------------------

JournalFsOps::Content JournalFsOps::CachedEdited(InodeId ino, const std::string& path,
                                                 uint64_t data_id) {
  {
    std::lock_guard lock(files_mu_);
    auto it = open_inodes_.find(ino);
    if (it != open_inodes_.end() && it->second.fd && it->second.data_id == data_id)
      return Content{it->second.fd, nullptr, nullptr, nullptr};
  }
  // Copy-on-write on the first write of an original record; afterwards it
  // only opens the data file.
  auto fd = std::make_shared<const ScopedFd>(journal_.OpenForWrite(path, /*truncate=*/false));
  const std::optional<JournalNode> node = journal_.Stat(path);
  std::lock_guard lock(files_mu_);
  if (auto it = open_inodes_.find(ino); it != open_inodes_.end() && node) {
    it->second.fd = fd;
    it->second.patch.reset();
    it->second.data_id = node->data_id;
    it->second.original = nullptr;
    it->second.reader.reset();
  }
  return Content{fd, nullptr, nullptr, nullptr};
}

JournalFsOps::Content JournalFsOps::CachedPatch(InodeId ino, const std::string& path,
                                                uint64_t data_id) {
  {
    std::lock_guard lock(files_mu_);
    auto it = open_inodes_.find(ino);
    if (it != open_inodes_.end() && it->second.patch && it->second.data_id == data_id)
      return Content{nullptr, nullptr, nullptr, it->second.patch};
  }
  // Makes the patch on the first write of an original stored record (no copy).
  std::shared_ptr<RecordPatch> patch = journal_.OpenPatch(path);
  if (!patch) return CachedEdited(ino, path, data_id);  // became a whole journal file
  std::lock_guard lock(files_mu_);
  if (auto it = open_inodes_.find(ino); it != open_inodes_.end()) {
    it->second.patch = patch;
    it->second.fd.reset();
    it->second.data_id = patch->data_id();
    it->second.original = nullptr;
    it->second.reader.reset();
  }
  return Content{nullptr, nullptr, nullptr, patch};
}

JournalFsOps::Content JournalFsOps::EditableContent(InodeId ino, const std::string& path,
                                                    const JournalNode& node, bool for_write) {
  if (node.patch_base) {
    Content c = CachedPatch(ino, path, node.data_id);
    // Rewritten on a large scale (a dd over the record): one whole copy now
    // costs less than a sync per chunk from here on (tpkg/record_patch.h).
    if (for_write && c.patch && c.patch->mapped_bytes() >= RecordPatch::kWholeCopyBytes)
      return CachedEdited(ino, path, 0);
    return c;
  }
  if (node.original && node.original->method == kMethodStored) return CachedPatch(ino, path, 0);
  return CachedEdited(ino, path, node.edited() ? node.data_id : 0);
}

JournalFsOps::Content JournalFsOps::OriginalContent(InodeId ino, const ZipEntry* original) {
  // The record's deferred checks (I/O once) before files_mu_, never held across I/O.
  zip_->DataOffset(*original);
  std::lock_guard lock(files_mu_);
  OpenInode& oi = open_inodes_[ino];  // erased by Release() when it was not open
  if (oi.original != original || !oi.reader) {
    oi.original = original;
    oi.reader = std::shared_ptr<RecordReader>(OpenRecordReader(*zip_, *original, verifier_));
  }
  Content c{nullptr, oi.reader, nullptr, nullptr};
  if (oi.open_count == 0) open_inodes_.erase(ino);
  return c;
}

JournalFsOps::Content JournalFsOps::OrphanContent(InodeId ino) {
  std::lock_guard lock(files_mu_);
  auto it = open_inodes_.find(ino);
  if (it == open_inodes_.end() || (!it->second.fd && !it->second.reader && !it->second.patch))
    ThrowErrno(ENOENT, "inode " + std::to_string(ino));
  return Content{it->second.fd, it->second.reader, nullptr, it->second.patch};
}

// Caller holds ns_mu_ (shared or exclusive).
JournalFsOps::Content JournalFsOps::ContentOf(InodeId ino, bool for_write) {
  const std::optional<std::string> path = PathOf(ino);
  if (!path) return OrphanContent(ino);
  if (const std::optional<size_t> slot = virtual_files_.SlotOf(*path)) {
    if (for_write) RefuseGenerated(*path, "write");
    return Content{nullptr, nullptr, virtual_files_.Content(*slot), nullptr};
  }
  const std::optional<JournalNode> node = journal_.Stat(*path);
  if (!node) ThrowErrno(ENOENT, *path);
  if (node->is_dir) ThrowErrno(EISDIR, *path);
  if (node->edited() || for_write) return EditableContent(ino, *path, *node, for_write);
  return OriginalContent(ino, node->original);
}

// An open file about to lose its name keeps what it reads and writes.
void JournalFsOps::CaptureBeforeLosingName(const std::string& path) {
  std::optional<InodeId> ino;
  {
    std::lock_guard lock(table_mu_);
    ino = inodes_.Find(path);
  }
  if (!ino) return;
  bool writers;
  {
    std::lock_guard lock(files_mu_);
    auto it = open_inodes_.find(*ino);
    if (it == open_inodes_.end()) return;
    writers = it->second.write_count > 0;
  }
  const std::optional<JournalNode> node = journal_.Stat(path);
  if (!node || node->is_dir) return;
  if (node->edited() || writers) {
    EditableContent(*ino, path, *node, /*for_write=*/false);
  } else {
    OriginalContent(*ino, node->original);
  }
}

JournalFsOps::Handle JournalFsOps::HandleOf(uint64_t fh) {
  std::lock_guard lock(files_mu_);
  auto it = handles_.find(fh);
  if (it == handles_.end()) ThrowErrno(EBADF, "handle " + std::to_string(fh));
  return it->second;
}

uint64_t JournalFsOps::AddHandle(InodeId ino, int flags) {
  const bool write = (flags & O_ACCMODE) != O_RDONLY;
  std::lock_guard lock(files_mu_);
  const uint64_t fh = next_fh_++;
  handles_.emplace(fh, Handle{ino, write, (flags & O_APPEND) != 0});
  OpenInode& oi = open_inodes_[ino];
  ++oi.open_count;
  if (write) ++oi.write_count;
  return fh;
}

// --- File operations --------------------------------------------------------

int JournalFsOps::Open(InodeId ino, int flags, uint64_t* fh) noexcept {
  return GuardFuseOp(
      "open", [&] { return PathForLog(ino); },
      [&]() -> int {
        std::shared_lock ns(ns_mu_);
        const std::optional<std::string> path = PathOf(ino);
        if (!path) return -ENOENT;
        const bool write = (flags & O_ACCMODE) != O_RDONLY;
        if (virtual_files_.SlotOf(*path)) {
          if (write || (flags & O_TRUNC)) RefuseGenerated(*path, "open for writing");
        } else {
          const std::optional<JournalNode> node = journal_.Stat(*path);
          if (!node) return -ENOENT;
          if (node->is_dir) return write ? -EISDIR : 0;
          if (write && (flags & O_TRUNC)) {
            journal_.Truncate(*path, 0);
            Changed();
          } else if (node->original) {
            // Its local header and region, at its first open (the archive
            // was opened with deferred record checks): a corrupt record
            // fails here, with EIO and a logged reason.
            zip_->DataOffset(*node->original);
          }
        }
        *fh = AddHandle(ino, flags);
        return 0;
      });
}

int JournalFsOps::Create(InodeId parent, std::string_view name, mode_t mode, int flags,
                         struct stat* out, uint64_t* fh, std::optional<Caller> caller) noexcept {
  return GuardFuseOp(
      "create", [&] { return PathForLog(parent, name); },
      [&]() -> int {
        std::unique_lock ns(ns_mu_);
        const std::string path = ChildPath(parent, name);
        if (virtual_files_.SlotOf(path)) return -EEXIST;
        ScopedFd fd = journal_.Create(path, mode & 07777, OwnerOf(caller));
        const InodeId ino = Intern(path);
        *fh = AddHandle(ino, flags);
        const std::optional<JournalNode> node = journal_.Stat(path);
        {
          std::lock_guard lock(files_mu_);
          OpenInode& oi = open_inodes_[ino];
          oi.fd = std::make_shared<const ScopedFd>(std::move(fd));
          oi.data_id = node ? node->data_id : 0;
        }
        FillAttr(ino, path, out);
        Changed();
        return 0;
      });
}

ssize_t JournalFsOps::Read(uint64_t fh, uint64_t offset, std::span<char> out) noexcept {
  return GuardFuseOp(
      "read", [&] { return HandlePathForLog(fh); },
      [&]() -> ssize_t {
        const Handle h = HandleOf(fh);
        Content c;
        {
          std::shared_lock ns(ns_mu_);
          c = ContentOf(h.ino, false);
        }
        if (c.generated) {
          if (offset >= c.generated->size()) return 0;
          const size_t n = std::min<size_t>(out.size(), c.generated->size() - offset);
          std::memcpy(out.data(), c.generated->data() + offset, n);
          return static_cast<ssize_t>(n);
        }
        if (c.reader) return static_cast<ssize_t>(c.reader->Read(offset, out));
        if (c.patch) {
          // The archive's bytes in it are served only once its record proved
          // good, as for the original (file_reader.h).
          verifier_.Check(c.patch->base());
          return static_cast<ssize_t>(c.patch->Read(offset, out));
        }
        // The kernel expects a full buffer except at the end of the file.
        return static_cast<ssize_t>(PreadFull(c.fd->get(), out, offset, "the journal data file"));
      });
}

namespace {

// A write into a whole journal file: at its end for an O_APPEND writer; all
// of it (`whole`) or as much as the disk takes (write(2)'s short count).
size_t WriteJournalFile(int fd, bool append, uint64_t offset, std::span<const char> data,
                        bool whole) {
  if (append) {
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      const int err = errno;
      ThrowSystemError("cannot stat the journal data file", err);
    }
    offset = static_cast<uint64_t>(st.st_size);
  }
  constexpr std::string_view kWhat = "the journal data file";
  if (!whole) return PwriteSome(fd, data, offset, kWhat);
  PwriteAll(fd, data, offset, kWhat);
  return data.size();
}

}  // namespace

ssize_t JournalFsOps::Write(uint64_t fh, uint64_t offset, std::span<const char> data,
                            bool page_cache_write) noexcept {
  return GuardFuseOp(
      "write", [&] { return HandlePathForLog(fh); },
      [&]() -> ssize_t {
        const Handle h = HandleOf(fh);
        if (!h.write) return -EBADF;
        std::shared_lock ns(ns_mu_);
        const Content c = ContentOf(h.ino, true);
        const bool append = h.append && !page_cache_write;
        // As write(2) on a native file: a disk that fills after some bytes
        // is a short write (the writer's retry of the rest then gets ENOSPC),
        // never an error for bytes that were written (an O_APPEND retry would
        // write them twice). A mapping's pages are written whole: the kernel
        // ignores a short count for them, so the rest is tried again, and a
        // failure to write it is the error the writeback reports.
        size_t written = 0;
        try {
          if (c.patch) {
            const uint64_t at = append ? c.patch->size() : offset;
            do {
              written += c.patch->Write(at + written, data.subspan(written));
            } while (page_cache_write && written < data.size());
          } else {
            written = WriteJournalFile(c.fd->get(), append, offset, data, page_cache_write);
          }
        } catch (...) {
          // A mapping's pages may be in part written before the failure:
          // the generated files must not show the package as it was.
          Changed();
          throw;
        }
        Changed();
        return static_cast<ssize_t>(written);
      });
}

int JournalFsOps::Fsync(uint64_t fh) noexcept {
  return GuardFuseOp(
      "sync", [&] { return HandlePathForLog(fh); },
      [&]() -> int {
        const Handle h = HandleOf(fh);
        Content c;
        {
          std::shared_lock ns(ns_mu_);
          c = ContentOf(h.ino, false);
        }
        // Originals and generated files are already as durable as the archive.
        const int data_fd = c.fd ? c.fd->get() : c.patch ? c.patch->fd() : -1;
        if (data_fd >= 0 && ::fdatasync(data_fd) != 0) {
          const int err = errno;
          ThrowSystemError("cannot sync the journal data file", err);
        }
        // The file's name and every earlier change (tpkg/journal.h).
        journal_.Commit();
        return 0;
      });
}

int JournalFsOps::FsyncDir() noexcept {
  return GuardFuseOp(
      "sync", [] { return std::string("a folder"); },
      [&]() -> int {
        journal_.Commit();
        return 0;
      });
}

int JournalFsOps::Release(uint64_t fh) noexcept {
  return GuardFuseOp(
      "close", [&] { return HandlePathForLog(fh); },
      [&]() -> int {
        std::lock_guard lock(files_mu_);
        auto it = handles_.find(fh);
        if (it == handles_.end()) return -EBADF;
        auto oi = open_inodes_.find(it->second.ino);
        if (oi != open_inodes_.end()) {
          if (it->second.write) --oi->second.write_count;
          if (--oi->second.open_count <= 0) open_inodes_.erase(oi);
        }
        handles_.erase(it);
        return 0;
      });
}

}  // namespace tpkg::fs
