#include "journal_fs_ops.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <type_traits>

#include "journal_records.h"
#include "log.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

constexpr blksize_t kBlockSize = 4096;
constexpr uint32_t kDefaultFileMode = 0644;
constexpr uint32_t kDefaultDirMode = 0755;
constexpr mode_t kGeneratedMode = S_IFREG | 0444;

struct timespec MtimeOf(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) ThrowSystemError("cannot stat the archive", errno);
  return st.st_mtim;
}

MetadataOptions EditedPackageOptions(const ZipReader& zip) {
  MetadataOptions options;
  options.baseline_records = OriginalRecordNames(zip);
  return options;
}

// Errors that are ordinary answers to what a program asked (a name exists,
// is missing, a directory is not empty): the program reports them itself.
bool IsOrdinaryAnswer(int err) {
  switch (err) {
    case ENOENT: case EEXIST: case ENOTEMPTY: case ENOTDIR: case EISDIR:
    case ENAMETOOLONG: case EINVAL: case EACCES: case EPERM: case EBADF:
      return true;
    default:
      return false;
  }
}

[[noreturn]] void ThrowErrno(int err, const std::string& what) {
  throw Error(ErrcFromErrno(err), what + ": " + std::strerror(err), err);
}

void WriteAll(int fd, std::span<const char> data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                               static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ThrowSystemError("cannot write the journal data file", errno);
    done += static_cast<size_t>(n);
  }
}

}  // namespace

// What one read or write goes to: exactly one of the three is set. The
// shared pointers keep descriptor and reader alive for the length of the I/O.
struct JournalFsOps::Content {
  std::shared_ptr<const ScopedFd> fd;
  std::shared_ptr<RecordReader> reader;
  std::shared_ptr<const std::string> generated;
};

JournalFsOps::JournalFsOps(std::shared_ptr<const ZipReader> zip, Journal& journal,
                           FsOptions options)
    : zip_(std::move(zip)),
      journal_(journal),
      options_(options),
      archive_mtime_(MtimeOf(zip_->fd())),
      virtual_files_(zip_, std::make_shared<JournalRecords>(journal),
                     EditedPackageOptions(*zip_)) {}

// `what` is the path named in log lines, or a callable computing it (only
// when something is logged).
template <class What, class Fn>
auto JournalFsOps::Guard(const char* verb, const What& what, Fn&& fn) noexcept -> decltype(fn()) {
  auto name = [&]() -> std::string {
    try {
      if constexpr (std::is_invocable_v<const What&>) {
        return Describe(what());
      } else {
        return Describe(std::string(what));
      }
    } catch (...) {
      return "?";
    }
  };
  try {
    return fn();
  } catch (const Error& e) {
    const int err = ToErrno(e);
    if (IsOrdinaryAnswer(err)) {
      TPKG_LOG(kDebug) << verb << " '" << name() << "': " << e.what();
    } else {
      TPKG_LOG(kError) << "Cannot " << verb << " '" << name() << "': " << e.what();
    }
    return -err;
  } catch (const std::bad_alloc&) {
    TPKG_LOG(kError) << "Cannot " << verb << " '" << name() << "': out of memory";
    return -ENOMEM;
  } catch (const std::exception& e) {
    TPKG_LOG(kError) << "Cannot " << verb << " '" << name() << "': " << e.what();
    return -EIO;
  }
}

std::string JournalFsOps::NameOfInode(InodeId ino) const {
  if (std::optional<std::string> path = PathOf(ino)) return *path;
  return "(removed file, inode " + std::to_string(ino) + ")";
}

std::string JournalFsOps::NameOfHandle(uint64_t fh) {
  std::optional<InodeId> ino;
  {
    std::lock_guard lock(files_mu_);
    if (auto it = handles_.find(fh); it != handles_.end()) ino = it->second.ino;
  }
  return ino ? NameOfInode(*ino) : "(handle " + std::to_string(fh) + ")";
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

void JournalFsOps::Changed() { virtual_files_.Invalidate(); }

void JournalFsOps::FillNodeAttr(InodeId ino, const JournalNode& node, struct stat* out) const {
  *out = {};
  out->st_ino = ino;
  out->st_uid = options_.uid;
  out->st_gid = options_.gid;
  out->st_blksize = kBlockSize;
  const struct timespec mtime = node.mtime.value_or(archive_mtime_);
  out->st_atim = out->st_mtim = out->st_ctim = mtime;
  if (node.is_dir) {
    out->st_mode = S_IFDIR | node.mode.value_or(kDefaultDirMode);
    // 1: "subdirectories not counted" (as btrfs does), so find(1) never
    // skips a directory on the strength of a stale count.
    out->st_nlink = 1;
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

namespace {

// "a/b/c" -> "a/b"; "c" -> "" (the root).
std::string ParentPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// A generated file exists while its folder does (a package always has .data).
bool GeneratedFileVisible(const Journal& journal, const VirtualFiles& vf, const std::string& path) {
  if (!vf.SlotOf(path)) return false;
  const std::optional<JournalNode> dir = journal.Stat(ParentPath(path));
  return dir && dir->is_dir;
}

}  // namespace

int JournalFsOps::Lookup(InodeId parent, std::string_view name, struct stat* out) noexcept {
  return Guard("look up", [&] { return JoinPath(NameOfInode(parent), name); }, [&]() -> int {
    std::shared_lock ns(ns_mu_);
    const std::string path = ChildPath(parent, name);
    const bool generated = GeneratedFileVisible(journal_, virtual_files_, path);
    if (!generated) {
      if (ValidateRecordPath(path) != 0) return -ENOENT;
      if (!journal_.Stat(path)) return -ENOENT;
    }
    FillAttr(Intern(path), path, out);
    return 0;
  });
}

int JournalFsOps::GetAttr(InodeId ino, struct stat* out) noexcept {
  return Guard("stat", [&] { return NameOfInode(ino); }, [&]() -> int {
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
  if (c.fd) {
    struct stat st {};
    if (fstat(c.fd->get(), &st) != 0) ThrowSystemError("cannot stat the journal data file", errno);
    node.size = static_cast<uint64_t>(st.st_size);
    node.mtime = st.st_mtim;
  } else {
    std::lock_guard lock(files_mu_);
    node.size = open_inodes_.at(ino).original->size;
  }
  FillNodeAttr(ino, node, out);
  out->st_nlink = 0;
}

int JournalFsOps::OpenDir(InodeId ino) noexcept {
  return Guard("open", [&] { return NameOfInode(ino); }, [&]() -> int {
    std::shared_lock ns(ns_mu_);
    const std::optional<std::string> path = PathOf(ino);
    if (!path) return -ENOENT;
    const std::optional<JournalNode> node = journal_.Stat(*path);
    if (!node) return -ENOENT;
    return node->is_dir ? 0 : -ENOTDIR;
  });
}

int JournalFsOps::ReadDir(InodeId ino, int64_t offset, bool plus, const DirFiller& fill) noexcept {
  return Guard("list", [&] { return NameOfInode(ino); }, [&]() -> int {
    std::shared_lock ns(ns_mu_);
    const std::optional<std::string> dir = PathOf(ino);
    if (!dir) return -ENOENT;
    std::vector<JournalChild> children = journal_.List(*dir);
    for (size_t slot = 0; slot < virtual_files_.size(); ++slot) {
      const std::string& vpath = virtual_files_.path(slot);
      if (ParentPath(vpath) != *dir) continue;
      JournalChild child{vpath.substr(vpath.rfind('/') + 1), false};
      auto at = std::lower_bound(children.begin(), children.end(), child.name,
                                 [](const JournalChild& c, const std::string& n) { return c.name < n; });
      if (at == children.end() || at->name != child.name) children.insert(at, child);
    }
    const std::string parent_path = ParentPath(*dir);
    const InodeId parent = dir->empty() ? ino : Intern(parent_path);
    auto emit = [&](std::string_view name, const std::string& path, InodeId target, bool is_dir,
                    int64_t next) {
      const bool virt = virtual_files_.SlotOf(path).has_value();
      DirEntry e{name, {}, plus && (!virt || virtual_files_.IsGenerated()), next};
      if (e.attr_complete) {
        FillAttr(target, path, &e.attr);
      } else {
        e.attr.st_ino = target;
        e.attr.st_mode = is_dir ? S_IFDIR : S_IFREG;
      }
      return fill(e);
    };
    // Cookies: 0 -> ".", 1 -> "..", 2 + i -> children[i].
    for (int64_t pos = std::max<int64_t>(offset, 0);; ++pos) {
      bool taken;
      if (pos == 0) {
        taken = emit(".", *dir, ino, true, 1);
      } else if (pos == 1) {
        taken = emit("..", parent_path, parent, true, 2);
      } else if (static_cast<size_t>(pos - 2) < children.size()) {
        const JournalChild& c = children[static_cast<size_t>(pos - 2)];
        const std::string path = JoinPath(*dir, c.name);
        taken = emit(c.name, path, Intern(path), c.is_dir, pos + 1);
      } else {
        return 0;
      }
      if (!taken) return 0;
    }
  });
}

// --- Content ---------------------------------------------------------------

JournalFsOps::Content JournalFsOps::CachedEdited(InodeId ino, const std::string& path,
                                                 uint64_t data_id) {
  {
    std::lock_guard lock(files_mu_);
    auto it = open_inodes_.find(ino);
    if (it != open_inodes_.end() && it->second.fd && it->second.data_id == data_id)
      return Content{it->second.fd, nullptr, nullptr};
  }
  // Copy-on-write on the first write of an original record; afterwards it
  // only opens the data file.
  auto fd = std::make_shared<const ScopedFd>(journal_.OpenForWrite(path, /*truncate=*/false));
  const std::optional<JournalNode> node = journal_.Stat(path);
  std::lock_guard lock(files_mu_);
  if (auto it = open_inodes_.find(ino); it != open_inodes_.end() && node) {
    it->second.fd = fd;
    it->second.data_id = node->data_id;
    it->second.original = nullptr;
    it->second.reader.reset();
  }
  return Content{fd, nullptr, nullptr};
}

JournalFsOps::Content JournalFsOps::OriginalContent(InodeId ino, const ZipEntry* original) {
  std::lock_guard lock(files_mu_);
  OpenInode& oi = open_inodes_[ino];  // erased by Release() when it was not open
  if (oi.original != original || !oi.reader) {
    oi.original = original;
    oi.reader = std::shared_ptr<RecordReader>(OpenRecordReader(*zip_, *original));
  }
  Content c{nullptr, oi.reader, nullptr};
  if (oi.open_count == 0) open_inodes_.erase(ino);
  return c;
}

JournalFsOps::Content JournalFsOps::OrphanContent(InodeId ino) {
  std::lock_guard lock(files_mu_);
  auto it = open_inodes_.find(ino);
  if (it == open_inodes_.end() || (!it->second.fd && !it->second.reader))
    ThrowErrno(ENOENT, "inode " + std::to_string(ino));
  return Content{it->second.fd, it->second.reader, nullptr};
}

// Caller holds ns_mu_ (shared or exclusive).
JournalFsOps::Content JournalFsOps::ContentOf(InodeId ino, bool for_write) {
  const std::optional<std::string> path = PathOf(ino);
  if (!path) return OrphanContent(ino);
  if (const std::optional<size_t> slot = virtual_files_.SlotOf(*path)) {
    if (for_write) RefuseGenerated(*path, "write");
    return Content{nullptr, nullptr, virtual_files_.Content(*slot)};
  }
  const std::optional<JournalNode> node = journal_.Stat(*path);
  if (!node) ThrowErrno(ENOENT, *path);
  if (node->is_dir) ThrowErrno(EISDIR, *path);
  if (node->edited() || for_write) return CachedEdited(ino, *path, node->edited() ? node->data_id : 0);
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
    CachedEdited(*ino, path, node->edited() ? node->data_id : 0);
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
  return Guard("open", [&] { return NameOfInode(ino); }, [&]() -> int {
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
      }
    }
    *fh = AddHandle(ino, flags);
    return 0;
  });
}

int JournalFsOps::Create(InodeId parent, std::string_view name, mode_t mode, int flags,
                         struct stat* out, uint64_t* fh) noexcept {
  return Guard("create", [&] { return JoinPath(NameOfInode(parent), name); }, [&]() -> int {
    std::unique_lock ns(ns_mu_);
    const std::string path = ChildPath(parent, name);
    if (virtual_files_.SlotOf(path)) return -EEXIST;
    ScopedFd fd = journal_.Create(path, mode & 07777);
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
  return Guard("read", [&] { return NameOfHandle(fh); }, [&]() -> ssize_t {
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
    for (;;) {
      const ssize_t n = ::pread(c.fd->get(), out.data(), out.size(), static_cast<off_t>(offset));
      if (n >= 0) return n;
      if (errno != EINTR) ThrowSystemError("cannot read the journal data file", errno);
    }
  });
}

ssize_t JournalFsOps::Write(uint64_t fh, uint64_t offset, std::span<const char> data) noexcept {
  return Guard("write", [&] { return NameOfHandle(fh); }, [&]() -> ssize_t {
    const Handle h = HandleOf(fh);
    if (!h.write) return -EBADF;
    std::shared_lock ns(ns_mu_);
    const Content c = ContentOf(h.ino, true);
    if (h.append) {
      struct stat st {};
      if (fstat(c.fd->get(), &st) != 0) ThrowSystemError("cannot stat the journal data file", errno);
      offset = static_cast<uint64_t>(st.st_size);
    }
    WriteAll(c.fd->get(), data, offset);
    Changed();
    return static_cast<ssize_t>(data.size());
  });
}

int JournalFsOps::Fsync(uint64_t fh) noexcept {
  return Guard("sync", [&] { return NameOfHandle(fh); }, [&]() -> int {
    const Handle h = HandleOf(fh);
    Content c;
    {
      std::shared_lock ns(ns_mu_);
      c = ContentOf(h.ino, false);
    }
    // Originals and generated files are already as durable as the archive.
    if (c.fd && ::fdatasync(c.fd->get()) != 0) ThrowSystemError("cannot sync the journal data file", errno);
    return 0;
  });
}

int JournalFsOps::Release(uint64_t fh) noexcept {
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
}

int JournalFsOps::SetAttr(InodeId ino, const struct stat& attr, unsigned fields,
                          std::optional<uint64_t> fh, struct stat* out) noexcept {
  return Guard("change attributes of", [&] { return NameOfInode(ino); }, [&]() -> int {
    std::shared_lock ns(ns_mu_);
    if ((fields & kSetOwner) && (attr.st_uid != options_.uid || attr.st_gid != options_.gid))
      return -EPERM;
    const std::optional<std::string> path = PathOf(ino);
    if (!path) {
      // Only ftruncate makes sense on a file whose name is gone.
      if (!(fields & kSetSize) || !fh) return -ENOENT;
      const Content c = ContentOf(ino, true);
      if (::ftruncate(c.fd->get(), attr.st_size) != 0) ThrowSystemError("cannot truncate", errno);
      OrphanAttr(ino, out);
      return 0;
    }
    if (virtual_files_.SlotOf(*path) && (fields & (kSetMode | kSetSize | kSetMtime | kSetMtimeNow)))
      RefuseGenerated(*path, "change");
    if (fields & kSetSize) {
      journal_.Truncate(*path, static_cast<uint64_t>(attr.st_size));
      Changed();
    }
    if (fields & kSetMode) journal_.SetMode(*path, attr.st_mode & 07777);
    if (fields & (kSetMtime | kSetMtimeNow)) {
      struct timespec now {};
      clock_gettime(CLOCK_REALTIME, &now);
      journal_.SetMtime(*path, (fields & kSetMtimeNow) ? now : attr.st_mtim);
    }
    FillAttr(ino, *path, out);
    return 0;
  });
}

// --- Namespace --------------------------------------------------------------

int JournalFsOps::Mkdir(InodeId parent, std::string_view name, mode_t mode,
                        struct stat* out) noexcept {
  return Guard("make directory", [&] { return JoinPath(NameOfInode(parent), name); }, [&]() -> int {
    std::unique_lock ns(ns_mu_);
    const std::string path = ChildPath(parent, name);
    if (virtual_files_.SlotOf(path)) return -EEXIST;
    journal_.Mkdir(path, mode & 07777);
    FillAttr(Intern(path), path, out);
    Changed();
    return 0;
  });
}

int JournalFsOps::Unlink(InodeId parent, std::string_view name) noexcept {
  return Guard("remove", [&] { return JoinPath(NameOfInode(parent), name); }, [&]() -> int {
    std::unique_lock ns(ns_mu_);
    const std::string path = ChildPath(parent, name);
    if (virtual_files_.SlotOf(path)) RefuseGenerated(path, "remove");
    CaptureBeforeLosingName(path);
    journal_.Unlink(path);
    {
      std::lock_guard lock(table_mu_);
      inodes_.Forget(path);
    }
    Changed();
    return 0;
  });
}

int JournalFsOps::Rmdir(InodeId parent, std::string_view name) noexcept {
  return Guard("remove directory", [&] { return JoinPath(NameOfInode(parent), name); }, [&]() -> int {
    std::unique_lock ns(ns_mu_);
    const std::string path = ChildPath(parent, name);
    journal_.Rmdir(path);
    {
      std::lock_guard lock(table_mu_);
      inodes_.Forget(path);
    }
    Changed();
    return 0;
  });
}

int JournalFsOps::Rename(InodeId parent, std::string_view name, InodeId new_parent,
                         std::string_view new_name, bool no_replace, bool exchange) noexcept {
  return Guard("rename", [&] { return JoinPath(NameOfInode(parent), name); }, [&]() -> int {
    if (exchange) return -EINVAL;  // the journal has no atomic exchange
    std::unique_lock ns(ns_mu_);
    const std::string from = ChildPath(parent, name);
    const std::string to = ChildPath(new_parent, new_name);
    if (virtual_files_.SlotOf(from)) RefuseGenerated(from, "rename");
    if (virtual_files_.SlotOf(to)) RefuseGenerated(to, "replace");
    if (from != to) CaptureBeforeLosingName(to);
    journal_.Rename(from, to, no_replace);
    {
      std::lock_guard lock(table_mu_);
      inodes_.Rename(from, to);
    }
    Changed();
    return 0;
  });
}

int JournalFsOps::RefuseSpecialFile(const char* what, InodeId parent,
                                    std::string_view name) noexcept {
  std::string path(name);
  if (std::optional<std::string> dir = PathOf(parent)) path = JoinPath(*dir, name);
  TPKG_LOG(kWarning) << "Cannot create " << what << " '" << Describe(path)
                     << "': a package holds only regular files and directories";
  return -EPERM;
}

int JournalFsOps::StatFs(struct statvfs* out) noexcept {
  return Guard("stat the file system of", journal_.directory(), [&]() -> int {
    // Edits land in the journal, on the archive's file system: its free
    // space is what the mount can take.
    if (::statvfs(journal_.directory().c_str(), out) != 0)
      ThrowSystemError("cannot stat the journal's file system", errno);
    out->f_namemax = NAME_MAX;
    out->f_flag &= ~static_cast<unsigned long>(ST_RDONLY);
    return 0;
  });
}

}  // namespace tpkg::fs
