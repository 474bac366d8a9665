// journal.h: the on-disk, copy-on-write store of the edits made to one
// archive through a read/write mount, and the current namespace they produce.
//
// Edits live on disk from the first write: a record's bytes move into a
// journal data file the first time it is written (copy-on-write from the
// archive, fsync'd), or, for a stored record written in place through
// OpenPatch (what the mount does), only the 64 KiB chunks written so far
// (tpkg/record_patch.h: a 4-byte write into a 512 MiB storage copies one
// chunk, not the record), and every namespace change (create, unlink, rename,
// mkdir, rmdir, chmod, utimens) is appended to a checksummed manifest before
// the call returns. Durability, precisely (doc/design.md §3.3):
//   * A killed daemon (SIGKILL, a crash of tpkgfs) loses nothing: every
//     change and every write() is in the kernel's page cache when the call
//     returns, and the next OpenOrCreate() replays the manifest.
//   * A crash of the machine (power loss, kernel panic) keeps every change
//     up to the last group commit: the manifest is fdatasync'd by a committer
//     thread that starts a sync as soon as changes are unsynced, one sync
//     covering every change made while the previous one ran (so a change is
//     durable at most two manifest syncs after it returns; committed() says
//     whether all are). Recovery replays a prefix of the changes, in order:
//     a namespace the mount really had, never a mix.
//   * Fsync(), Commit() (a user's fsync(2) of a file, fsyncdir(2) of a
//     folder) and a save return only once every change made before them is
//     durable, and Fsync() also the file's bytes. Written bytes are durable
//     only after such a sync, as on a local file system; close(2) syncs
//     nothing.
//   * A failed group commit (EIO, ENOSPC from fdatasync) fails every later
//     change and sync with EIO: what was not synced may be lost, and the
//     mount says so rather than accept more. The background committer hands
//     the failure to JournalOptions::on_commit_failure when it happens.
//
//   auto zip = tpkg::ZipReader::Open("model.pt");
//   auto journal = tpkg::Journal::OpenOrCreate("model.pt", zip);
//   if (!journal.recovery_summary().empty()) log(journal.recovery_summary());
//   tpkg::ScopedFd fd = journal.OpenForWrite("pkg/code.py", /*truncate=*/true);
//   ::pwrite(fd.get(), "x = 1\n", 6, 0);
//   journal.Rename("pkg/code.py", "pkg/main.py");
//   ... at unmount: tpkg::WriteBack(journal, metadata) (write_back.h),
//       or journal.Drop() when !journal.dirty().
//
// Rules (documented here because users see them):
//
// * Location: a directory beside the archive, `<dir>/.<archive name>.tpkgfs/`
//   (the archive path is resolved through symlinks first), so that it is on
//   the same filesystem as the archive: write-back renames into place
//   atomically and copies can share extents. JournalOptions::directory
//   overrides it (e.g. a state directory on the same filesystem). If the
//   archive or its directory is not writable (EACCES, EPERM when immutable,
//   EROFS), or the journal directory cannot be created or locked, OpenOrCreate throws and
//   nothing is written: the daemon then mounts read-only with a warning, so
//   no write is ever accepted that could not be kept. The directory must be
//   a real directory (not a symlink) owned by the user, else EPERM/ENOTDIR:
//   whoever owns it controls what the journal's files point to.
// * Layout:
//     lock        flock(LOCK_EX) held while a Journal is open; holds the pid
//     manifest    append-only log of namespace operations (manifest_log.h):
//                 a header with the archive's identity, then one checksummed
//                 entry per operation; a torn tail is detected and dropped
//     data/<id>   the full current bytes of one edited or created record
//                 (<id> is a decimal number never reused within a journal),
//                 or a patch: a sparse file of the record's size holding the
//                 chunks written so far, which the manifest lists
//     save.tmp    the archive being written by a write-back
//     manifest.tmp  a manifest being created
//   With JournalOptions::create_at_first_change the directory is made
//   (locked, manifest created and synced) by the first change, under the
//   journal's lock and before that change is logged; until then nothing of
//   the journal exists on disk, and Drop() has nothing to remove.
//   Anything else in data/ that the manifest does not reference, save.tmp and
//   manifest.tmp are leftovers of an interrupted copy-on-write, write-back or
//   creation: OpenOrCreate removes them, so no orphan survives a recovery.
// * Identity: the manifest header records the archive's size and a digest of
//   its central directory (its mtime only for messages). A journal is never
//   replayed onto another archive: OpenOrCreate throws an Error naming the
//   journal, the archive, and both identities. One exception makes a crashed
//   write-back safe: if the archive now matches the identity a write-back
//   committed to (the kCommit entry written just before the final rename),
//   the save had completed and the journal is simply removed.
// * Concurrency between processes: two daemons never share a journal; the
//   second OpenOrCreate fails with EBUSY naming the first one's pid.
// * Attributes: permission bits and mtimes start as the archive's ZIP
//   entries hold them (torch writes none) and are saved into the archive by
//   a write-back (write_back.h), as are empty folders; SetMode and SetMtime
//   make the journal dirty(). Times are logged with every operation, so the
//   ctime of what changed and the mtime/ctime of the folders whose listing
//   changed (create, mkdir, unlink, rmdir, rename) replay identically; a new
//   file or folder gets the current time. What the archive cannot hold lasts
//   only as long as the journal (until the next successful write-back): the
//   access time (SetAtime, apart from the mtime), the ctime, sub-second
//   parts of times, and the owner of a file (its creator, Create/Mkdir
//   `owner`, or SetOwner's).
//   An mtime a ZIP cannot hold (before 1970 or after 2106) fails with
//   EOVERFLOW.
// * Python bytecode caches are never part of a package: creating, making or
//   renaming to a path with a `__pycache__` component, or a file name ending
//   in `.pyc`, fails with EPERM (IsBytecodeCachePath). Python's importer
//   ignores every OSError when it writes a cache, so importing from a mount
//   works and simply compiles in memory; records the archive already has
//   under such names stay as they are.
// * Growth: the manifest gains ~100 bytes per namespace operation and is
//   read whole at recovery; it is not compacted before the next write-back.
//
// Paths are record names relative to the archive's prefix folder, '/'
// separated ("pkg/code.py"); "" is the root directory. Errors are
// tpkg::Error carrying the errno POSIX specifies (ENOENT, EEXIST, ENOTDIR,
// EISDIR, ENOTEMPTY, EINVAL, ENAMETOOLONG, EBUSY, ENOSPC, ...), so the FUSE
// layer returns -ToErrno(e).
//
// Thread safety: every method may be called from any thread (and every
// RecordPatch method, which shares the same lock); one mutex inside
// serializes them (including the copy-on-write copy of a first write, which
// therefore delays other journal calls for the length of that copy). The
// ZipReader passed to OpenOrCreate must outlive the Journal.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/record_patch.h"
#include "tpkg/record_path.h"
#include "tpkg/scoped_fd.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

struct JournalState;  // private (src/lib/journal_impl.h)

struct JournalOptions {
  // Where the journal lives; empty: Journal::DirectoryFor(archive_path).
  std::string directory;
  // How long the committer lets changes gather before it syncs them. 0 (the
  // default): at once, as a sync already covers every change made while the
  // previous one ran. Tests use a long delay to see what a machine crash
  // before the commit would keep; Commit() and Fsync() never wait for it.
  std::chrono::milliseconds commit_delay{0};
  // Called once, from the committer thread and without the journal's lock,
  // with a one-line message when a background sync of the manifest fails.
  // Every later change fails with EIO anyway, but the person who made the
  // failed change may never make another: the daemon logs this at once.
  // Must be thread-safe and must not call back into the journal.
  std::function<void(const std::string& message)> on_commit_failure;
  // Make the journal directory at the first change instead of in
  // OpenOrCreate() when the archive has none: a session that changes
  // nothing never writes (or syncs) anything beside the archive. An existing
  // journal is still locked and recovered by OpenOrCreate(). The checks that
  // refuse a journal (the archive or its folder not writable) still run in
  // OpenOrCreate(); what can only fail when the directory is made (ENOSPC,
  // EBUSY: another process made it meanwhile) fails that first change.
  // The daemon sets it.
  bool create_at_first_change = false;
};

// The modes a mount shows for a file or folder the archive holds none for;
// a save stores a mode only when it differs (tpkg/write_back.h).
inline constexpr uint32_t kDefaultFileMode = 0644;
inline constexpr uint32_t kDefaultFolderMode = 0755;

// One name in the current namespace.
struct JournalNode {
  bool is_dir = false;
  // Files: the original record whose bytes this file still has (possibly
  // under another name after a rename); nullptr once the content lives in
  // the journal (edited()).
  const ZipEntry* original = nullptr;
  // Files: the journal data file holding the content (0 while original). It
  // changes only when the content is replaced (first write, O_TRUNC of an
  // original), never on rename: a stable identity for inode/page-cache logic.
  uint64_t data_id = 0;
  // Files: when set, data file `data_id` is a patch over this original
  // record, not the whole content: read it through Journal::FindPatch
  // (tpkg/record_patch.h). edited() is true.
  const ZipEntry* patch_base = nullptr;
  uint64_t size = 0;                     // files: current size in bytes
  std::optional<uint32_t> mode;          // the archive's, or set by Create/Mkdir/SetMode
  // The archive's, SetMtime's, or the data file's when edited.
  std::optional<struct timespec> mtime;
  std::optional<struct timespec> atime;  // SetAtime's (else: as the mtime)
  std::optional<struct timespec> ctime;  // the last change (else: as the mtime)
  std::optional<struct timespec> chosen_mtime;  // the last SetMtime's (saved while still current)
  std::optional<uint32_t> uid, gid;             // the owner, when not the mount's (creator, chown)
  uint32_t subdirs = 0;                  // folders: how many folders it holds
  bool edited() const { return !is_dir && original == nullptr; }
};

// Who made or owns a file or folder (fuse_get_context, chown), when it is not
// the mount's owner.
struct JournalOwner {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// A folder, for write-back (Journal::Folders()).
struct JournalFolder {
  std::string path;
  std::optional<uint32_t> mode;
  std::optional<struct timespec> mtime;
  std::optional<struct timespec> chosen_mtime;  // as JournalNode's
  bool empty = false;
  bool made = false;  // made by Mkdir (not a folder the archive's records implied)
  // The folder entry the archive had under this very name, if any.
  const ZipEntry* original_entry = nullptr;
};

struct JournalChild {
  std::string name;  // one component
  bool is_dir = false;
};

// Validates a record path as a name a file can have in the mount and a
// record can have in the archive (CheckRecordPath of tpkg/record_path.h with
// the NAME_MAX and PATH_MAX rules, as an errno). Every Journal operation
// applies it; the FUSE layer may call it first to answer lookups of
// impossible names.
//
//   path                         result
//   "" (the root), "a/b.py"      0
//   "/a", "a/", "a//b", "a/..", "./a", "a\0b"   EINVAL
//   a component over 255 bytes   ENAMETOOLONG (NAME_MAX)
//   a path over 4095 bytes       ENAMETOOLONG (PATH_MAX)
//   a component that is not valid UTF-8   EILSEQ
int ValidateRecordPath(std::string_view path);
// The same rule with its reason ("" for a path the journal holds).
RecordPathProblem JournalPathProblem(std::string_view path);

// Whether `path` names a Python bytecode cache: a `__pycache__` component
// anywhere, or a last component ending in `.pyc`. The journal refuses to
// create such names (EPERM, see the rules above).
//
//   "pkg/__pycache__", "pkg/__pycache__/m.cpython-311.pyc", "m.pyc"   true
//   "pkg/m.py", "pkg/pycache/x", "pkg/m.pyc.txt"                      false
bool IsBytecodeCachePath(std::string_view path);

class Journal {
 public:
  // Opens the journal of `archive_path` (creating it if there is none),
  // takes its lock, removes orphans and replays any edits found. `original`
  // must be the archive at `archive_path`, opened by the caller.
  static Journal OpenOrCreate(const std::string& archive_path, const ZipReader& original,
                              const JournalOptions& options = {});
  // Like OpenOrCreate, but only when a journal exists: std::nullopt (and
  // nothing created) when the archive has none. For tools that inspect or
  // discard pending edits (`tpkg edits`); EBUSY while a mount holds it.
  static std::optional<Journal> OpenExisting(const std::string& archive_path,
                                             const ZipReader& original,
                                             const JournalOptions& options = {});
  // Removes the journal of `archive_path` and every edit in it without
  // reading it, so also one OpenExisting cannot open (a damaged manifest,
  // the edits of another archive): takes its lock first (EBUSY while a
  // mount holds it), as Drop() does. The folder removed, or nullopt when
  // there is none.
  static std::optional<std::string> DiscardExisting(const std::string& archive_path,
                                                    const ZipReader& original,
                                                    const JournalOptions& options = {});
  // `<dir>/.<name>.tpkgfs` for `<dir>/<name>` (no filesystem access).
  static std::string DirectoryFor(const std::string& archive_path);
  // What the journal of `archive_path` (resolved by the caller; `original`
  // opened from it) holds for the archive as it is now, read without its lock
  // and changing nothing, so that an inspection never gets in a mount's way
  // (`tpkg info`): no edits (no journal; an empty one; the journal of a save
  // that completed before its daemon could remove it, or an empty one of
  // another version, which the next mount drops), edits waiting for a save,
  // or edits made for another version of the archive. Throws Error when the
  // journal cannot be read (kCorrupt for a damaged manifest).
  enum class Holds { kNoEdits, kEdits, kEditsOfAnotherArchive };
  static Holds Inspect(const std::string& archive_path, const ZipReader& original);

  Journal(Journal&&) noexcept;
  Journal& operator=(Journal&&) noexcept;
  ~Journal();  // releases the lock; keeps the journal on disk

  const std::string& archive_path() const;  // resolved (realpath)
  const std::string& directory() const;
  // True when directory() was made and has been deleted since (another
  // program's `rm -rf`, a clean-up job): the edits in its data files are
  // gone, and no advice may send anyone there.
  bool DirectoryDeleted() const;
  const ZipReader& original() const;

  // True when OpenOrCreate found edits from an earlier session.
  bool recovered() const;
  // What OpenOrCreate found and did, for the daemon to print; empty when
  // there was nothing to say. Starts with "recovered N edited records from
  // <journal>" when recovered().
  const std::string& recovery_summary() const;
  // True when the namespace or some record's content may differ from the
  // archive (a write-back is needed; it may still find nothing changed).
  bool dirty() const;

  // The files that differ from the archive, for people: sorted by path,
  // deleted records last. A written file may still hold its original bytes.
  struct PendingEdit {
    enum class Kind { kWritten, kAdded, kRenamed, kDeleted };
    Kind kind = Kind::kWritten;
    std::string path;  // the current name (the record's name for kDeleted)
    std::string from;  // kRenamed: the record's name in the archive
  };
  std::vector<PendingEdit> PendingEdits() const;
  // The edits Inspect() finds waiting (kEdits), replayed in memory as the
  // next read/write mount would take them, read as Inspect() reads (no lock,
  // nothing changed): what a read-only view does not show. Empty for
  // kNoEdits and kEditsOfAnotherArchive. Throws as Inspect().
  static std::vector<PendingEdit> InspectEdits(const std::string& archive_path,
                                               const ZipReader& original);

  // --- The current namespace -------------------------------------------
  std::optional<JournalNode> Stat(std::string_view path) const;
  // Children of a directory, sorted by name; throws ENOENT / ENOTDIR.
  std::vector<JournalChild> List(std::string_view dir) const;
  // Every file, sorted by path (a snapshot, for write-back).
  std::vector<std::pair<std::string, JournalNode>> Files() const;
  // Every file's path, sorted (a snapshot; what Files() says less the nodes).
  std::vector<std::string> FileNames() const;
  // Every folder but the root, sorted by path (a snapshot, for write-back).
  std::vector<JournalFolder> Folders() const;
  // Whether the root (the mount's top folder) was given a mode or an mtime:
  // the archive has no entry for its prefix folder to keep them in.
  bool RootAttributesSet() const;

  // --- Content ------------------------------------------------------------
  // A read-only descriptor of an edited file's data; an empty ScopedFd when
  // the file is not edited (read the original record instead). EINVAL for a
  // patched file (JournalNode::patch_base): its data file is not the
  // content; read it through FindPatch.
  ScopedFd OpenForRead(std::string_view record) const;
  // The record as a patch over its original (tpkg/record_patch.h): the
  // existing patch, or a new one for an original stored record (an empty
  // sparse data file of its size, synced with its name, then logged: no
  // byte is copied). nullptr when the record cannot be patched: a deflated
  // original (it cannot be written in place; OpenForWrite copies it), or a
  // whole journal file already. ENOENT, EISDIR.
  std::shared_ptr<RecordPatch> OpenPatch(std::string_view record);
  // The patch of a patched file; nullptr for any other file. ENOENT, EISDIR.
  std::shared_ptr<RecordPatch> FindPatch(std::string_view record) const;
  // A read/write descriptor of the record's journal data file. The first
  // call for an original record copies its bytes (stored: copy_file_range
  // from the archive; deflated: inflated with bounded memory) unless
  // `truncate`, fsyncs the copy and logs it; so does the first call for a
  // patched file (its merged bytes; the patch's RecordPatch objects then
  // write to a file no longer in the namespace). ENOENT, EISDIR.
  ScopedFd OpenForWrite(std::string_view record, bool truncate);
  // A new empty file (O_CREAT|O_EXCL semantics: EEXIST if the name exists).
  ScopedFd Create(std::string_view record, std::optional<uint32_t> mode = std::nullopt,
                  std::optional<JournalOwner> owner = std::nullopt);
  // truncate(2) by name: copies at most `size` original bytes.
  void Truncate(std::string_view record, uint64_t size);
  // Makes an edited file's data durable (fdatasync; nothing for originals),
  // then commits every change made so far (Commit()).
  void Fsync(std::string_view record);
  // Makes every change made so far durable against a machine crash (one
  // fdatasync of the manifest, unless the committer's already covered them).
  void Commit();
  // Whether every change made so far is durable (no commit is pending).
  bool committed() const;

  // --- Namespace (each logged before returning; durable as above) ---------
  void Unlink(std::string_view record);
  // rename(2): file over file, directory (with its contents) over an empty
  // directory. `no_replace`: RENAME_NOREPLACE (EEXIST).
  void Rename(std::string_view from, std::string_view to, bool no_replace = false);
  void Mkdir(std::string_view dir, std::optional<uint32_t> mode = std::nullopt,
             std::optional<JournalOwner> owner = std::nullopt);
  void Rmdir(std::string_view dir);
  void SetMode(std::string_view path, uint32_t mode);
  // EOVERFLOW for a time a ZIP cannot hold (see the rules above).
  void SetMtime(std::string_view path, struct timespec mtime);
  void SetAtime(std::string_view path, struct timespec atime);
  // chown(2), with the caller's right to it checked by the kernel
  // (default_permissions); nullopt: the mount's owner. Like a creator, an
  // owner lasts as long as the journal: a ZIP holds none.
  void SetOwner(std::string_view path, std::optional<JournalOwner> owner);

  // --- Write-back support (write_back.h) -----------------------------------
  struct SaveFile {
    ScopedFd fd;
    std::string path;
  };
  // A new, empty temp file for the next archive, inside the journal.
  SaveFile CreateSaveFile();
  // Throws (kIo, ESTALE) when the file at archive_path() is another archive
  // than the one opened, naming the archive and both states: saving would
  // overwrite someone's change. Another inode, size or mtime alone is no
  // change: the file is then judged as Open() judges it (size and central
  // directory), so a `touch` or a copy of the same bytes is the same archive.
  // kDeleted when no file is there and the opened one has no name left (it
  // was deleted while mounted): the journal's open file is the last copy of
  // the archive, and a save puts the package back at archive_path() (without
  // replacing a file that appears there meanwhile). A file that moved away
  // throws as any missing one.
  enum class ArchiveAtPath { kUnchanged, kDeleted };
  ArchiveAtPath CheckArchiveUnchanged() const;
  // The same judgement of the file at `path`, which a save has just taken off
  // archive_path() (write_back.cc exchanges the two names in one step, so no
  // file put there between a check and the rename is ever overwritten).
  void CheckDisplacedArchive(const std::string& path) const;
  // The file now at archive_path(), as opening this journal again (the next
  // mount, `tpkg edits`) would judge it, by the rule Open() uses: still the
  // archive these edits were made for (size and central directory: a `touch`
  // or a copy of the same bytes is), so the edits are taken; the archive
  // this journal's save renamed into place (the save completed, a later
  // step failed), so the journal is removed; another archive, or a file that
  // cannot be read as one, so the journal is refused; or no file at all.
  // Reads the current file's central directory; for the advice after a
  // failed save. Never throws.
  enum class ArchiveNow { kSameArchive, kSaveCompleted, kAnotherArchive, kMissing };
  ArchiveNow JudgeArchiveNow() const;
  // After a failed save: when the archive as opened was deleted while
  // mounted (no name left, so the journal's open file is its last copy),
  // writes its bytes back (durably), at archive_path() when no file is there
  // (a mount of it then takes the edits, as before), else beside it as
  // `<archive>.tpkgfs-original` (`-2`, `-3`... when taken). Returns where;
  // nullopt when it was not deleted. Throws when it cannot be written.
  std::optional<std::string> KeepDeletedArchive();
  // Records (durably) that the archive is about to be replaced by
  // `new_archive` (the finished temp file, opened).
  void MarkCommitting(const ZipReader& new_archive);
  // Whether the last MarkCommitting named an archive whose identity differs
  // from the one the journal was made for (false when only modes or times
  // changed, which the identity leaves out).
  bool CommitNamesNewIdentity() const;
  // Removes the journal from disk (when nothing changed, or to discard the
  // edits), durably: the manifest's removal is synced before the data files
  // go, and the folder's removal after. The Journal may not be used
  // afterwards.
  void Drop();
  // The same after a write-back whose commit entry (MarkCommitting) and
  // rename are durable. When the commit names a new identity, two device
  // flushes cheaper: neither the manifest's removal (before the data files
  // go) nor the folder's is synced, because a manifest that survives a power
  // loss names the archive in place as committed, and the next OpenOrCreate
  // removes it without reading a data file. (Until the file system commits
  // the removal, such a manifest can come back; if the archive was replaced
  // by another meanwhile, the next mount refuses it, naming both.) Otherwise
  // exactly Drop().
  void DropSaved();

 private:
  explicit Journal(std::unique_ptr<JournalState> state);
  void Remove(bool saved);
  std::unique_ptr<JournalState> impl_;
};

}  // namespace tpkg
