#include "unmount.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "fuse_unmount.h"
#include "mount_registry.h"
#include "mount_table.h"
#include "open_files.h"
#include "process_info.h"
#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/journal.h"
#include "tpkg/line_escape.h"
#include "tpkg/save_log.h"

namespace tpkg::fs {
namespace {

using Clock = std::chrono::steady_clock;

// The daemon serving a mount, and what it told the registry.
struct Daemon {
  pid_t pid = 0;
  uint64_t start_time = 0;
  std::optional<MountRecord> record;
};

// What the save concerns: the archive, its journal and log.
struct Target {
  std::string archive;
  std::string journal;
  std::string log;
  bool writable = true;
  int64_t serving_since = 0;  // when the daemon started (its errors since then count)
};

[[noreturn]] void Fail(const std::string& message, int err = 0) {
  throw Error(Errc::kIo, message, err);
}

// The absolute path of a mountpoint without stat(2)ing the mountpoint
// itself (its daemon answers that stat, and may hang): only its folder is
// resolved.
std::string CanonicalMountpoint(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path == "/") return path;
  const size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  if (name == "." || name == "..") {
    if (std::optional<std::string> all = RealPath(path)) return *all;
  }
  const std::optional<std::string> resolved = RealPath(folder);
  if (!resolved) {
    const int err = errno;
    Fail("cannot unmount '" + path + "': " + std::strerror(err), err);
  }
  const std::string& base = *resolved;
  return (base == "/" ? "" : base) + "/" + name;
}

// `path` (CanonicalMountpoint's) when it is a mountpoint or no symlink, else
// what the symlink leads to: `tpkgfs -u link` where `link` names the
// mountpoint. Only a path that is no mountpoint is lstat'ed: a stat of a
// mountpoint asks its daemon, which may hang.
std::string FollowSymlinks(std::string path, const std::vector<MountInfo>& mounts) {
  for (int links = 0; links < 40 && !TopMountAt(mounts, path); ++links) {  // 40: Linux's ELOOP
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n <= 0 || static_cast<size_t>(n) >= target.size()) return path;  // changed meanwhile
    target.resize(static_cast<size_t>(n));
    path = CanonicalMountpoint(
        target.front() == '/' ? target : path.substr(0, path.rfind('/') + 1) + target);
  }
  return path;
}

std::vector<MountRecord> KnownRecords(std::optional<uid_t> owner,
                                      std::vector<MountRecord>* gone = nullptr) {
  std::vector<MountRecord> records = LiveRecords(RegistryDirFor(::geteuid()), ::geteuid(), gone);
  if (owner && *owner != ::geteuid()) {
    for (MountRecord& r : LiveRecords(RegistryDirFor(*owner), *owner, gone))
      records.push_back(std::move(r));
  }
  return records;
}

// The daemon of the mount `m`: its record, else the tpkgfs process that
// holds the lock of the archive named by the mount's source.
std::optional<Daemon> FindDaemon(const MountInfo& m, const std::vector<MountRecord>& records) {
  for (const MountRecord& r : records) {
    if (r.fuse_major == m.major && r.fuse_minor == m.minor && r.mountpoint == m.mount_point)
      return Daemon{r.pid, r.start_time, r};
  }
  struct stat st;
  if (!m.source.starts_with("/") || ::stat(m.source.c_str(), &st) != 0) return std::nullopt;
  for (pid_t pid : FlockHolders(ReadProcLocks(), st.st_dev, st.st_ino)) {
    const std::optional<uint64_t> start = ProcessStartTime(pid);
    if (start && ProcessName(pid) == "tpkgfs") return Daemon{pid, *start, std::nullopt};
  }
  return std::nullopt;
}

Target TargetOf(const MountInfo* m, const Daemon* daemon) {
  Target t;
  if (daemon && daemon->record) {
    const MountRecord& r = *daemon->record;
    t.archive = r.archive;
    t.journal = r.journal.empty() ? Journal::DirectoryFor(r.archive) : r.journal;
    t.log = r.log.empty() ? SaveLogPathFor(r.archive) : r.log;
    t.writable = r.writable;
    t.serving_since = r.started;
    return t;
  }
  t.archive = m ? m->source : "";
  t.journal = Journal::DirectoryFor(t.archive);
  t.log = SaveLogPathFor(t.archive);
  t.writable = m && !m->read_only();
  return t;
}

// The processes that use the mount `m` (open_files.h), this one left out (a
// `tpkgfs -u .` run from inside it); none when /proc cannot say within 2 s:
// a walk of /proc can block on another process (a working folder on a hung
// NFS server), and a refused unmount must still fail at once. The walk then
// goes on in a detached thread, which the process's exit ends.
std::vector<pid_t> UsersOf(const MountInfo& m) {
  constexpr auto kLimit = std::chrono::seconds(2);
  auto found = std::make_shared<std::promise<std::vector<pid_t>>>();
  std::future<std::vector<pid_t>> users = found->get_future();
  std::thread([found, major = m.major, minor = m.minor] {
    try {
      found->set_value(ProcessesUsingDevice(major, minor));
    } catch (...) {
      found->set_exception(std::current_exception());
    }
  }).detach();
  if (users.wait_for(kLimit) != std::future_status::ready) return {};
  try {
    std::vector<pid_t> pids = users.get();
    std::erase(pids, ::getpid());
    return pids;
  } catch (const Error&) {
    return {};  // /proc unreadable: the reason without the names
  }
}

// Why the kernel refused to unmount `m` as busy, naming the processes that
// use it where /proc tells, so that the user knows what to close.
std::string BusyReason(const MountInfo& m) {
  const std::vector<pid_t> users = UsersOf(m);
  if (users.empty()) return "it is busy (a process has a file open or its working folder there)";
  return "it is busy: " + DescribeProcesses(users) + (users.size() == 1 ? " uses" : " use") +
         " it (a file open, the working folder or a file mapped there)";
}

void Unmount(const std::string& path, const MountInfo& m) {
  const std::optional<UnmountFailure> failure = UnmountFuse(path, {.lazy = false});
  if (!failure) return;
  Fail("cannot unmount '" + path + "': " + (failure->err == EBUSY ? BusyReason(m) : failure->why),
       failure->err);
}

std::string Bytes(uint64_t n) {
  char text[32];
  if (n >= (1ull << 30)) {
    std::snprintf(text, sizeof text, "%.1f GB", static_cast<double>(n) / (1ull << 30));
  } else {
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(n) / (1ull << 20));
  }
  return text;
}

// One status line, rewritten in place on the terminal.
class Progress {
 public:
  explicit Progress(const Target& target)
      : target_(target), shown_(::isatty(STDERR_FILENO) == 1), start_(Clock::now()) {}
  ~Progress() { Clear(); }
  // Milliseconds to wait before the next Update (-1: none needed).
  int interval() const { return shown_ ? 250 : -1; }
  // Erases the status line, so that a message can take its place.
  void Clear() {
    if (drawn_) std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }
  // The daemon `pid` has not begun its save (ExplainLongWait said why): no
  // line until its record says it has, then the save's own time.
  void Hold(pid_t pid) { held_ = pid; }
  void Update() {
    if (held_ != 0) {
      const std::optional<MountRecord> record = RecordOfProcess(held_);
      if (record && record->state == MountState::kServing) return;
      held_ = 0;
      start_ = Clock::now();
    }
    const auto elapsed = Clock::now() - start_;
    if (!shown_ || elapsed < std::chrono::seconds(1)) return;
    // The temp archive appears after the package checks and is renamed
    // over the archive at the end; the journal is removed after that.
    std::string what = seen_temp_ ? "finishing" : "checking the package";
    struct stat temp, archive;
    if (::stat((target_.journal + "/save.tmp").c_str(), &temp) == 0) {
      seen_temp_ = true;
      what = Bytes(static_cast<uint64_t>(temp.st_size)) + " written";
      if (::stat(target_.archive.c_str(), &archive) == 0)
        what += " (the archive was " + Bytes(static_cast<uint64_t>(archive.st_size)) + ")";
    }
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(elapsed).count();
    std::fprintf(stderr, "\r\033[Ktpkgfs: saving %s: %s, %llds", target_.archive.c_str(),
                 what.c_str(), static_cast<long long>(seconds));
    std::fflush(stderr);
    drawn_ = true;
  }

 private:
  const Target& target_;
  bool shown_;
  Clock::time_point start_;
  bool drawn_ = false;
  bool seen_temp_ = false;
  pid_t held_ = 0;
};

// A FUSE connection, to look for copies of its mount elsewhere.
struct Device {
  unsigned major = 0;
  unsigned minor = 0;
};

// Says once, on stderr, why a daemon still runs after its unmount, and
// returns whether it did: copies of its mount in other mount namespaces
// (mount_table.h), which it serves until they go; or, after a lazy unmount
// (umount -l, fusermount3 -uz), files still open in the detached mount
// (open_files.h): the kernel ends the session, and the daemon starts its
// save, only when the last one is closed. Silence could look like a hang for
// as long as those live. Holders this user may not inspect go unnamed, but
// a daemon whose record still says it serves is held by something.
bool ExplainLongWait(const std::string& path, const Daemon& daemon, const Device& device,
                     std::ostream& out) {
  const std::vector<pid_t> holders = OtherNamespacesWithDevice(device.major, device.minor);
  if (!holders.empty()) {
    out << "tpkgfs: " << path << " is unmounted here, but the mount namespace of "
        << DescribeProcesses(holders) << " still holds a copy of it: its daemon (pid " << daemon.pid
        << ") serves that copy and exits (saving) only when the copy goes; waiting for it\n";
    return true;
  }
  // Only while the daemon still serves is its FUSE device its own: once the
  // session ended, the next mount on the machine may be given the same one.
  const std::optional<MountRecord> record = RecordOfProcess(daemon.pid);
  if (!record || record->state != MountState::kServing) return false;  // saving: the progress line
  std::vector<pid_t> users;
  try {
    users = ProcessesUsingDevice(device.major, device.minor);
  } catch (const Error& e) {
    out << "tpkgfs: " << e.what() << "\n";
  }
  // A descriptor this command inherited from its shell (`exec 3<file`):
  // named apart, since the shell is the one to close it.
  if (std::erase(users, ::getpid()) > 0) {
    out << "tpkgfs: " << path << " was detached (lazy unmount) but this tpkgfs -u (pid "
        << ::getpid() << ") holds a file in it through a descriptor it inherited"
        << (users.empty() ? std::string() : ", and so do " + DescribeProcesses(users))
        << ": close it in the shell that started tpkgfs -u; waiting for it\n";
    return true;
  }
  if (users.empty()) {
    // Held by processes this user may not inspect, or about to save: say
    // only what is known.
    out << "tpkgfs: the daemon of " << path << " (pid " << daemon.pid
        << ") still serves it: a process this user cannot inspect may hold a file in it; "
           "waiting for it\n";
    return true;
  }
  out << "tpkgfs: " << path << " was detached (lazy unmount) but files in it are still open, "
      << "by " << DescribeProcesses(users) << ": its daemon (pid " << daemon.pid
      << ") ends (saving any edits) when they are closed; waiting for it\n";
  return true;
}

// The same, written to stderr in one piece: each `<<` to the unbuffered
// std::cerr is a write of its own, and a reader of the terminal or the file
// (or a test) must never see half a line.
bool ExplainLongWait(const std::string& path, const Daemon& daemon, const Device& device) {
  std::ostringstream out;
  const bool said = ExplainLongWait(path, daemon, device, out);
  std::cerr << out.str();
  return said;
}

void WaitForDaemon(ProcessWatch& watch, const Target& target, const std::string& path,
                   const Daemon& daemon, std::optional<Device> device) {
  constexpr auto kExplainAfter = std::chrono::seconds(2);
  Progress progress(target);
  const Clock::time_point start = Clock::now();
  while (true) {
    int timeout = progress.interval();
    if (device) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          start + kExplainAfter - Clock::now());
      const int until_explain = static_cast<int>(std::max<int64_t>(left.count(), 0));
      timeout = timeout < 0 ? until_explain : std::min(timeout, until_explain);
    }
    if (watch.WaitForExit(timeout)) return;
    if (device && Clock::now() >= start + kExplainAfter) {
      progress.Clear();
      if (ExplainLongWait(path, daemon, *device)) progress.Hold(daemon.pid);
      device.reset();
    }
    progress.Update();
  }
}

// As the daemon printed them: a save's summary and each of its notes (a new
// extern, a warning) are log lines of their own; of a failure, the first
// line (the reasons follow it) and the last (the advice).
void PrintDetails(std::ostream& out, const SaveLogEntry& outcome) {
  const std::vector<std::string>& details = outcome.details;
  for (size_t i = 0; i < details.size(); ++i) {
    const bool own_line = outcome.kind != SaveLogKind::kFailed || i == 0 || i + 1 == details.size();
    out << (own_line ? "tpkgfs: " : "") << details[i] << "\n";
  }
}

// Whose registry may also know the daemon that served the unmounted `path`:
// for root, the owner of the mountpoint folder, since fusermount3 lets a
// user mount only on a folder they may write (in practice their own) and
// the daemon registered in that user's registry. Nobody else may read it.
std::optional<uid_t> FormerMountOwner(const std::string& path) {
  struct stat st;
  if (::geteuid() != 0 || ::lstat(path.c_str(), &st) != 0 || st.st_uid == 0) return std::nullopt;
  return st.st_uid;
}

// Reports the save of `daemon` (which has exited); returns the exit status.
int Report(const std::string& path, const Daemon& daemon, const Target& target, int64_t since) {
  if (!target.writable) {
    std::cout << "tpkgfs: unmounted " << path << " (read-only: nothing to save)\n";
    return 0;
  }
  std::vector<SaveLogEntry> entries;
  try {
    entries = ReadSaveLog(target.log);
  } catch (const Error& e) {
    std::cerr << "tpkgfs: " << e.what() << "\n";
  }
  std::optional<SaveLogEntry> outcome;
  int errors = 0, warnings = 0;  // a warning: an operation refused by a packaging rule, say
  for (const SaveLogEntry& e : entries) {
    if (e.pid != daemon.pid) continue;
    if (e.is_save() && e.time >= since - 1) outcome = e;
    if (!target.serving_since || e.time < target.serving_since) continue;
    if (e.kind == SaveLogKind::kError) ++errors;
    if (e.kind == SaveLogKind::kWarning) ++warnings;
  }
  if (errors > 0 || warnings > 0) {
    const auto count = [](int n, const char* what) {
      return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
    };
    std::string logged = errors > 0 ? count(errors, "error") : "";
    if (warnings > 0) logged += (logged.empty() ? "" : " and ") + count(warnings, "warning");
    std::cerr << "tpkgfs: " << logged << (errors + warnings == 1 ? " was" : " were")
              << " logged while " << path << " was mounted (see " << target.log << ")\n";
  }
  // A daemon that left its ended record ran to its end; when the save log had
  // no room for its outcome (or only for a part of it), the record keeps it.
  std::optional<MountRecord> ended = daemon.record;
  if (!ended || ended->ended == 0)
    ended = EndedRecordAt(RegistryDirFor(::geteuid()), ::geteuid(), path);
  if (!ended)
    if (const std::optional<uid_t> owner = FormerMountOwner(path))
      ended = EndedRecordAt(RegistryDirFor(*owner), *owner, path);
  const bool ran_to_its_end = ended && ended->ended != 0 && ended->pid == daemon.pid;
  if (ran_to_its_end && !ended->unlogged_outcome.empty()) {
    for (const SaveLogEntry& e : ParseSaveLog(ended->unlogged_outcome)) {
      if (!e.is_save()) continue;
      std::cerr << "tpkgfs: the daemon of " << path << " (pid " << daemon.pid
                << ") could not record the outcome of its save in " << target.log
                << " (is its disk full?); it was:\n";
      std::cout.flush();
      PrintDetails(e.kind == SaveLogKind::kFailed ? std::cerr : std::cout, e);
      return e.kind == SaveLogKind::kFailed ? 1 : 0;
    }
  }
  if (!outcome) {
    struct stat journal_st;
    if (ran_to_its_end && ::lstat(target.journal.c_str(), &journal_st) != 0 && errno == ENOENT) {
      // A save drops the journal only once the new archive is in place.
      std::cerr << "tpkgfs: the daemon of " << path << " (pid " << daemon.pid
                << ") ended and left no edits behind (no journal: " << target.archive
                << " holds any there were), but could not record the outcome of its save in "
                << target.log << " (is its disk full?)\n";
      return 0;
    }
    std::cerr << "tpkgfs: the daemon of " << path << " (pid " << daemon.pid << ") "
              << (ran_to_its_end
                      ? "ended, but could not record the outcome of its save in " + target.log +
                            " (is its disk full?)"
                      : std::string("exited without recording the outcome of its save (was it "
                                    "killed?)"))
              << "; any edits are kept in " << target.journal << ": mount " << target.archive
              << " again to recover them\n";
    return 1;
  }
  if (outcome->kind == SaveLogKind::kFailed) {
    std::cout.flush();
    PrintDetails(std::cerr, *outcome);
    std::cerr << "tpkgfs: every reason is also in " << target.log << "\n";
    return 1;
  }
  PrintDetails(std::cout, *outcome);
  return 0;
}

// Whether a daemon other than `r`'s recorded a save of its archive after `r`
// started: then `r`'s edits were recovered (and saved or refused) since.
bool SavedByAnotherSince(const MountRecord& r) {
  try {
    for (const SaveLogEntry& e : ReadSaveLog(r.log))
      if (e.is_save() && e.pid != r.pid && e.time >= r.started) return true;
  } catch (const Error&) {
  }
  return false;
}

// `path` is no longer mounted: a daemon that served it may still be saving.
int WaitForUnmountedSave(const std::string& path, int64_t since) {
  const std::optional<uid_t> owner = FormerMountOwner(path);
  std::vector<MountRecord> gone;
  for (const MountRecord& r : KnownRecords(owner, &gone)) {
    if (r.mountpoint != path || r.state == MountState::kStarting) continue;
    const std::vector<MountInfo> mounts = ParseMountInfo(ReadMountInfo());
    if (r.state == MountState::kServing && MountWithDevice(mounts, r.fuse_major, r.fuse_minor))
      continue;
    Daemon daemon{r.pid, r.start_time, r};
    ProcessWatch watch = ProcessWatch::Open(r.pid, r.start_time);
    const Target target = TargetOf(nullptr, &daemon);
    if (::isatty(STDERR_FILENO) == 1)
      std::cerr << "tpkgfs: " << path << " is unmounted already; waiting for its save\n";
    WaitForDaemon(watch, target, path, daemon, Device{r.fuse_major, r.fuse_minor});
    return Report(path, daemon, target, since);
  }
  // Its daemon may have ended already (`fusermount3 -u m; tpkgfs -u m`, or a SIGTERM): its
  // ended record (a recent one only, mount_registry.h) says which archive it saved, the save
  // log how that went.
  std::optional<MountRecord> ended = EndedRecordAt(RegistryDirFor(::geteuid()), ::geteuid(), path);
  if (!ended && owner) ended = EndedRecordAt(RegistryDirFor(*owner), *owner, path);
  if (ended) {
    const Daemon daemon{ended->pid, ended->start_time, ended};
    return Report(path, daemon, TargetOf(nullptr, &daemon), ended->started);
  }
  // Its daemon was killed (no ended record, its record left behind): what it
  // logged before, or that its edits wait in the journal. Only while they
  // may: the journal is there and no later daemon has saved the archive
  // since (the record stays until a tpkgfs -u removes it, maybe days later).
  for (const MountRecord& r : gone) {
    if (r.mountpoint != path || !r.writable || r.state == MountState::kStarting) continue;
    struct stat journal_st;
    if (::lstat(r.journal.c_str(), &journal_st) != 0 || !S_ISDIR(journal_st.st_mode)) continue;
    if (SavedByAnotherSince(r)) continue;
    const Daemon daemon{r.pid, r.start_time, r};
    return Report(path, daemon, TargetOf(nullptr, &daemon), r.started);
  }
  // Not a mount: its own stat cannot reach a daemon. A mistyped path says so.
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT)
    Fail("cannot unmount '" + path + "': no such file or folder", ENOENT);
  // `tpkgfs -u model.pt`: the archive given for its mountpoint.
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    // Ours, and its owner's (root unmounting a user's mount).
    for (const MountRecord& r : KnownRecords(st.st_uid)) {
      if (r.archive_dev == st.st_dev && r.archive_ino == st.st_ino)
        Fail("cannot unmount '" + path + "': it is the archive mounted on " + r.mountpoint +
                 " (tpkgfs -u " + ShellWord(r.mountpoint) + ")",
             EINVAL);
    }
  }
  Fail("cannot unmount '" + path + "': it is not mounted", EINVAL);
}

}  // namespace

int RunUnmount(const std::string& mountpoint) {
  // Log entries are stamped in whole seconds: the outcome we wait for is
  // the daemon's first one from this second on.
  const int64_t since = static_cast<int64_t>(::time(nullptr));
  const std::vector<MountInfo> mounts = ParseMountInfo(ReadMountInfo());
  const std::string path = FollowSymlinks(CanonicalMountpoint(mountpoint), mounts);
  const MountInfo* m = TopMountAt(mounts, path);
  if (!m) return WaitForUnmountedSave(path, since);
  const std::vector<MountRecord> records = KnownRecords(m->fuse_owner());
  std::optional<Daemon> daemon = FindDaemon(*m, records);
  if (!daemon && m->fstype != "fuse.tpkgfs")
    Fail("cannot unmount '" + path + "': it is not a tpkgfs mount (it is " + m->fstype + ")");
  const std::optional<uid_t> owner = m->fuse_owner();
  if (::geteuid() != 0 && owner && *owner != ::getuid()) {
    Fail("cannot unmount '" + path + "': it was mounted by uid " + std::to_string(*owner) +
             " (only that user or root may unmount it)",
         EPERM);
  }
  const Target target = TargetOf(m, daemon ? &*daemon : nullptr);
  std::optional<ProcessWatch> watch;
  if (daemon) watch = ProcessWatch::Open(daemon->pid, daemon->start_time);
  Unmount(path, *m);
  if (!daemon) {
    if (!target.writable) {
      std::cout << "tpkgfs: unmounted " << path << " (read-only: nothing to save)\n";
      return 0;
    }
    // Gone (killed: its mount answered "not connected"), or out of sight
    // (another user's, or another namespace's): say what each means.
    std::cerr << "tpkgfs: unmounted " << path
              << ", but its daemon could not be found to wait for its save (killed?): if it is "
              << "gone, nothing was saved and any edits are kept in " << target.journal
              << " (mount " << target.archive << " again to recover them); if not, its outcome "
              << "will be in " << target.log << "\n";
    return 1;
  }
  WaitForDaemon(*watch, target, path, *daemon, Device{m->major, m->minor});
  return Report(path, *daemon, target, since);
}

}  // namespace tpkg::fs
