// journal_impl.h (private): the state behind tpkg::Journal, shared by
// journal.cc (live operations) and journal_open.cc (locking, recovery,
// orphan removal).
//
// Every namespace operation goes through the same three steps, live and at
// replay, so the two cannot disagree:
//   CheckEntry(e)  -> 0 or the POSIX errno       (nothing changed yet)
//   log->Append(e) -> durable                    (live only)
//   ApplyEntry(e)  -> the tree changes; returns data ids no longer used
//
// Thread safety: all members are guarded by `mu` (taken by every public
// Journal method); no other lock exists, so there is no lock order.
#pragma once

#include <mutex>
#include <optional>
#include <set>
#include <string>
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

struct JournalState {
  explicit JournalState(const ZipReader& zip) : zip(zip), tree(zip.entries()) {}

  const ZipReader& zip;
  std::string archive_path;
  std::string dir;
  ArchiveIdentity identity;
  ScopedFd lock_fd;
  ScopedFd dir_fd;
  ScopedFd data_fd;
  std::optional<ManifestLog> log;
  RecordTree tree;
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
  bool dirty = false;
  bool recovered = false;
  bool dropped = false;
  std::string summary;
  mutable std::mutex mu;

  int CheckEntry(const LogEntry& e) const;
  std::vector<uint64_t> ApplyEntry(const LogEntry& e);

  std::string DataPath(uint64_t id) const { return dir + "/data/" + std::to_string(id); }
  ScopedFd OpenData(uint64_t id, int flags) const;
  // Deletes data files the namespace stopped referencing; failures only
  // leave orphans, which the next OpenOrCreate removes.
  void FreeData(const std::vector<uint64_t>& ids) const;
  void ThrowIfDropped() const;
};

// Throws Error(ErrcFromErrno(err), "Cannot <verb> '<path>': <reason>", err).
[[noreturn]] void ThrowOpError(const std::string& verb, std::string_view path, int err);

// True for operations that change what a write-back would write.
bool ChangesArchive(LogOp op);

}  // namespace tpkg
