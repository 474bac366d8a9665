// journal_open.cc: the life cycle of a journal directory: lock, recover
// (replay, orphan removal, identity check), and Drop().
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>

#include "base/file_util.h"
#include "journal/journal_impl.h"
#include "tpkg/counted.h"
#include "tpkg/error.h"
#include "tpkg/journal.h"
#include "tpkg/line_escape.h"
#include "tpkg/scoped_fd.h"
#include "tpkg/zip_reader.h"

namespace tpkg {
namespace {

std::string ResolvedOrThrow(const std::string& path) {
  std::optional<std::string> resolved = RealPath(path);
  if (!resolved) {
    const int err = errno;
    ThrowSystemError("Cannot resolve '" + path + "'", err);
  }
  return *std::move(resolved);
}

void CheckSameFile(const std::string& path, const ZipReader& zip) {
  struct stat by_path;
  if (::stat(path.c_str(), &by_path) != 0) {
    const int err = errno;
    ThrowSystemError("Cannot stat '" + path + "'", err);
  }
  const struct stat opened = FstatOrThrow(zip.fd(), zip.path());
  if (by_path.st_dev != opened.st_dev || by_path.st_ino != opened.st_ino)
    throw Error(Errc::kInvalidArgument,
                "'" + path + "' is not the archive the reader opened ('" + zip.path() + "')");
}

// Who holds the lock, from the pid its holder wrote: "tpkgfs (pid 123)" (the
// holder may be a daemon or a `tpkg edits`), "pid 123" when its command
// cannot be read, "an unknown process" before the holder wrote its pid.
std::string LockHolder(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == '\0')) pid.pop_back();
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos)
    return "an unknown process";
  std::ifstream comm("/proc/" + pid + "/comm");
  std::string command;
  if (!std::getline(comm, command) || command.empty()) return "pid " + pid;
  return command + " (pid " + pid + ")";
}

// True when `lock_fd` is still the lock file of the journal directory named
// by `dir` (a Drop() by the previous owner may have removed either between
// our open and our flock).
bool StillLinked(const std::string& dir, int dir_fd, int lock_fd) {
  struct stat dir_by_path, dir_opened, lock_by_name, lock_opened;
  if (::stat(dir.c_str(), &dir_by_path) != 0 || ::fstat(dir_fd, &dir_opened) != 0) return false;
  if (::fstatat(dir_fd, kLockName, &lock_by_name, AT_SYMLINK_NOFOLLOW) != 0 ||
      ::fstat(lock_fd, &lock_opened) != 0)
    return false;
  return dir_by_path.st_dev == dir_opened.st_dev && dir_by_path.st_ino == dir_opened.st_ino &&
         lock_by_name.st_ino == lock_opened.st_ino && lock_opened.st_nlink > 0;
}

// A journal for an archive that cannot be replaced would collect writes only
// to drop them at unmount: refuse it (the daemon then mounts read-only).
// Write-back renames a new file over the archive, so its directory must be
// writable too, even when the journal directory already exists there.
// Immutable files give EPERM here, read-only ones EACCES (except for root).
void CheckWritable(const std::string& archive) {
  auto refuse_unless_writable = [&archive](const std::string& path, const std::string& what) {
    if (::faccessat(AT_FDCWD, path.c_str(), W_OK, AT_EACCESS) != 0) {
      const int err = errno;
      ThrowSystemError("Cannot keep edits of '" + archive + "': " + what + " is not writable", err);
    }
  };
  refuse_unless_writable(archive, "the archive");
  refuse_unless_writable(DirName(archive), "its directory");
}

// Opens the journal directory, creating it if needed. It must be a real
// directory (not a symlink) owned by us: whoever owns it controls what the
// journal's files point to.
ScopedFd OpenJournalDirectory(const JournalState& impl) {
  if (::mkdir(impl.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    const int err = errno;
    ThrowSystemError("Cannot create the journal directory '" + impl.dir + "' of '" +
                         impl.archive_path + "'" + CreateFailureNote(err, AT_FDCWD, impl.dir),
                     err);
  }
  ScopedFd fd = OpenOrThrow(impl.dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  const struct stat st = FstatOrThrow(fd.get(), impl.dir);
  if (st.st_uid != ::geteuid())
    throw Error(Errc::kPermission,
                "Journal directory '" + impl.dir + "' belongs to uid " + std::to_string(st.st_uid) +
                    ", not to this user; move it away or mount as its owner",
                EPERM);
  return fd;
}

// Takes the journal's lock (non-blocking): two daemons never share a journal.
void LockDirectory(JournalState& impl) {
  const std::string lock_path = impl.dir + "/" + kLockName;
  for (int attempt = 0; attempt < 100; ++attempt) {
    ScopedFd dir_fd = OpenJournalDirectory(impl);
    ScopedFd fd =
        OpenAtOrThrow(dir_fd.get(), kLockName, O_RDWR | O_CREAT | O_NOFOLLOW, 0600, lock_path);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err != EWOULDBLOCK) ThrowSystemError("Cannot lock '" + lock_path + "'", err);
      const std::string holder = LockHolder(fd.get());
      // A daemon holds it from its mount's first change to the end of its save.
      const std::string advice =
          holder.starts_with("tpkgfs ")
              ? ", which serves or saves a mount of it: unmount that (`findmnt --source " +
                    ShellWord(impl.archive_path) +
                    "` shows where) or let its save end, then "
                    "try again"
              : "";
      throw Error(Errc::kIo,
                  "Journal '" + impl.dir + "' of '" + impl.archive_path + "' is in use by " +
                      holder + advice,
                  EBUSY);
    }
    if (!StillLinked(impl.dir, dir_fd.get(), fd.get())) continue;
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd.get(), 0) != 0) {
      const int err = errno;
      ThrowSystemError("Cannot write '" + lock_path + "'", err);
    }
    PwriteAll(fd.get(), pid, 0, lock_path);
    impl.lock_fd = std::move(fd);
    impl.dir_fd = std::move(dir_fd);
    return;
  }
  throw Error(Errc::kIo, "Cannot lock '" + lock_path + "': it keeps being removed", EBUSY);
}

void OpenDataDirectory(JournalState& impl) {
  if (::mkdirat(impl.dir_fd.get(), kDataDirName, 0700) != 0 && errno != EEXIST) {
    const int err = errno;
    ThrowSystemError("Cannot create '" + impl.dir + "/data'" +
                         CreateFailureNote(err, impl.dir_fd.get(), kDataDirName),
                     err);
  }
  impl.data_fd = OpenAtOrThrow(impl.dir_fd.get(), kDataDirName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
                               0, impl.dir + "/data");
}

// Removes a journal folder that holds no manifest, hence no edits (what a
// failed creation left), unless another process holds its lock meanwhile.
void RemoveFolderWithoutEdits(const std::string& dir) {
  const ScopedFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir_fd.valid() || ::faccessat(dir_fd.get(), ManifestLog::kFileName, F_OK, 0) == 0) return;
  const ScopedFd lock(::openat(dir_fd.get(), kLockName, O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (lock.valid() && ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) return;  // in use: not ours
  ::unlinkat(dir_fd.get(), kDataDirName, AT_REMOVEDIR);                     // only when empty
  ::unlinkat(dir_fd.get(), kLockName, 0);
  ::rmdir(dir.c_str());  // only when empty
}

// Names in an open directory (without "." and "..").
std::vector<std::string> ListNames(int dir_fd, const std::string& what) {
  ScopedFd dup(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  const ScopedDir dir(dup ? ::fdopendir(dup.get()) : nullptr);
  if (!dir) {
    const int err = errno;
    ThrowSystemError("Cannot list '" + what + "'", err);
  }
  dup.release();  // the stream owns it now
  ::rewinddir(dir.get());
  std::vector<std::string> names;
  while (const dirent* d = ::readdir(dir.get())) {
    const std::string name = d->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  return names;
}

// The id a data file name stands for, or 0 when it is not a plain decimal id.
uint64_t ParseDataId(const std::string& name) {
  if (name.empty() || name.size() > 19 || name.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return std::stoull(name);
}

// Removes what an interrupted write-back or manifest creation left; returns
// how many files it removed. `save_tmp`: the save's temp file too.
int RemoveTempFiles(const JournalState& impl, bool save_tmp = true) {
  int removed = 0;
  for (const char* name : {kSaveTempName, ManifestLog::kTempName}) {
    if (!save_tmp && name == kSaveTempName) continue;
    if (::unlinkat(impl.dir_fd.get(), name, 0) == 0) ++removed;
  }
  return removed;
}

// A save that completed exchanged its temp file with the file at the
// archive's path (write_back.cc ReplaceArchive): save.tmp is the archive the
// edits were made for, removed once judged, unless the save was stopped
// before it could judge it: then it may be a file another program put at
// the path, which is moved beside the archive, never removed.
void KeepDisplacedFile(const JournalState& impl, const ArchiveIdentity& made_for,
                       std::vector<std::string>* notes) {
  const std::string temp = impl.dir + "/" + kSaveTempName;
  struct stat st;
  if (::lstat(temp.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  try {
    if (made_for.SameArchive(
            ArchiveIdentity::Of(ZipReader::Open(temp, {.defer_record_checks = true}))))
      return;                        // the old archive: RemoveTempFiles
  } catch (const std::exception&) {  // no archive: not ours
  }
  if (const std::optional<std::string> to =
          RenameToFreeName(temp, impl.archive_path + ".tpkgfs-displaced")) {
    notes->push_back("moved " + *to + " out of it: the file another program put at " +
                     impl.archive_path + " while its save replaced it");
  }
}

// Empties the journal (manifest and data files), keeping the directory and
// its lock.
// `saved`: the manifest ends with a durable commit entry naming the archive
// now durably in place, under an identity the header does not have
// (Journal::DropSaved).
void ClearContents(const JournalState& impl, bool saved = false) {
  if (::unlinkat(impl.dir_fd.get(), ManifestLog::kFileName, 0) != 0 && errno != ENOENT) {
    const int err = errno;
    ThrowSystemError("Cannot remove '" + impl.dir + "/manifest'", err);
  }
  // The manifest's removal must be durable before its data files go: after a
  // power loss a surviving manifest naming missing data files would block the
  // next mount. Not after such a save: the manifest names the archive in
  // place as committed, and LoadManifest removes it without reading a data file.
  if (!saved && ::fsync(impl.dir_fd.get()) != 0) {
    const int err = errno;
    ThrowSystemError("Cannot sync '" + impl.dir + "'", err);
  }
  for (const std::string& name : ListNames(impl.data_fd.get(), impl.dir + "/data"))
    ::unlinkat(impl.data_fd.get(), name.c_str(), 0);
}

void CreateFreshManifest(JournalState& impl) {
  impl.log = ManifestLog::Create(impl.dir_fd.get(), impl.dir,
                                 IdentityEntry(LogOp::kHeader, impl.identity, impl.archive_path));
}

bool HasArchiveChanges(const ManifestContents& c) {
  for (const LogEntry& e : c.entries)
    if (ChangesArchive(e.op)) return true;
  return false;
}

// The identity the journal's last commit entry names (the archive a
// write-back was about to rename into place), if any.
std::optional<ArchiveIdentity> LastCommit(const ManifestContents& c) {
  for (auto it = c.entries.rbegin(); it != c.entries.rend(); ++it)
    if (it->op == LogOp::kCommit) return it->identity;
  return std::nullopt;
}

std::string DescribeEntry(const LogEntry& e) {
  static const char* const kNames[] = {"?",      "header", "create", "write",  "unlink",
                                       "rename", "mkdir",  "rmdir",  "chmod",  "utimens",
                                       "commit", "atime",  "patch",  "chunks", "cut",
                                       "chown"};
  const auto op = static_cast<size_t>(e.op);
  std::string text = std::string(op < std::size(kNames) ? kNames[op] : "?") + " '" + e.path + "'";
  if (e.op == LogOp::kRename) text += " to '" + e.path2 + "'";
  return text;
}

// Applies the logged operations after the header to the original namespace.
// Returns how many were applied.
int Replay(JournalState& impl, const ManifestContents& c) {
  int applied = 0;
  for (size_t i = 1; i < c.entries.size(); ++i) {
    const LogEntry& e = c.entries[i];
    if (e.op == LogOp::kHeader || e.op == LogOp::kCommit) continue;
    if (int err = impl.CheckEntry(e))
      throw Error(Errc::kCorrupt, "Journal '" + impl.dir + "' is inconsistent at entry " +
                                      std::to_string(i) + " (" + DescribeEntry(e) +
                                      "): " + std::strerror(err) +
                                      "; move it away to mount the archive as it is");
    if (e.id >= impl.next_id) impl.next_id = e.id + 1;
    if (e.op == LogOp::kCreate) impl.created_ids.insert(e.id);
    impl.ApplyEntry(e);  // data files freed here are removed as orphans below
    ++applied;
  }
  return applied;
}

// Deletes every data file the namespace does not reference (copies
// interrupted by a crash, files freed by operations whose cleanup did not
// run), and checks that every referenced one exists: a created file whose
// name the crash lost (its name is not synced, journal_impl.h) is made
// again, empty, and counted in `*remade`. Returns the count removed.
int RemoveOrphanData(JournalState& impl, int* remade) {
  std::set<uint64_t> referenced;
  for (const auto& [path, file] : impl.tree.files())
    if (file.journal_id) referenced.insert(file.journal_id);
  int removed = 0;
  std::set<uint64_t> present;
  for (const std::string& name : ListNames(impl.data_fd.get(), impl.dir + "/data")) {
    const uint64_t id = ParseDataId(name);
    if (id >= impl.next_id) impl.next_id = id + 1;
    if (id != 0 && referenced.count(id)) {
      present.insert(id);
    } else if (::unlinkat(impl.data_fd.get(), name.c_str(), 0) == 0) {
      ++removed;
    }
  }
  *remade = 0;
  for (const auto& [path, file] : impl.tree.files()) {
    if (!file.journal_id || present.count(file.journal_id)) continue;
    if (!impl.created_ids.count(file.journal_id))
      throw Error(Errc::kCorrupt, "Journal '" + impl.dir + "' has lost the data of '" + path +
                                      "' (" + impl.DataPath(file.journal_id) + " is missing)");
    OpenAtOrThrow(impl.data_fd.get(), std::to_string(file.journal_id), O_RDWR | O_CREAT | O_EXCL,
                  0600, impl.DataPath(file.journal_id));
    ++*remade;
  }
  if (*remade) FsyncOrThrow(impl.data_fd.get(), impl.dir + "/data");
  return removed;
}

// "recovered 4 edited records from <dir> (1 written, 1 added, 1 renamed,
// 1 deleted)", counted as `tpkg edits` lists them ("1 edited record" for one)
std::string RecoveredLine(const JournalState& impl) {
  size_t counts[4] = {};
  const std::vector<Journal::PendingEdit> edits = EditsOf(impl);
  for (const Journal::PendingEdit& e : edits) ++counts[static_cast<size_t>(e.kind)];
  using Kind = Journal::PendingEdit::Kind;
  const auto count = [&counts](Kind kind) {
    return std::to_string(counts[static_cast<size_t>(kind)]);
  };
  return "recovered " + Counted(edits.size(), "edited record", "edited records") + " from " +
         impl.dir + " (" + count(Kind::kWritten) + " written, " + count(Kind::kAdded) + " added, " +
         count(Kind::kRenamed) + " renamed, " + count(Kind::kDeleted) + " deleted)";
}

void AddNote(std::string* summary, const std::string& dir, const std::string& note) {
  *summary += summary->empty() ? "journal " + dir + ": " : std::string("; ");
  *summary += note;
}

// Opens the manifest (or creates one) and brings the namespace up to date.
void LoadManifest(JournalState& impl, std::vector<std::string>* notes) {
  if (::faccessat(impl.dir_fd.get(), ManifestLog::kFileName, F_OK, 0) != 0) {
    if (errno != ENOENT) {
      const int err = errno;
      ThrowSystemError("Cannot access '" + impl.dir + "/manifest'", err);
    }
    ClearContents(impl);
    return CreateFreshManifest(impl);
  }
  ManifestContents c;
  ManifestLog log = ManifestLog::Open(impl.dir_fd.get(), impl.dir, &c);
  if (c.torn_bytes)
    notes->push_back("dropped a torn manifest tail of " + Counted(c.torn_bytes, "byte", "bytes"));
  const ArchiveIdentity& recorded = c.entries[0].identity;
  const JournalFate fate =
      FateOfJournal(recorded, LastCommit(c), HasArchiveChanges(c), impl.identity);
  if (fate != JournalFate::kTakeEdits) {
    if (fate == JournalFate::kSaveCompleted) {
      KeepDisplacedFile(impl, recorded, notes);
      notes->push_back("removed the journal of a save of " + impl.archive_path +
                       " that had completed");
    } else if (fate == JournalFate::kDropEmpty) {
      notes->push_back("discarded an empty journal made for another version of " +
                       impl.archive_path);
    } else {
      throw Error(Errc::kInvalidArgument,
                  "Journal '" + impl.dir + "' holds edits of a different archive than '" +
                      impl.archive_path + "' (journal made for: " + recorded.Describe() +
                      "; archive now: " + impl.identity.Describe() +
                      "). Move the journal away to use the archive as it is, or put back the "
                      "archive it was made for");
    }
    ClearContents(impl);
    return CreateFreshManifest(impl);
  }
  impl.log = std::move(log);
  impl.recovered = Replay(impl, c) > 0;
}

// What the journal log `c` (nullopt: none) holds for `original`, as the next
// mount judges it.
Journal::Holds HoldsOf(const std::optional<ManifestContents>& c, const ZipReader& original) {
  using Holds = Journal::Holds;
  if (!c) return Holds::kNoEdits;
  ArchiveIdentity now = ArchiveIdentity::OfFile(original);
  now.digest = ArchiveIdentity::DigestOf(original);
  const bool changes = HasArchiveChanges(*c);
  switch (FateOfJournal(c->entries[0].identity, LastCommit(*c), changes, now)) {
    case JournalFate::kTakeEdits: return changes ? Holds::kEdits : Holds::kNoEdits;
    case JournalFate::kSaveCompleted:
    case JournalFate::kDropEmpty: return Holds::kNoEdits;
    case JournalFate::kAnotherArchive: return Holds::kEditsOfAnotherArchive;
  }
  return Holds::kNoEdits;
}

}  // namespace

Journal::Holds Journal::Inspect(const std::string& archive_path, const ZipReader& original) {
  return HoldsOf(ManifestLog::Read(DirectoryFor(archive_path)), original);
}

std::vector<Journal::PendingEdit> Journal::InspectEdits(const std::string& archive_path,
                                                        const ZipReader& original) {
  const std::optional<ManifestContents> c = ManifestLog::Read(DirectoryFor(archive_path));
  if (HoldsOf(c, original) != Holds::kEdits) return {};
  JournalState replayed(original);  // no log, no folder opened: memory only
  replayed.dir = DirectoryFor(archive_path);
  Replay(replayed, *c);
  return EditsOf(replayed);
}

void JournalState::EnsureCreated() {
  if (created) return;
  try {
    LockDirectory(*this);
    OpenDataDirectory(*this);
    RemoveTempFiles(*this);
    // Nobody else may have made it meanwhile: its edits would mix with ours.
    if (::faccessat(dir_fd.get(), ManifestLog::kFileName, F_OK, 0) == 0) {
      lock_fd.reset();
      throw Error(Errc::kIo,
                  "Journal '" + dir + "' of '" + archive_path +
                      "' was made by another program while the archive was mounted",
                  EBUSY);
    }
    ClearContents(*this);
    identity.digest = ArchiveIdentity::DigestOf(zip);  // left for now by OpenOrCreate
    CreateFreshManifest(*this);
  } catch (...) {
    // A full disk, say: what this attempt made holds no edits, and left
    // behind it would look like a journal to `tpkg edits` and the next mount.
    data_fd.reset();
    dir_fd.reset();
    lock_fd.reset();
    RemoveFolderWithoutEdits(dir);
    throw;
  }
  created = true;
}

Journal Journal::OpenOrCreate(const std::string& archive_path, const ZipReader& original,
                              const JournalOptions& options) {
  auto impl = std::make_unique<JournalState>(original);
  impl->commit_delay = options.commit_delay;
  impl->on_commit_failure = options.on_commit_failure;
  impl->archive_path = ResolvedOrThrow(archive_path);
  CheckSameFile(impl->archive_path, original);
  impl->dir = options.directory.empty() ? DirectoryFor(impl->archive_path) : options.directory;
  // The digest (every entry read) only when a header is compared or written
  // now: a journal made at the first change takes it then (EnsureCreated).
  impl->identity = ArchiveIdentity::OfFile(original);
  CheckWritable(impl->archive_path);
  if (options.create_at_first_change) {
    struct stat st;
    if (::lstat(impl->dir.c_str(), &st) != 0) {
      const int err = errno;
      if (err != ENOENT) ThrowSystemError("Cannot stat '" + impl->dir + "'", err);
      impl->created = false;  // EnsureCreated() at the first change
      return Journal(std::move(impl));
    }
  }
  impl->identity.digest = ArchiveIdentity::DigestOf(original);
  LockDirectory(*impl);
  OpenDataDirectory(*impl);
  std::vector<std::string> notes;
  int temp_files = RemoveTempFiles(*impl, /*save_tmp=*/false);
  LoadManifest(*impl, &notes);
  temp_files += RemoveTempFiles(*impl);
  if (temp_files)
    notes.push_back("removed " +
                    Counted(temp_files, "unfinished temp file", "unfinished temp files"));
  if (int n = RepairPatches(*impl))
    notes.push_back("dropped " + Counted(n, "unsynced in-place write", "unsynced in-place writes") +
                    ": a crash lost their data files");
  int remade = 0;
  if (int n = RemoveOrphanData(*impl, &remade))
    notes.push_back("removed " + Counted(n, "orphan data file", "orphan data files"));
  if (remade)
    notes.push_back("made " + Counted(remade, "created file", "created files") +
                    " again, empty: a crash lost their unsynced names");
  if (impl->recovered) impl->summary = RecoveredLine(*impl);
  for (const std::string& note : notes) AddNote(&impl->summary, impl->dir, note);
  return Journal(std::move(impl));
}

std::optional<Journal> Journal::OpenExisting(const std::string& archive_path,
                                             const ZipReader& original,
                                             const JournalOptions& options) {
  const std::string dir =
      options.directory.empty() ? DirectoryFor(ResolvedOrThrow(archive_path)) : options.directory;
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return std::nullopt;
    ThrowSystemError("Cannot stat '" + dir + "'", err);
  }
  return OpenOrCreate(archive_path, original, options);
}

std::optional<std::string> Journal::DiscardExisting(const std::string& archive_path,
                                                    const ZipReader& original,
                                                    const JournalOptions& options) {
  auto impl = std::make_unique<JournalState>(original);
  impl->archive_path = ResolvedOrThrow(archive_path);
  impl->dir = options.directory.empty() ? DirectoryFor(impl->archive_path) : options.directory;
  struct stat st;
  if (::lstat(impl->dir.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return std::nullopt;
    ThrowSystemError("Cannot stat '" + impl->dir + "'", err);
  }
  LockDirectory(*impl);
  OpenDataDirectory(*impl);
  impl->created = true;  // what Remove() takes away is there
  std::string dir = impl->dir;
  Journal(std::move(impl)).Drop();
  // Drop() leaves a folder it cannot remove (another file in it, no write
  // permission on its parent): not discarded, then.
  if (::lstat(dir.c_str(), &st) == 0)
    throw Error(Errc::kIo,
                "Cannot remove the journal '" + dir + "': it is not empty or its " +
                    "folder is not writable (its edits are gone)",
                ENOTEMPTY);
  return dir;
}

void Journal::Drop() { Remove(/*saved=*/false); }

void Journal::DropSaved() {
  // A save that left the archive's identity as it was (only modes or times
  // changed: the identity's digest leaves them out) is not told apart from
  // its journal's own archive at the next open, which would replay the
  // manifest: its removal must then be synced before the data files go.
  Remove(/*saved=*/CommitNamesNewIdentity());
}

void Journal::Remove(bool saved) {
  std::unique_lock lock(impl_->mu);
  if (impl_->dropped) return;
  if (!impl_->created) {  // nothing was ever written
    impl_->dropped = true;
    return;
  }
  JournalState& impl = *impl_;
  impl.QuiesceCommitter(lock);  // no sync of the manifest may run while it goes
  // The manifest goes first: without it, whatever else remains is orphans.
  ClearContents(impl, saved);
  RemoveTempFiles(impl);
  ::unlinkat(impl.dir_fd.get(), kDataDirName, AT_REMOVEDIR);
  ::unlinkat(impl.dir_fd.get(), kLockName, 0);
  // ENOTEMPTY: another daemon started using the directory after our unlink
  // of the lock; it is theirs now.
  ::rmdir(impl.dir.c_str());
  impl.log.reset();
  impl.data_fd.reset();
  impl.dir_fd.reset();
  impl.lock_fd.reset();
  impl.dropped = true;
  // After a save, the folder's removal is not synced (a device flush, the
  // dearest step of a save on many disks): a journal that reappears after a
  // power loss is recognised as a completed save or holds no changes, and
  // the next OpenOrCreate removes it. Otherwise (edits discarded, nothing
  // changed: rare, and no save waits for it) it is, so that `tpkg info`
  // shows no journal folder that only a power loss brought back.
  if (saved) return;
  try {
    FsyncDirectory(DirName(impl.dir));
  } catch (const Error&) {
    // Not durable yet is harmless, as above.
  }
}

}  // namespace tpkg
