// The save log beside an archive (tpkg/save_log.h): format, parse, append
// with trimming, and the "last save failed" query.
#include "tpkg/save_log.h"
#include "tpkg/line_escape.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>

#include "base/file_util.h"
#include "tpkg/error.h"
#include "tpkg/journal.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

constexpr std::string_view kIndent = "  ";
constexpr size_t kReadLimit = 1 << 20;  // a hostile or foreign huge file is read in part only
constexpr SaveLogKind kKinds[] = {SaveLogKind::kSaved, SaveLogKind::kUnchanged,
                                  SaveLogKind::kFailed, SaveLogKind::kError, SaveLogKind::kWarning};

// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's
// days_from_civil); a day past the month's end counts on into the next, as
// timegm() normalizes it. Arithmetic instead of timegm(): glibc's goes
// through its time-zone machinery, which cost a mount about a millisecond
// for a save log of a few dozen entries.
int64_t DaysSinceEpoch(int64_t year, int64_t month, int64_t day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;                                 // [0, 399]
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

std::optional<int64_t> ParseUtcTime(std::string_view text) {
  // 2025-01-31T12:00:00Z
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z')
    return std::nullopt;
  auto number = [&text](size_t at, size_t len) -> std::optional<int> {
    int value = 0;
    const char* first = text.data() + at;
    auto [end, ec] = std::from_chars(first, first + len, value);
    if (ec != std::errc() || end != first + len) return std::nullopt;
    return value;
  };
  const auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
      *second > 60)
    return std::nullopt;
  return DaysSinceEpoch(*year, *month, *day) * 86400 + *hour * 3600 + *minute * 60 + *second;
}

std::optional<SaveLogKind> ParseKind(std::string_view name) {
  for (SaveLogKind kind : kKinds)
    if (SaveLogKindName(kind) == name) return kind;
  return std::nullopt;
}

// "<time> tpkgfs[<pid>] <kind> <archive>"
std::optional<SaveLogEntry> ParseHeader(std::string_view line) {
  SaveLogEntry entry;
  const size_t time_end = line.find(' ');
  if (time_end == std::string_view::npos) return std::nullopt;
  const auto time = ParseUtcTime(line.substr(0, time_end));
  if (!time) return std::nullopt;
  entry.time = *time;
  line.remove_prefix(time_end + 1);
  constexpr std::string_view kTag = "tpkgfs[";
  const size_t pid_end = line.find("] ");
  if (!line.starts_with(kTag) || pid_end == std::string_view::npos) return std::nullopt;
  const std::string_view pid = line.substr(kTag.size(), pid_end - kTag.size());
  auto [end, ec] = std::from_chars(pid.data(), pid.data() + pid.size(), entry.pid);
  if (ec != std::errc() || end != pid.data() + pid.size()) return std::nullopt;
  line.remove_prefix(pid_end + 2);
  const size_t kind_end = line.find(' ');
  if (kind_end == std::string_view::npos) return std::nullopt;
  const auto kind = ParseKind(line.substr(0, kind_end));
  if (!kind) return std::nullopt;
  entry.kind = *kind;
  entry.archive = UnescapeLine(line.substr(kind_end + 1));
  return entry;
}

// The entry, its details cut so that it takes at most `limit` bytes.
std::string FormatBounded(const SaveLogEntry& entry, size_t limit) {
  std::string text = FormatSaveLogEntry(entry);
  if (text.size() <= limit) return text;
  SaveLogEntry cut = entry;
  cut.details.clear();
  const std::string head = FormatSaveLogEntry(cut);
  size_t used = head.size() + 64;  // room for the "more lines" note
  for (const std::string& line : entry.details) {
    if (used + kIndent.size() + line.size() + 1 > limit) break;
    used += kIndent.size() + line.size() + 1;
    cut.details.push_back(line);
  }
  cut.details.push_back("... " + std::to_string(entry.details.size() - cut.details.size()) +
                        " more lines left out");
  return FormatSaveLogEntry(cut);
}

// Opens the log for appending or reading, refusing symlinks and anything
// but a regular file (O_NONBLOCK: a FIFO planted there must not block us).
ScopedFd OpenLog(const std::string& path, int flags, mode_t mode) {
  ScopedFd fd(::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode));
  if (!fd) {
    const int err = errno;
    if (err == ELOOP) {
      throw Error(Errc::kPermission, "Cannot open the save log '" + path + "': it is a symlink",
                  err);
    }
    ThrowSystemError("Cannot open the save log '" + path + "'", err);
  }
  const struct stat st = FstatOrThrow(fd.get(), path);
  if (!S_ISREG(st.st_mode)) {
    throw Error(Errc::kPermission,
                "Cannot use the save log '" + path + "': it is not a regular file", EPERM);
  }
  return fd;
}

// At most the last kReadLimit bytes of an open log, starting at a line.
std::string ReadTail(int fd, const std::string& path) {
  const struct stat st = FstatOrThrow(fd, path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t start = size > kReadLimit ? size - kReadLimit : 0;
  std::string text(static_cast<size_t>(size - start), '\0');
  text.resize(PreadFull(fd, std::span<char>(text.data(), text.size()), start, path));
  if (start > 0) {
    const size_t line = text.find('\n');
    text.erase(0, line == std::string::npos ? text.size() : line + 1);
  }
  return text;
}

// True when `fd` is still the file named `path` (a rewrite by another
// appender may have replaced it between our open and our lock).
bool StillNamed(int fd, const std::string& path) {
  struct stat opened, named;
  if (::fstat(fd, &opened) != 0 || ::lstat(path.c_str(), &named) != 0) return false;
  return opened.st_nlink > 0 && opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

void LockExclusive(int fd, const std::string& path) {
  while (::flock(fd, LOCK_EX) != 0) {
    const int err = errno;
    if (err != EINTR) ThrowSystemError("Cannot lock the save log '" + path + "'", err);
  }
}

// Replaces the log (we hold its lock) with its newest entries and `text`,
// within half of max_bytes.
void Rewrite(int fd, const std::string& path, const std::string& text,
             const SaveLogOptions& options) {
  const std::vector<SaveLogEntry> old = ParseSaveLog(ReadTail(fd, path));
  std::vector<std::string> kept{text};
  size_t used = text.size();
  for (auto it = old.rbegin(); it != old.rend(); ++it) {
    std::string one = FormatSaveLogEntry(*it);
    if (used + one.size() > options.max_bytes / 2) break;
    used += one.size();
    kept.push_back(std::move(one));
  }
  std::string content;
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) content += *it;
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  const struct stat st = FstatOrThrow(fd, path);
  ::unlink(temp.c_str());  // a leftover of a crashed rewrite; O_EXCL below never reuses a name
  {
    ScopedFd out = OpenOrThrow(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    try {
      if (::fchmod(out.get(), st.st_mode & 07777) != 0) {
        const int err = errno;
        ThrowSystemError("Cannot chmod '" + temp + "'", err);
      }
      WriteAll(out.get(), content, temp);
      if (options.sync) FdatasyncOrThrow(out.get(), temp);
      out.Close(temp);
    } catch (const Error&) {
      ::unlink(temp.c_str());
      throw;
    }
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    ThrowSystemError("Cannot replace the save log '" + path + "'", err);
  }
}

// The most one entry takes: a quarter of the log, so that a rewrite keeps
// earlier entries beside the newest.
size_t EntryBound(const SaveLogOptions& options) { return options.max_bytes / 4; }

}  // namespace

std::string_view SaveLogKindName(SaveLogKind kind) {
  switch (kind) {
    case SaveLogKind::kSaved: return "saved";
    case SaveLogKind::kUnchanged: return "unchanged";
    case SaveLogKind::kFailed: return "failed";
    case SaveLogKind::kError: return "error";
    case SaveLogKind::kWarning: return "warning";
  }
  return "error";
}

std::string SaveLogPathFor(const std::string& archive_path) {
  return DirName(archive_path) + "/." + BaseName(archive_path) + ".tpkgfs.log";
}

int64_t SaveLogTimeNow() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec);
}

std::string FormatUtcTime(int64_t time) {
  const time_t t = static_cast<time_t>(time);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::string FormatSaveLogEntry(const SaveLogEntry& entry) {
  std::string text = FormatUtcTime(entry.time) + " tpkgfs[" + std::to_string(entry.pid) + "] " +
                     std::string(SaveLogKindName(entry.kind)) + " " + EscapeLine(entry.archive) +
                     "\n";
  for (const std::string& detail : entry.details) {
    for (const std::string& line : SplitLines(detail)) {
      text += kIndent;
      text += line;
      text += '\n';
    }
    if (detail.empty()) text += std::string(kIndent) + "\n";
  }
  return text;
}

std::vector<SaveLogEntry> ParseSaveLog(std::string_view text) {
  std::vector<SaveLogEntry> entries;
  bool in_entry = false;  // details belong to the last entry only while its header parsed
  for (const std::string& line : SplitLines(text)) {
    if (line.starts_with(kIndent)) {
      if (in_entry) entries.back().details.push_back(line.substr(kIndent.size()));
      continue;
    }
    if (line.empty()) continue;
    std::optional<SaveLogEntry> entry = ParseHeader(line);
    in_entry = entry.has_value();
    if (entry) entries.push_back(std::move(*entry));
  }
  return entries;
}

void AppendToSaveLog(const std::string& log_path, const SaveLogEntry& entry,
                     const SaveLogOptions& options) {
  const std::string text = FormatBounded(entry, EntryBound(options));
  for (int attempt = 0; attempt < 10; ++attempt) {
    ScopedFd fd = OpenLog(log_path, O_WRONLY | O_APPEND | O_CREAT, options.mode);
    LockExclusive(fd.get(), log_path);
    if (!StillNamed(fd.get(), log_path)) continue;  // replaced by a rewrite: use the new one
    const struct stat st = FstatOrThrow(fd.get(), log_path);
    if (static_cast<uint64_t>(st.st_size) + text.size() > options.max_bytes) {
      ScopedFd reader = OpenLog(log_path, O_RDONLY, 0);
      Rewrite(reader.get(), log_path, text, options);
      return;  // the lock goes with the replaced file
    }
    WriteAll(fd.get(), text, log_path);
    if (options.sync) FdatasyncOrThrow(fd.get(), log_path);
    return;
  }
  throw Error(Errc::kIo,
              "Cannot append to the save log '" + log_path + "': it keeps being replaced", EBUSY);
}

void ReserveSaveLog(const std::string& log_path, const SaveLogOptions& options) {
  const ScopedFd fd = OpenLog(log_path, O_WRONLY | O_CREAT, options.mode);
  const struct stat st = FstatOrThrow(fd.get(), log_path);
  const auto end = static_cast<uint64_t>(st.st_size);
  // Best effort by design: EOPNOTSUPP (no fallocate) leaves the appends as
  // they were without it. The log's whole bound first; a file system with
  // less free room (where fallocate may reserve nothing of a range: tmpfs)
  // still gets the room of one bounded entry, then of one block, past what
  // the log holds: a disk nearly full when the mount starts is the one most
  // likely to fill up before the save.
  const std::pair<uint64_t, uint64_t> ranges[] = {
      {0, options.max_bytes}, {end, EntryBound(options)}, {end, 4096}};
  for (const auto& [offset, bytes] : ranges) {
    if (::fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(bytes)) == 0)
      return;
    if (errno != ENOSPC) return;
  }
  // Not one block: the save's outcome may find no room either; the caller says so now.
  throw Error(Errc::kNoSpace,
              "Cannot reserve room in the save log '" + log_path + "': the disk is full", ENOSPC);
}

std::vector<SaveLogEntry> ReadSaveLog(const std::string& log_path) {
  ScopedFd fd(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) return {};
    ThrowSystemError("Cannot open the save log '" + log_path + "'", err);
  }
  const struct stat st = FstatOrThrow(fd.get(), log_path);
  if (!S_ISREG(st.st_mode)) {
    throw Error(Errc::kPermission,
                "Cannot use the save log '" + log_path + "': it is not a regular file", EPERM);
  }
  return ParseSaveLog(ReadTail(fd.get(), log_path));
}

std::optional<SaveLogEntry> LastSave(const std::vector<SaveLogEntry>& entries) {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (it->is_save()) return *it;
  return std::nullopt;
}

namespace {

// When the file at `path` was created, in whole seconds, where the file
// system records it (ext4, XFS, btrfs, tmpfs do).
std::optional<int64_t> BirthTime(const std::string& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BTIME, &stx) != 0 ||
      (stx.stx_mask & STATX_BTIME) == 0)
    return std::nullopt;
  return stx.stx_btime.tv_sec;
}

}  // namespace

std::optional<SaveLogEntry> PendingSaveFailure(const std::string& archive_path) {
  try {
    std::optional<SaveLogEntry> last = LastSave(ReadSaveLog(SaveLogPathFor(archive_path)));
    if (!last || last->kind != SaveLogKind::kFailed) return std::nullopt;
    struct stat st;
    const std::string journal = Journal::DirectoryFor(archive_path);
    if (::lstat(journal.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    // The journal that keeps the failed save's edits was made before that
    // save. One made later holds other edits: those were discarded (`tpkg
    // edits --discard`, or the folder removed) and a later mount started a
    // new one, so the failure is no longer what waits. (A journal's manifest
    // is made once, with the journal; within the failure's second, or where
    // no creation time is kept, the failure stays reported.)
    if (const std::optional<int64_t> made = BirthTime(journal + "/manifest");
        made && *made > last->time)
      return std::nullopt;
    return last;
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::string DescribeSaveFailure(const SaveLogEntry& failure) {
  // The reasons on one line, without the "Cannot save <archive>: " the line
  // already says and without the advice (the last detail) that follows.
  constexpr size_t kMaxReason = 240;
  const std::string prefix = "Cannot save " + failure.archive + ": ";
  std::string reason;
  const size_t reasons = failure.details.size() > 1 ? failure.details.size() - 1 : 1;
  for (size_t i = 0; i < reasons && i < failure.details.size(); ++i) {
    std::string line = failure.details[i];
    if (line.starts_with(prefix)) line.erase(0, prefix.size());
    line.erase(0, std::min(line.find_first_not_of(" \t"), line.size()));
    if (line.empty()) continue;
    if (!reason.empty()) reason += ' ';
    reason += line;
  }
  if (reason.empty()) reason = "no reason recorded";
  if (reason.size() > kMaxReason) {
    // Cut after a whole word: the log has the rest.
    size_t cut = reason.rfind(' ', kMaxReason - 3);
    if (cut == std::string::npos || cut < kMaxReason / 2) {
      cut = kMaxReason - 3;  // no space near: not inside a UTF-8 character at least
      while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    }
    reason = reason.substr(0, cut) + "...";
  }
  return "the last save of " + failure.archive + " failed (" + FormatUtcTime(failure.time) +
         ", tpkgfs pid " + std::to_string(failure.pid) + "): " + reason +
         "; the edits are kept in " + Journal::DirectoryFor(failure.archive) +
         " (every reason: " + SaveLogPathFor(failure.archive) + ")";
}

}  // namespace tpkg
