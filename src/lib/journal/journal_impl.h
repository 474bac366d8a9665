// journal_impl.h (private): the state behind tpkg::Journal, shared by
// journal.cc (live operations) and journal_open.cc (locking, recovery,
// orphan removal).
//
// Every namespace operation goes through the same three steps, live and at
// replay, so the two cannot disagree:
//   CheckEntry(e)  -> 0 or the POSIX errno       (nothing changed yet)
//   log->Write(e)  -> in the page cache; WakeCommitter()      (live only)
//   ApplyEntry(e)  -> the tree changes; returns data ids no longer used,
//                     deleted once the entry is committed (FreeWhenCommitted)
//
// Group commit (journal.h has the promise users see): a namespace entry is
// written without a sync, so an operation costs no fdatasync of its own; the
// committer thread starts one fdatasync of the manifest as soon as entries
// are unsynced, and every entry written while it runs waits for the next, so
// one sync covers a whole burst of creates. Commit() (a user's fsync, the
// save's kCommit) syncs at once. Data files an entry stops referencing are
// deleted only once that entry is durable: a power loss that drops the entry
// must find them still there.
//
// Thread safety: all members are guarded by `mu` (taken by every public
// Journal method and by the committer thread, which releases it around its
// fdatasync); no other lock exists, so there is no lock order.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "journal/archive_identity.h"
#include "journal/manifest_log.h"
#include "journal/record_tree.h"
#include "tpkg/journal.h"

namespace tpkg {

inline constexpr const char* kLockName = "lock";
inline constexpr const char* kDataDirName = "data";
inline constexpr const char* kSaveTempName = "save.tmp";
inline constexpr uint8_t kNoReplace = 2;  // LogEntry::flags bit for kRename

// The chunk map of a record patched in place (tpkg/record_patch.h), shared
// by the journal (while the file is in the namespace) and its RecordPatch
// objects. Guarded by JournalState::mu.
struct PatchState {
  const ZipEntry* base = nullptr;  // the original record (stored)
  uint64_t base_len = 0;           // archive bytes below this show through unmapped chunks
  uint64_t chunk_size = 0;         // as logged by kSetPatch
  std::vector<bool> mapped;        // chunk index -> held by the data file
  uint64_t mapped_count = 0;       // chunks set in `mapped`
  bool Mapped(uint64_t chunk) const { return chunk < mapped.size() && mapped[chunk]; }
  void Map(uint64_t first, uint64_t count);
};

struct JournalState {
  explicit JournalState(const ZipReader& zip) : zip(zip), tree(zip.entries()) {}
  // Stops the committer and syncs what it has not (best effort: a failure
  // leaves what a power loss would, a prefix of the operations).
  ~JournalState();

  const ZipReader& zip;
  std::string archive_path;
  std::string dir;
  // The archive as opened; its digest is 0 until EnsureCreated() while the
  // journal is not created (only a header needs it).
  ArchiveIdentity identity;
  ScopedFd lock_fd;
  ScopedFd dir_fd;
  ScopedFd data_fd;
  std::optional<ManifestLog> log;
  RecordTree tree;
  // The patched files of the namespace, by data id (an id leaves when the
  // namespace stops referencing it; open RecordPatch objects keep theirs).
  std::map<uint64_t, std::shared_ptr<PatchState>> patches;
  uint64_t next_id = 1;
  // A created (empty) data file's directory entry is not synced when the
  // file is made: the manifest's fdatasync is the create's only sync. If a
  // crash loses such a name, recovery makes the empty file again (its
  // unsynced bytes are lost as any unsynced write is). Set when such a name
  // may not be durable yet; the next fsync of any data file, or the next
  // data file made with content, syncs the data folder and clears it.
  bool data_names_pending = false;
  // Ids that replayed create entries named (recovery only).
  std::set<uint64_t> created_ids;
  // False until the journal directory exists (create_at_first_change and
  // no journal at open): EnsureCreated() makes it before the first change.
  bool created = true;
  bool dirty = false;
  bool recovered = false;
  bool dropped = false;
  // Set by MarkCommitting: the identity its commit entry names. When it is
  // not the header's, a manifest that outlives the save cannot be taken for
  // one made for the archive in place (Journal::CommitNamesNewIdentity,
  // which Journal::DropSaved relies on).
  std::optional<ArchiveIdentity> last_commit;
  std::string summary;
  mutable std::mutex mu;

  // --- Group commit (group_commit.cc) ---
  // Data files to delete once the manifest is durable up to `first`.
  std::vector<std::pair<uint64_t, uint64_t>> frees_after_commit;
  std::condition_variable commit_cv;  // entries to sync, a sync done, or stop
  std::thread committer;              // started by the first Write
  std::chrono::milliseconds commit_delay{0};  // JournalOptions::commit_delay
  std::function<void(const std::string&)> on_commit_failure;  // JournalOptions'
  bool stop_committer = false;
  bool syncing = false;               // an fdatasync of the manifest is running
  int commit_errno = 0;               // a failed sync: every later change fails

  // log->Write(e) and wakes the committer.
  void LogGrouped(const LogEntry& e);
  // Deletes `ids` once every entry written so far is durable.
  void FreeWhenCommitted(const std::vector<uint64_t>& ids);
  // Makes every entry written so far durable; releases `lock` (on mu) during
  // the fdatasync. Throws kIo after a failed sync.
  void Commit(std::unique_lock<std::mutex>& lock);
  void RunCommitter();
  // Waits for a running sync and stops the committer (mu held by `lock`).
  void QuiesceCommitter(std::unique_lock<std::mutex>& lock);

  // Makes, locks and syncs the journal directory and an empty manifest if
  // `created` is false (journal_open.cc); mu held.
  void EnsureCreated();

  int CheckEntry(const LogEntry& e) const;
  std::vector<uint64_t> ApplyEntry(const LogEntry& e);

  std::string DataPath(uint64_t id) const { return dir + "/data/" + std::to_string(id); }
  ScopedFd OpenData(uint64_t id, int flags) const;
  // Deletes data files the namespace stopped referencing; failures only
  // leave orphans, which the next OpenOrCreate removes.
  void FreeData(const std::vector<uint64_t>& ids) const;
  void ThrowIfDropped() const;
};

// record_patch.cc, `mu` held: what Journal::Truncate and OpenForWrite do to
// a patched file. ResizePatch: truncate(2) of data file <id> (a shrink below
// the base length is synced, then logged when the id is still referenced).
// CopyPatch: writes the first `size` merged bytes at offset 0 of `dst_fd`.
// The chunk map of patched data file <id>; Error(kCorrupt) when a damaged
// manifest left a patched file without one (ids shared by two files).
PatchState& PatchOf(const JournalState& impl, uint64_t id);
// Recovery (before orphans are removed): a patch whose data file a crash
// lost (its name is synced only with its first chunk, or by a user's fsync)
// is dropped, the file showing its original record again: its writes were
// not synced. A patch shorter than its base length (a crash lost the size
// of a new patch, or the entry of a synced cut) gets that length back when
// it maps no chunk (nothing of it was written), else the cut is logged.
// Returns how many patches were dropped.
int RepairPatches(JournalState& impl);
// CheckEntry for kSetPatch, kPatchChunks and kPatchCut.
int CheckPatchEntry(const JournalState& impl, const LogEntry& e);
void ResizePatch(JournalState& impl, uint64_t id, PatchState& state, int data_fd, uint64_t size);
void CopyPatch(const JournalState& impl, const PatchState& state, int data_fd, int dst_fd,
               uint64_t size, const std::string& what);

// Throws Error(ErrcFromErrno(err), "Cannot <verb> '<path>': <reason>", err).
[[noreturn]] void ThrowOpError(const std::string& verb, std::string_view path, int err);

// True for operations that change what a write-back would write.
bool ChangesArchive(LogOp op);

// The edits `impl` holds against its archive (Journal::PendingEdits; the
// caller holds `mu` or owns `impl` alone), one classification for what
// `tpkg edits` lists and what a recovery says it found.
std::vector<Journal::PendingEdit> EditsOf(const JournalState& impl);

}  // namespace tpkg
