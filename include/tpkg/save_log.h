// save_log.h: the log of what happened to the saves of one archive, kept
// beside it so that a failed save is never silent.
//
//   const std::string log = tpkg::SaveLogPathFor("/srv/model.pt");  // "/srv/.model.pt.tpkgfs.log"
//   tpkg::AppendToSaveLog(log, {.time = now, .pid = getpid(), .kind = SaveLogKind::kFailed,
//                               .archive = "/srv/model.pt", .details = {reason, advice}});
//   if (auto failure = tpkg::PendingSaveFailure("/srv/model.pt"))
//     warn(tpkg::DescribeSaveFailure(*failure));   // "the last save of ... failed ..."
//
// Who writes it: the tpkgfs daemon of a read/write mount appends one entry
// per save (saved, nothing changed, or failed with every reason), however
// the file system was unmounted (fusermount3 -u, umount, tpkgfs -u, a
// signal), and in the background it also appends its error and warning
// lines (which otherwise reach only syslog). Read-only mounts write nothing.
// Who reads it: `tpkgfs -u` (the outcome of the save it waited for), the
// next `tpkgfs` of the archive and the `tpkg` commands (the last save
// failed, and why).
//
// Location: `<dir>/.<archive name>.tpkgfs.log` for the archive `<dir>/<name>`
// (resolved through symlinks by the caller), beside the journal directory
// `.<name>.tpkgfs/` but outside it: a successful save drops the journal and
// the log must outlive it.
//
// Format (text, for people first; one entry per block, newest last):
//
//   2025-01-31T12:00:00Z tpkgfs[4242] failed /srv/model.pt
//     Cannot save /srv/model.pt: the package would no longer load:
//     ...every reason, one line each...
//     the edits are kept in /srv/.model.pt.tpkgfs: ...
//
// A header line is `<UTC time> tpkgfs[<pid>] <kind> <archive>` (kind is one
// of saved, unchanged, failed, error, warning; a newline or backslash in the
// archive path is written as \n or \\); each detail line follows, indented
// by two spaces. Lines that do not parse are skipped, so a damaged log
// never hides the entries after the damage.
//
// Bounds: an append that would take the file past `max_bytes` first
// rewrites it (temp file + rename) keeping only the newest entries that fit
// in half of it; one entry never takes more than a quarter (its detail lines
// are cut, saying how many were left out). Appends from threads and
// processes are serialized with flock(2) on the log file; an appender that
// locked a file just replaced by a rewrite retries on the new one. The log
// is created with the caller's permission bits (the daemon passes the
// archive's, so the log is no more readable than the archive), never
// through a symlink, and only a regular file is read or written.
//
// Thread safety: stateless functions; any thread, any process.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tpkg {

enum class SaveLogKind {
  kSaved,      // the archive was rewritten with the edits
  kUnchanged,  // nothing changed: the archive was not touched
  kFailed,     // the save failed: the archive is intact, the edits kept
  kError,      // an error the daemon logged while serving
  kWarning,    // a warning the daemon logged while serving
};

// "saved", "unchanged", "failed", "error", "warning".
std::string_view SaveLogKindName(SaveLogKind kind);

struct SaveLogEntry {
  int64_t time = 0;  // seconds since the epoch (SaveLogTimeNow() for a new entry)
  int64_t pid = 0;   // the daemon's
  SaveLogKind kind = SaveLogKind::kError;
  std::string archive;               // resolved path
  std::vector<std::string> details;  // one line each, without newlines
  // True for the outcome of a save (saved, unchanged, failed).
  bool is_save() const {
    return kind == SaveLogKind::kSaved || kind == SaveLogKind::kUnchanged ||
           kind == SaveLogKind::kFailed;
  }
};

// The time a new entry carries: CLOCK_REALTIME's seconds. Not time(2):
// its vDSO reads the seconds of the last clock tick, which can still be the
// second before a file timestamp the kernel took finely just earlier (the
// journal's manifest, which PendingSaveFailure compares with a failure).
int64_t SaveLogTimeNow();

struct SaveLogOptions {
  mode_t mode = 0644;            // permission bits of a new log (umask applies)
  size_t max_bytes = 64 * 1024;  // the log never grows past this
  bool sync = false;             // fdatasync the entry (save outcomes)
};

// Creates the log if it is missing and allocates its blocks up to
// options.max_bytes without changing its size (fallocate, KEEP_SIZE), so
// that what is appended later, the save's outcome above all, still fits when
// the file system fills up or runs out of inodes meanwhile: a full disk is
// one of the failures the log is there to report. The read/write daemon
// calls it before it serves. Not covered: an append that must first rewrite
// the log (past max_bytes), which needs a new file. When the file system has
// less free room than max_bytes, it reserves the room of one entry
// (max_bytes / 4, an entry's bound), else of one block, past the log's end
// (blocks the log already fills are no room). A file system
// without fallocate reserves nothing, silently; throws Error when the log
// cannot be created or opened, and kNoSpace when not one block is free.
void ReserveSaveLog(const std::string& log_path, const SaveLogOptions& options);

// `<dir>/.<name>.tpkgfs.log` for `<dir>/<name>` (no filesystem access).
std::string SaveLogPathFor(const std::string& archive_path);

// Splits `text` into detail lines (a trailing newline adds no empty line).
std::vector<std::string> SplitLines(std::string_view text);

// The entry as it is written (ends with a newline).
std::string FormatSaveLogEntry(const SaveLogEntry& entry);
// Every entry that parses, in file order.
std::vector<SaveLogEntry> ParseSaveLog(std::string_view text);

// Appends `entry` to the log at `log_path`, creating it if needed and
// trimming it as described above. Throws Error naming the log and the
// reason (e.g. a read-only folder, a symlink or a non-regular file there).
void AppendToSaveLog(const std::string& log_path, const SaveLogEntry& entry,
                     const SaveLogOptions& options = {});
// The entries of the log at `log_path` (at most its last MiB); no log: {}.
// Throws Error for other failures (EACCES, not a regular file).
std::vector<SaveLogEntry> ReadSaveLog(const std::string& log_path);

// The last entry that is a save outcome, if any.
std::optional<SaveLogEntry> LastSave(const std::vector<SaveLogEntry>& entries);

// The failed save whose edits are still waiting in the journal of
// `archive_path` (resolved by the caller): the log's last save outcome is a
// failure and the journal directory (journal.h) still exists, made before
// that save (a journal whose manifest was created later holds other edits:
// the failed ones were discarded). nullopt when the last save succeeded,
// there is no log or no journal, or the log cannot be read: never throws,
// since it only adds a warning to what callers do.
std::optional<SaveLogEntry> PendingSaveFailure(const std::string& archive_path);

// One line for a warning: "the last save of /srv/model.pt failed
// (2025-01-31T12:00:00Z, tpkgfs pid 4242): <the reasons, joined, cut at 240
// bytes>; the edits are kept in /srv/.model.pt.tpkgfs (every reason:
// /srv/.model.pt.tpkgfs.log)". The last detail line of a failure is the
// advice of the daemon and is left out.
std::string DescribeSaveFailure(const SaveLogEntry& failure);

// "2025-01-31T12:00:00Z" for a time in seconds since the epoch.
std::string FormatUtcTime(int64_t time);

}  // namespace tpkg
