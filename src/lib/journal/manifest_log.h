// manifest_log.h (private): the journal's append-only log of namespace
// operations, with a checksum per entry so that a torn tail is detected and
// dropped.
//
// File format (all integers little-endian):
//
//   magic     8 bytes  "TPKGJNL1"
//   entries   repeated:
//     u32 payload length (1 .. kMaxPayload)
//     u32 CRC-32 of the payload (zlib polynomial)
//     payload: u8 op, u8 flags, str path, str path2, u64 id, u32 mode,
//              i64 sec, i64 nsec, u64 identity.size, u64 identity.digest,
//              i64 identity.mtime_sec, i64 identity.mtime_nsec,
//              then (entries written since tpkgfs kept times and owners; an
//              entry without them replays with neither)
//              i64 at_sec, i64 at_nsec, u32 uid, u32 gid
//              (str = u32 length + bytes)
//
// The first entry is always kHeader (the identity of the archive the edits
// apply to, the archive path in `path`). The file is created whole (temp,
// fsync, rename, fsync dir), so a valid header is always there; every later
// entry is one pwrite(), followed by fdatasync() (Append) or left for a later
// one that covers many entries (Write, then Synced once some fdatasync of
// fd() that started after it returned: the journal's group commit,
// journal_impl.h). Reading stops at the first entry that is incomplete, too
// long or fails its CRC: that is a write torn by a crash (or entries a power
// loss kept only partly, out of order), and it is truncated away before
// anything is appended, so a replay always sees a prefix of the operations.
//
//   ManifestLog log = ManifestLog::Create(dir_fd, "/x/.m.pt.tpkgfs", header);
//   log.Append({.op = LogOp::kUnlink, .path = "a/b.py"});   // durable on return
//   log.Write({.op = LogOp::kUnlink, .path = "a/c.py"});    // in the page cache
//
// Thread safety: none; the Journal serializes access with its mutex (its
// committer calls fdatasync(fd()) without it, then Synced() with it).
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "journal/archive_identity.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {

enum class LogOp : uint8_t {
  kHeader = 1,  // identity, path = archive path (informative)
  kCreate,      // path, id, mode (flags & kHasMode)
  kSetContent,  // path now holds journal data file `id`
  kUnlink,      // path
  kRename,      // path -> path2 (files or whole directories)
  kMkdir,       // path, mode (flags & kHasMode)
  kRmdir,       // path
  kSetMode,     // path, mode
  kSetMtime,    // path, sec, nsec
  kCommit,      // a write-back is about to replace the archive with `identity`
  kSetAtime,    // path, sec, nsec (the access time; never saved into the archive)
  // Records patched in place (tpkg/record_patch.h):
  kSetPatch,     // path (an original stored record) now is patched data file `id`,
                 // mode = its chunk size
  kPatchChunks,  // data file `id` holds chunks sec .. sec + nsec - 1 (path unused)
  kPatchCut,     // data file `id`: archive bytes show only below sec (path unused)
  kSetOwner,     // path, uid, gid (kNoOwner: the mount's owner; never saved into the archive)
};

inline constexpr uint8_t kHasMode = 1;
inline constexpr uint32_t kNoOwner = 0xffffffff;  // LogEntry::uid/gid: the mount's owner

struct LogEntry {
  LogOp op = LogOp::kHeader;
  uint8_t flags = 0;
  std::string path;
  std::string path2;
  uint64_t id = 0;
  uint32_t mode = 0;
  int64_t sec = 0;
  int64_t nsec = 0;
  ArchiveIdentity identity;
  // When the operation happened (0: unknown, an entry of an older journal):
  // it becomes the ctime of what changed and the mtime of the folders whose
  // listing changed, identically live and at replay.
  int64_t at_sec = 0;
  int64_t at_nsec = 0;
  // kCreate, kMkdir: who made the file; kSetOwner: who owns it now
  // (kNoOwner: the mount's owner).
  uint32_t uid = kNoOwner;
  uint32_t gid = kNoOwner;
};

// Builders (fields an operation does not use stay zero).
LogEntry PathEntry(LogOp op, std::string_view path, std::string_view path2 = {}, uint8_t flags = 0);
LogEntry ModeEntry(LogOp op, std::string_view path, std::optional<uint32_t> mode);
LogEntry MtimeEntry(std::string_view path, struct timespec mtime, LogOp op = LogOp::kSetMtime);
LogEntry IdentityEntry(LogOp op, const ArchiveIdentity& identity, std::string_view path = {});

struct ManifestContents {
  std::vector<LogEntry> entries;  // entries[0] is the header
  uint64_t torn_bytes = 0;        // bytes dropped from the tail
};

class ManifestLog {
 public:
  static constexpr const char* kFileName = "manifest";
  static constexpr const char* kTempName = "manifest.tmp";

  // Writes a log holding only `header`, atomically, in directory `dir_fd`
  // (`dir` is its path, for messages).
  static ManifestLog Create(int dir_fd, const std::string& dir, const LogEntry& header);
  // Opens the existing log, returns its entries, and truncates a torn tail.
  // kCorrupt when the magic or the header entry is unreadable.
  static ManifestLog Open(int dir_fd, const std::string& dir, ManifestContents* contents);
  // The entries of the log in `dir` as they are, changing nothing (a daemon
  // may be appending: a torn tail is left out, not cut). nullopt when there
  // is no log; errors as Open().
  static std::optional<ManifestContents> Read(const std::string& dir);

  ManifestLog(ManifestLog&&) noexcept = default;
  ManifestLog& operator=(ManifestLog&&) noexcept = default;

  // Appends and fdatasyncs. On failure the file is cut back to its previous
  // end (so no half entry precedes the next one) and Error is thrown; if even
  // that fails, every later Append throws.
  void Append(const LogEntry& entry);
  // Appends without a sync: the entry survives the death of the process
  // (page cache), and a power loss only once a sync covers it. On failure the
  // file is cut back as by Append.
  void Write(const LogEntry& entry);
  // Every byte up to `end` (an end() taken before an fdatasync(fd()) started
  // that has returned) is durable.
  void Synced(uint64_t end) { synced_ = std::max(synced_, end); }
  // A sync failed: what was written may be lost, so nothing more is accepted.
  void Break() { broken_ = true; }
  uint64_t end() const { return end_; }
  uint64_t synced() const { return synced_; }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  ManifestLog(ScopedFd fd, std::string path, uint64_t end)
      : fd_(std::move(fd)), path_(std::move(path)), end_(end), synced_(end) {}
  void ThrowIfBroken() const;

  ScopedFd fd_;
  std::string path_;
  uint64_t end_ = 0;
  uint64_t synced_ = 0;  // bytes known durable
  bool broken_ = false;
};

// Serialization, exposed for tests that tear and corrupt logs on purpose.
std::string EncodeLogEntry(const LogEntry& entry);

}  // namespace tpkg
