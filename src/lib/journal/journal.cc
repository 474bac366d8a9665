// journal.cc: the live operations of tpkg::Journal. Opening, locking and
// recovery are in journal_open.cc.
#include "tpkg/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/file_util.h"
#include "journal/data_files.h"
#include "journal/journal_impl.h"
#include "tpkg/error.h"
#include "tpkg/zip_writer.h"  // kMaxZipTime
#include "zip/record_copy.h"

namespace tpkg {

void ThrowOpError(const std::string& verb, std::string_view path, int err) {
  throw Error(ErrcFromErrno(err),
              "Cannot " + verb + " '" + std::string(path) + "': " + std::strerror(err), err);
}

bool ChangesArchive(LogOp op) {
  // Modes and mtimes are saved (zip_writer.h: RecordAttributes); atimes and
  // owners are not.
  return op != LogOp::kHeader && op != LogOp::kCommit && op != LogOp::kSetAtime &&
         op != LogOp::kSetOwner;
}

int JournalState::CheckEntry(const LogEntry& e) const {
  // Live operations validated their paths already; a replayed manifest may
  // hold anything (a damaged or hand-edited file), and a name the tree takes
  // but no lookup can reach would be listed yet never found.
  if (e.op == LogOp::kPatchChunks || e.op == LogOp::kPatchCut) return CheckPatchEntry(*this, e);
  if (e.op != LogOp::kHeader && e.op != LogOp::kCommit) {
    if (int err = ValidateRecordPath(e.path)) return err;
    if (e.op == LogOp::kRename)
      if (int err = ValidateRecordPath(e.path2)) return err;
  }
  switch (e.op) {
    case LogOp::kCreate: return tree.CheckCreate(e.path);
    case LogOp::kSetContent: return tree.CheckFileExists(e.path);
    case LogOp::kSetPatch: return CheckPatchEntry(*this, e);
    case LogOp::kPatchChunks:
    case LogOp::kPatchCut: return 0;  // checked above
    case LogOp::kUnlink: return tree.CheckUnlink(e.path);
    case LogOp::kRename: return tree.CheckRename(e.path, e.path2, e.flags & kNoReplace);
    case LogOp::kMkdir: return tree.CheckMkdir(e.path);
    case LogOp::kRmdir: return tree.CheckRmdir(e.path);
    case LogOp::kSetMode:
    case LogOp::kSetMtime:
    case LogOp::kSetAtime:
    case LogOp::kSetOwner: return tree.CheckAttr(e.path);
    case LogOp::kHeader:
    case LogOp::kCommit: return 0;
  }
  return EINVAL;
}

namespace {

std::string_view ParentOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

// The attributes of a file or folder made by `e` at `at`.
TreeAttr NewAttr(const LogEntry& e, std::optional<uint32_t> mode,
                 std::optional<struct timespec> at) {
  TreeAttr attr;
  attr.mode = mode;
  attr.ctime = at;
  // A folder's times are its own; a file's mtime is its data file's.
  if (e.op == LogOp::kMkdir) attr.mtime = at;
  if (e.uid != kNoOwner) attr.uid = e.uid;
  if (e.gid != kNoOwner) attr.gid = e.gid;
  return attr;
}

// What POSIX says an operation changes besides its target: the ctime of
// what changed, the mtime and ctime of the folders whose listing changed.
void StampTimes(RecordTree& tree, const LogEntry& e, struct timespec at) {
  switch (e.op) {
    case LogOp::kCreate:
    case LogOp::kMkdir:
    case LogOp::kUnlink:
    case LogOp::kRmdir: tree.StampDir(ParentOf(e.path), at); break;
    case LogOp::kRename:
      tree.StampDir(ParentOf(e.path), at);
      tree.StampDir(ParentOf(e.path2), at);
      tree.SetCtime(e.path2, at);
      break;
    case LogOp::kSetContent:
    case LogOp::kSetPatch:
    case LogOp::kSetMode:
    case LogOp::kSetMtime:
    case LogOp::kSetAtime:
    case LogOp::kSetOwner: tree.SetCtime(e.path, at); break;
    case LogOp::kHeader:
    case LogOp::kCommit:
    case LogOp::kPatchChunks:
    case LogOp::kPatchCut: break;
  }
}

}  // namespace

std::vector<uint64_t> JournalState::ApplyEntry(const LogEntry& e) {
  const std::optional<uint32_t> mode =
      (e.flags & kHasMode) ? std::optional<uint32_t>(e.mode & 07777) : std::nullopt;
  const std::optional<struct timespec> at =
      (e.at_sec != 0 || e.at_nsec != 0)
          ? std::optional<struct timespec>(timespec{static_cast<time_t>(e.at_sec), e.at_nsec})
          : std::nullopt;
  if (ChangesArchive(e.op)) dirty = true;
  std::vector<uint64_t> freed;
  switch (e.op) {
    case LogOp::kCreate: tree.Create(e.path, e.id, NewAttr(e, mode, at)); break;
    case LogOp::kSetContent: freed = tree.SetContent(e.path, e.id); break;
    case LogOp::kUnlink: freed = tree.Unlink(e.path); break;
    case LogOp::kRename: freed = tree.Rename(e.path, e.path2); break;
    case LogOp::kMkdir: tree.Mkdir(e.path, NewAttr(e, mode, at)); break;
    case LogOp::kRmdir: tree.Rmdir(e.path); break;
    case LogOp::kSetMode: tree.SetMode(e.path, e.mode); break;
    case LogOp::kSetMtime: tree.SetMtime(e.path, timespec{e.sec, e.nsec}); break;
    case LogOp::kSetAtime: tree.SetAtime(e.path, timespec{e.sec, e.nsec}); break;
    case LogOp::kSetOwner:
      tree.SetOwner(e.path, e.uid != kNoOwner ? std::optional<uint32_t>(e.uid) : std::nullopt,
                    e.gid != kNoOwner ? std::optional<uint32_t>(e.gid) : std::nullopt);
      break;
    case LogOp::kSetPatch: {
      auto state = std::make_shared<PatchState>();
      const TreeFile& file = *tree.FindFile(e.path);
      state->base = file.original ? file.original : file.patch_base;
      state->base_len = state->base->size;
      state->chunk_size = e.mode;
      patches[e.id] = std::move(state);
      freed = tree.SetPatch(e.path, e.id);
      break;
    }
    case LogOp::kPatchChunks:
      patches.at(e.id)->Map(static_cast<uint64_t>(e.sec), static_cast<uint64_t>(e.nsec));
      break;
    case LogOp::kPatchCut: {
      PatchState& state = *patches.at(e.id);
      state.base_len = std::min(state.base_len, static_cast<uint64_t>(e.sec));
      break;
    }
    case LogOp::kHeader:
    case LogOp::kCommit: break;
  }
  if (at) StampTimes(tree, e, *at);
  for (uint64_t id : freed) patches.erase(id);
  return freed;
}

ScopedFd JournalState::OpenData(uint64_t id, int flags) const {
  return OpenAtOrThrow(data_fd.get(), std::to_string(id), flags, 0, DataPath(id));
}

void JournalState::FreeData(const std::vector<uint64_t>& ids) const {
  for (uint64_t id : ids) ::unlinkat(data_fd.get(), std::to_string(id).c_str(), 0);
}

void JournalState::ThrowIfDropped() const {
  if (dropped) throw Error(Errc::kInvalidArgument, "Journal '" + dir + "' was dropped");
}

namespace {

// The names a new file or folder may not take (journal.h: bytecode caches).
void RefuseBytecodeCache(const std::string& verb, std::string_view path) {
  if (IsBytecodeCachePath(path)) ThrowOpError(verb, path, EPERM);
}

// Nor a name that would pair with another differing only in case
// (RecordTree::CaseTwin): refused when made, with the reason, rather than by
// the save. `clash`: what CaseTwin or CaseTwinOfMove found for `path`.
void RefuseCaseTwin(const std::optional<RecordTree::CaseClash>& clash, const std::string& verb,
                    std::string_view path) {
  if (!clash) return;
  const std::string other = clash->moved == path ? "it" : "'" + clash->moved + "'";
  throw Error(Errc::kPolicy,
              "Cannot " + verb + " '" + std::string(path) + "': '" + clash->twin +
                  "' differs from " + other +
                  " only in case, and torch's reader, which ignores the case of names, could "
                  "not tell them apart",
              EEXIST);
}

std::optional<RecordTree::CaseClash> AsClash(std::string_view path,
                                             std::optional<std::string> twin) {
  if (!twin) return std::nullopt;
  return RecordTree::CaseClash{std::string(path), std::move(*twin)};
}

// Validates the path(s), checks the operation, logs it (group commit:
// journal_impl.h), applies it and deletes the data files it freed once the
// entry is durable. `verb` names it in errors.
void LogAndApply(JournalState& impl, const std::string& verb, const LogEntry& entry) {
  const LogEntry e = Stamped(entry);
  impl.ThrowIfDropped();
  for (const std::string* p : {&e.path, &e.path2}) {
    if (int err = ValidateRecordPath(*p)) ThrowOpError(verb, *p, err);
  }
  const std::string shown = e.op == LogOp::kRename ? e.path + "' to '" + e.path2 : e.path;
  if (int err = impl.CheckEntry(e)) ThrowOpError(verb, shown, err);
  if (e.op == LogOp::kMkdir) {
    RefuseBytecodeCache(verb, e.path);
    RefuseCaseTwin(AsClash(e.path, impl.tree.CaseTwin(e.path, /*is_dir=*/true)), verb, e.path);
  }
  if (e.op == LogOp::kRename && e.path != e.path2) {
    RefuseBytecodeCache(verb, e.path2);
    RefuseCaseTwin(impl.tree.CaseTwinOfMove(e.path, e.path2), verb, e.path2);
  }
  if (e.op == LogOp::kRename && e.path == e.path2) return;  // POSIX: nothing to do
  impl.EnsureCreated();
  impl.LogGrouped(e);
  impl.FreeWhenCommitted(impl.ApplyEntry(e));
}

// Copy-on-write of an original record into a new data file, keeping its first
// `new_size` bytes (all when nullopt) and extending with zeros past them.
ScopedFd CopyOnWrite(JournalState& impl, std::string_view record, const ZipEntry& original,
                     std::optional<uint64_t> new_size) {
  return NewDataFile(impl, PathEntry(LogOp::kSetContent, record),
                     [&](int fd, const std::string& what) {
                       const uint64_t keep = new_size.value_or(original.size);
                       if (keep == 0) return false;  // nothing to copy, nothing to sync
                       CopyRecordToFd(impl.zip, original, fd, keep, what);
                       if (keep > original.size && ::ftruncate(fd, static_cast<off_t>(keep)) != 0) {
                         const int err = errno;
                         ThrowSystemError("Cannot extend '" + what + "'", err);
                       }
                       return true;
                     });
}

// A patched file becomes a whole journal file (the library's callers of
// OpenForWrite write through a plain descriptor): its merged bytes are
// copied, unless `truncate`. O(record), once.
ScopedFd MaterializePatch(JournalState& impl, std::string_view record, uint64_t id,
                          bool truncate) {
  const PatchState& state = PatchOf(impl, id);
  const ScopedFd data = impl.OpenData(id, O_RDONLY);
  const uint64_t size = truncate ? 0 : FstatOrThrow(data.get(), impl.DataPath(id)).st_size;
  return NewDataFile(impl, PathEntry(LogOp::kSetContent, record),
                     [&](int fd, const std::string& what) {
                       if (size == 0) return false;
                       CopyPatch(impl, state, data.get(), fd, size, what);
                       return true;
                     });
}

void TruncateFd(int fd, uint64_t size, const std::string& what) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int err = errno;
    ThrowSystemError("Cannot truncate '" + what + "'", err);
  }
}

void CopyAttr(const TreeAttr& attr, JournalNode* node) {
  node->mode = attr.mode;
  node->mtime = attr.mtime;
  node->atime = attr.atime;
  node->ctime = attr.ctime;
  node->chosen_mtime = attr.chosen_mtime;
  node->uid = attr.uid;
  node->gid = attr.gid;
}

JournalNode DirNode(const RecordTree& tree, std::string_view path, const TreeAttr& attr) {
  JournalNode node;
  node.is_dir = true;
  CopyAttr(attr, &node);
  node.subdirs = static_cast<uint32_t>(tree.CountSubdirs(path));
  return node;
}

bool Before(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec < b.tv_sec : a.tv_nsec < b.tv_nsec;
}

JournalNode NodeOf(const JournalState& impl, const TreeFile& file) {
  JournalNode node;
  node.original = file.original;
  node.data_id = file.journal_id;
  node.patch_base = file.patch_base;
  CopyAttr(file.attr, &node);
  if (file.original) {
    node.size = file.original->size;
    return node;
  }
  struct stat st;
  if (::fstatat(impl.data_fd.get(), std::to_string(file.journal_id).c_str(), &st, 0) != 0) {
    const int err = errno;
    ThrowSystemError("Cannot stat '" + impl.DataPath(file.journal_id) + "'", err);
  }
  node.size = static_cast<uint64_t>(st.st_size);
  if (!node.mtime) node.mtime = st.st_mtim;
  // Writes change the data file's ctime; names and modes change the tree's.
  if (!node.ctime || Before(*node.ctime, st.st_ctim)) node.ctime = st.st_ctim;
  return node;
}

}  // namespace

Journal::Journal(std::unique_ptr<JournalState> impl) : impl_(std::move(impl)) {}
Journal::Journal(Journal&&) noexcept = default;
Journal& Journal::operator=(Journal&&) noexcept = default;
Journal::~Journal() = default;

std::string Journal::DirectoryFor(const std::string& archive_path) {
  return DirName(archive_path) + "/." + BaseName(archive_path) + ".tpkgfs";
}

const std::string& Journal::archive_path() const { return impl_->archive_path; }
const std::string& Journal::directory() const { return impl_->dir; }
bool Journal::DirectoryDeleted() const {
  std::lock_guard lock(impl_->mu);
  struct stat st;
  return impl_->created && impl_->dir_fd.valid() && ::fstat(impl_->dir_fd.get(), &st) == 0 &&
         st.st_nlink == 0;
}
const ZipReader& Journal::original() const { return impl_->zip; }
bool Journal::recovered() const { return impl_->recovered; }
const std::string& Journal::recovery_summary() const { return impl_->summary; }

bool Journal::dirty() const {
  std::lock_guard lock(impl_->mu);
  return impl_->dirty;
}

std::optional<JournalNode> Journal::Stat(std::string_view path) const {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  if (ValidateRecordPath(path) != 0) return std::nullopt;
  if (const TreeDir* dir = impl_->tree.FindDir(path)) return DirNode(impl_->tree, path, dir->attr);
  if (const TreeFile* file = impl_->tree.FindFile(path)) return NodeOf(*impl_, *file);
  return std::nullopt;
}

std::vector<JournalChild> Journal::List(std::string_view dir) const {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  if (int err = ValidateRecordPath(dir)) ThrowOpError("list", dir, err);
  if (!impl_->tree.FindDir(dir))
    ThrowOpError("list", dir, impl_->tree.FindFile(dir) ? ENOTDIR : ENOENT);
  std::vector<JournalChild> out;
  for (TreeChild& c : impl_->tree.List(dir)) out.push_back({std::move(c.name), c.is_dir});
  return out;
}

std::vector<std::pair<std::string, JournalNode>> Journal::Files() const {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  std::vector<std::pair<std::string, JournalNode>> out;
  out.reserve(impl_->tree.files().size());
  for (const auto& [path, file] : impl_->tree.files()) out.emplace_back(path, NodeOf(*impl_, file));
  return out;
}

bool Journal::RootAttributesSet() const {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  const TreeDir* root = impl_->tree.FindDir("");
  return root && (root->attr.mode || root->attr.chosen_mtime);
}

std::vector<JournalFolder> Journal::Folders() const {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  std::vector<JournalFolder> out;
  for (const auto& [path, dir] : impl_->tree.dirs()) {
    if (path.empty()) continue;  // the root is the prefix folder: no entry of its own
    JournalFolder f{path,
                    dir.attr.mode,
                    dir.attr.mtime,
                    dir.attr.chosen_mtime,
                    impl_->tree.IsEmptyDir(path),
                    dir.made,
                    nullptr};
    if (dir.entry && std::string_view(dir.entry->name).substr(0, path.size()) == path &&
        dir.entry->name.find_first_not_of('/', path.size()) == std::string::npos)
      f.original_entry = dir.entry;
    out.push_back(std::move(f));
  }
  return out;
}

ScopedFd Journal::OpenForRead(std::string_view record) const {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  const TreeFile* file = impl_->tree.FindFile(record);
  if (!file) ThrowOpError("open", record, impl_->tree.FindDir(record) ? EISDIR : ENOENT);
  if (file->patch_base)
    throw Error(Errc::kInvalidArgument,
                "'" + std::string(record) + "' is patched in place: read it through FindPatch",
                EINVAL);
  return file->journal_id ? impl_->OpenData(file->journal_id, O_RDONLY) : ScopedFd();
}

ScopedFd Journal::OpenForWrite(std::string_view record, bool truncate) {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  if (int err = ValidateRecordPath(record)) ThrowOpError("open", record, err);
  if (int err = impl_->tree.CheckFileExists(record)) ThrowOpError("open", record, err);
  const TreeFile& file = *impl_->tree.FindFile(record);
  if (file.journal_id == 0)
    return CopyOnWrite(*impl_, record, *file.original,
                       truncate ? std::optional<uint64_t>(0) : std::nullopt);
  if (file.patch_base) return MaterializePatch(*impl_, record, file.journal_id, truncate);
  ScopedFd fd = impl_->OpenData(file.journal_id, O_RDWR);
  if (truncate) TruncateFd(fd.get(), 0, impl_->DataPath(file.journal_id));
  return fd;
}

namespace {

// A Create/Mkdir entry naming its creator.
LogEntry WithOwner(LogEntry e, std::optional<JournalOwner> owner) {
  if (owner) e.uid = owner->uid, e.gid = owner->gid;
  return e;
}

}  // namespace

ScopedFd Journal::Create(std::string_view record, std::optional<uint32_t> mode,
                         std::optional<JournalOwner> owner) {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  if (int err = ValidateRecordPath(record)) ThrowOpError("create", record, err);
  if (int err = impl_->tree.CheckCreate(record)) ThrowOpError("create", record, err);
  RefuseBytecodeCache("create", record);
  RefuseCaseTwin(AsClash(record, impl_->tree.CaseTwin(record)), "create", record);
  const LogEntry e = WithOwner(ModeEntry(LogOp::kCreate, record, mode), owner);
  return NewDataFile(*impl_, e, [](int, const std::string&) { return false; });
}

void Journal::Truncate(std::string_view record, uint64_t size) {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  if (int err = ValidateRecordPath(record)) ThrowOpError("truncate", record, err);
  if (int err = impl_->tree.CheckFileExists(record)) ThrowOpError("truncate", record, err);
  const TreeFile& file = *impl_->tree.FindFile(record);
  if (file.patch_base) {
    ResizePatch(*impl_, file.journal_id, PatchOf(*impl_, file.journal_id),
                impl_->OpenData(file.journal_id, O_RDWR).get(), size);
  } else if (file.journal_id != 0) {
    TruncateFd(impl_->OpenData(file.journal_id, O_WRONLY).get(), size,
               impl_->DataPath(file.journal_id));
  } else if (size != file.original->size) {
    CopyOnWrite(*impl_, record, *file.original, size);
  }
}

void Journal::Fsync(std::string_view record) {
  std::unique_lock lock(impl_->mu);
  impl_->ThrowIfDropped();
  const TreeFile* file = impl_->tree.FindFile(record);
  if (!file) ThrowOpError("fsync", record, impl_->tree.FindDir(record) ? EISDIR : ENOENT);
  if (file->journal_id != 0) {
    FdatasyncOrThrow(impl_->OpenData(file->journal_id, O_RDONLY).get(),
                     impl_->DataPath(file->journal_id));
    // Synced bytes must not sit in a file whose name a crash could lose.
    if (impl_->data_names_pending) SyncDataNames(*impl_);
  }
  // ... nor in a file whose create entry a crash could lose.
  impl_->Commit(lock);
}

void Journal::Commit() {
  std::unique_lock lock(impl_->mu);
  impl_->ThrowIfDropped();
  // A data file with synced bytes may still have an unsynced name (Fsync
  // syncs the names first; this is for the FUSE layer's own fdatasync).
  if (impl_->data_names_pending) SyncDataNames(*impl_);
  impl_->Commit(lock);
}

bool Journal::committed() const {
  std::lock_guard lock(impl_->mu);
  return impl_->dropped || !impl_->log || impl_->log->synced() >= impl_->log->end();
}

void Journal::Unlink(std::string_view record) {
  std::lock_guard lock(impl_->mu);
  LogAndApply(*impl_, "unlink", PathEntry(LogOp::kUnlink, record));
}

void Journal::Rename(std::string_view from, std::string_view to, bool no_replace) {
  std::lock_guard lock(impl_->mu);
  LogAndApply(*impl_, "rename", PathEntry(LogOp::kRename, from, to, no_replace ? kNoReplace : 0));
}

void Journal::Mkdir(std::string_view dir, std::optional<uint32_t> mode,
                    std::optional<JournalOwner> owner) {
  std::lock_guard lock(impl_->mu);
  LogAndApply(*impl_, "create directory", WithOwner(ModeEntry(LogOp::kMkdir, dir, mode), owner));
}

void Journal::Rmdir(std::string_view dir) {
  std::lock_guard lock(impl_->mu);
  LogAndApply(*impl_, "remove directory", PathEntry(LogOp::kRmdir, dir));
}

void Journal::SetMode(std::string_view path, uint32_t mode) {
  std::lock_guard lock(impl_->mu);
  LogAndApply(*impl_, "chmod", ModeEntry(LogOp::kSetMode, path, mode));
}

void Journal::SetMtime(std::string_view path, struct timespec mtime) {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  // The archive keeps whole seconds since 1970 in 32 unsigned bits (zip_writer.h).
  if (mtime.tv_sec < 0 || mtime.tv_sec > kMaxZipTime)
    ThrowOpError("set the time of", path, EOVERFLOW);
  const TreeFile* file = impl_->tree.FindFile(path);
  if (file && file->journal_id != 0) {
    // An edited file's mtime is its data file's: later writes move it on.
    const struct timespec times[2] = {{0, UTIME_OMIT}, mtime};
    if (::utimensat(impl_->data_fd.get(), std::to_string(file->journal_id).c_str(), times, 0) !=
        0) {
      const int err = errno;
      ThrowOpError("set the time of", path, err);
    }
  }
  // Logged for edited files too: the chosen time is saved (write_back.h).
  LogAndApply(*impl_, "set the time of", MtimeEntry(path, mtime));
}

void Journal::SetAtime(std::string_view path, struct timespec atime) {
  std::lock_guard lock(impl_->mu);
  LogAndApply(*impl_, "set the access time of", MtimeEntry(path, atime, LogOp::kSetAtime));
}

void Journal::SetOwner(std::string_view path, std::optional<JournalOwner> owner) {
  std::lock_guard lock(impl_->mu);
  LogEntry e = PathEntry(LogOp::kSetOwner, path);
  if (owner) {
    e.uid = owner->uid;
    e.gid = owner->gid;
  }
  LogAndApply(*impl_, "change the owner of", e);
}

}  // namespace tpkg
