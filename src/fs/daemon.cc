#include "daemon.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>

#include "analysis_warmer.h"
#include "archive_lock.h"
#include "background.h"
#include "fs_ops.h"
#include "fuse_bridge.h"
#include "fuse_session.h"
#include "fuse_unmount.h"
#include "graceful_stop.h"
#include "heap_prefault.h"
#include "journal_bridge.h"
#include "journal_fs_ops.h"
#include "log.h"
#include "mount_registry.h"
#include "mount_site.h"
#include "mount_table.h"
#include "open_files.h"
#include "process_info.h"
#include "save_edits.h"
#include "save_signals.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/counted.h"
#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/journal.h"
#include "tpkg/line_escape.h"
#include "tpkg/record_path.h"
#include "tpkg/save_log.h"
#include "tpkg/torch_records.h"

namespace tpkg::fs {
namespace {

std::string AbsolutePath(const std::string& path) {
  std::optional<std::string> resolved = RealPath(path);
  if (!resolved) {
    const int err = errno;
    ThrowSystemError("cannot resolve '" + path + "'", err);
  }
  return *std::move(resolved);
}

// The canonical mountpoint (libfuse unmounts by this path after chdir("/")).
std::string CheckMountpoint(const std::string& mountpoint) {
  struct stat st;
  if (stat(mountpoint.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT)
      throw Error(Errc::kNotFound, "mountpoint '" + mountpoint + "' does not exist", err);
    if (err == ENOTCONN)  // a FUSE mount whose daemon is gone (killed) is still there
      throw Error(Errc::kIo,
                  "cannot use mountpoint '" + mountpoint +
                      "': a file system whose daemon is gone is still mounted there (" +
                      std::strerror(err) + "): unmount it first (tpkgfs -u " + mountpoint + ")",
                  err);
    ThrowSystemError("cannot use mountpoint '" + mountpoint + "'", err);
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(Errc::kNotDir, "mountpoint '" + mountpoint + "' is not a directory", ENOTDIR);
  }
  return AbsolutePath(mountpoint);
}

void CheckFuseAvailable() {
  const int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(Errc::kIo,
                std::string("FUSE is not available: cannot open /dev/fuse: ") + std::strerror(err),
                err);
  }
  close(fd);
}

std::string CheckArchiveFile(const std::string& archive) {
  struct stat st;
  if (stat(archive.c_str(), &st) != 0) {
    const int err = errno;
    ThrowSystemError("cannot open archive '" + archive + "'", err);
  }
  if (S_ISDIR(st.st_mode)) {
    throw Error(Errc::kIsDir, "cannot open archive '" + archive + "': it is a directory", EISDIR);
  }
  if (access(archive.c_str(), R_OK) != 0) {
    const int err = errno;
    ThrowSystemError("cannot open archive '" + archive + "'", err);
  }
  return AbsolutePath(archive);
}

// Whether the lenient reader would accept what the strict one refused, so
// that the refusal can point at -o nostrict only when it would help.
bool LenientReaderAccepts(const std::string& path) {
  try {
    ZipReader::Open(path, ZipReaderOptions{/*strict=*/false});
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Strict mode also refuses a torch archive whose version or extern-module
// record torch would choke on (or that hides data): tpkg/torch_records.h.
std::shared_ptr<const ZipReader> OpenArchive(const std::string& path, bool strict) {
  try {
    // The central directory only: each record's local header and the bytes
    // around it are checked at its first open or read (zip_reader.h), so the
    // mount does not read the archive; an open of a bad record fails with EIO
    // and logs why.
    // The record tables' heap is faulted in at once (heap_prefault.h).
    auto zip = std::make_shared<const ZipReader>(ZipReader::Open(
        path, ZipReaderOptions{.strict = strict,
                               .defer_record_checks = true,
                               .on_record_count = [](uint64_t records) {
                                 PrefaultHeap(HeapBytesForRecords(records));
                               }}));
    if (strict) {
      if (std::vector<Error> problems = CheckTorchRecords(*zip); !problems.empty()) {
        throw problems.front();
      }
    }
    return zip;
  } catch (const Error& e) {
    // The reader's message already starts with the archive's path.
    std::string message = std::string("cannot mount ") + e.what();
    if (strict && LenientReaderAccepts(path)) message += " (-o nostrict mounts it anyway)";
    throw Error(e.code(), message, e.sys_errno());
  }
}

// libfuse's argv: ours first so that the user's fsname=/subtype= win, and
// "ro" last for a read-only view so that nothing can make it writable.
// default_permissions always: the kernel checks every access against the
// files' owners and modes, as on any other file system. The daemon checks
// none itself, so without it a user let in by -o allow_other could change,
// add and delete files of the mount's owner, and the owner's save would
// write their changes into the archive.
std::vector<std::string> FuseArgv(const Options& o, const std::string& archive, bool read_only) {
  std::vector<std::string> argv{"tpkgfs"};
  if (o.debug) argv.push_back("-d");
  char* list = nullptr;
  fuse_opt_add_opt(&list, "subtype=tpkgfs");
  fuse_opt_add_opt_escaped(&list, ("fsname=" + archive).c_str());
  for (const std::string& opt : o.fuse_options) fuse_opt_add_opt_escaped(&list, opt.c_str());
  fuse_opt_add_opt(&list, "default_permissions");
  if (read_only) fuse_opt_add_opt(&list, "ro");
  std::unique_ptr<char, decltype(&std::free)> owner(list, &std::free);
  if (!list) throw Error(Errc::kIo, "out of memory building FUSE options", ENOMEM);
  argv.insert(argv.end(), {"-o", list});
  return argv;
}

int ExitStatus(int loop_result) {
  if (loop_result < 0) {
    TPKG_LOG(kError) << "the FUSE session failed: " << std::strerror(-loop_result);
    return 1;
  }
  if (loop_result > 0) TPKG_LOG(kDebug) << "stopped by signal " << loop_result;
  return 0;  // unmounted, or asked to stop by SIGINT / SIGTERM / SIGHUP
}

// Why edits of `archive` could not be kept, or "" when they can. Root may
// write anything, but an archive (or folder) without a single write bit is
// read-only by its owner's intent (ls shows it so, vim warns): mounting it
// read/write would replace it at the first edit.
std::string WhyNotWritable(const std::string& archive) {
  for (const std::string& path : {archive, archive.substr(0, archive.rfind('/') + 1)}) {
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && (st.st_mode & 0222) == 0)
      return "'" + path + "' has no write permission";
  }
  return "";
}

// Why the view will be read-only before the journal is even tried ("" when
// it may be read/write); `-o ro` gives a read-only view without a warning.
std::string WhyReadOnly(const Options& o, const std::string& archive,
                        const std::string& mountpoint) {
  if (o.read_only) return "-o ro";
  // The archive's folder, its journal folder and its save log, beside it:
  // a daemon waits for itself on anything its own mount hides.
  for (const std::string& beside : {archive.substr(0, archive.rfind('/') + 1),
                                    Journal::DirectoryFor(archive), SaveLogPathFor(archive)}) {
    if (LiesInside(beside, mountpoint))
      return "it, its journal or its save log lies inside the mountpoint, where the mount would "
             "hide them from the daemon itself";
  }
  return o.strict ? WhyNotWritable(archive) : "-o nostrict archives are never rewritten";
}

// Why a read/write view cannot hold every record ("" when it can): a path
// the journal refuses (JournalPathProblem: a component over NAME_MAX or a
// path over PATH_MAX, which torch writes and reads and the strict reader
// accepts, or a name that is not UTF-8). A read/write view could neither list
// such a record's folder nor save the archive. The read-only view shows the
// rest; it skips a record whose component is over NAME_MAX, with a warning.
std::string WhyRecordsNotEditable(const ZipReader& zip) {
  for (const ZipEntry& e : zip.entries()) {
    if (e.shadowed || e.name.empty()) continue;  // never in a view; the prefix folder
    const std::string_view path =
        e.name.ends_with('/') ? std::string_view(e.name).substr(0, e.name.size() - 1) : e.name;
    if (const RecordPathProblem p = JournalPathProblem(path))
      return "record " + QuoteName(e.name) + ": " + std::string(p.why) +
             ", which a read/write view cannot hold";
  }
  return "";
}

// The journal of a read/write mount, after recovering what an earlier
// daemon left; nullopt (with a one-line warning) when the view must be
// read-only: writes that could not be kept are never accepted.
std::optional<Journal> OpenJournal(const Options& o, const std::string& archive,
                                   const std::string& mountpoint, const ZipReader& zip) {
  if (o.read_only) return std::nullopt;
  std::string why = WhyReadOnly(o, archive, mountpoint);
  if (why.empty()) why = WhyRecordsNotEditable(zip);
  if (why.empty()) {
    try {
      JournalOptions options;
      // Made at the first change: a session that only reads writes nothing
      // beside the archive, and the mount waits for no fsync.
      options.create_at_first_change = true;
      // A background sync that fails has no caller to tell: log it now
      // (the log mirror also copies it into the save log).
      options.on_commit_failure = [](const std::string& message) {
        TPKG_LOG(kError) << message;
      };
      Journal journal = Journal::OpenOrCreate(archive, zip, options);
      if (!journal.recovery_summary().empty()) TPKG_LOG(kWarning) << journal.recovery_summary();
      return journal;
    } catch (const Error& e) {
      why = e.what();
      // A journal nothing can recover edits from: say how to be rid of it.
      if (e.code() == Errc::kCorrupt)
        why +=
            "; `tpkg edits --discard " + ShellWord(archive) + "` removes it and the edits it held";
    }
  }
  TPKG_LOG(kWarning) << "mounting " << archive << " read-only: " << why;
  return std::nullopt;
}

// A read-only view serves the archive as it is: edits a read/write mount
// left in its journal (killed, or its save failed) are not shown, which the
// user must hear of, with how to get them. Judged as `tpkg info` judges
// them: no lock, nothing changed. A journal that cannot be read is left to
// the read/write mount that will meet it.
void WarnOfEditsNotShown(const std::string& archive, const ZipReader& zip) {
  std::vector<Journal::PendingEdit> edits;
  try {
    edits = Journal::InspectEdits(archive, zip);
  } catch (const Error& e) {
    TPKG_LOG(kDebug) << "pending edits not inspected: " << e.what();
    return;
  }
  if (edits.empty()) return;
  TPKG_LOG(kWarning) << "the read-only view of " << archive << " does not show the "
                     << Counted(edits.size(), "pending edit", "pending edits") << " in "
                     << Journal::DirectoryFor(archive)
                     << ": mount it read/write to see and save them, or list them with `tpkg "
                        "edits "
                     << ShellWord(archive) << "`";
}

void AnnounceWait(const ArchiveHolder& holder) {
  const std::string archive = holder.record ? holder.record->archive : std::string("the archive");
  TPKG_LOG(kInfo) << "waiting for the save of " << archive << " (pid " << holder.pid
                  << ") to finish";
  // Unmounted here, yet still serving: a copy of its mount in another mount
  // namespace keeps it (mount_table.h), or files still open in a mount
  // detached by a lazy unmount (open_files.h); its save starts only when
  // those go.
  if (!holder.record || holder.record->state != MountState::kServing) return;
  const MountRecord& r = *holder.record;
  const std::vector<pid_t> copies = OtherNamespacesWithDevice(r.fuse_major, r.fuse_minor);
  if (!copies.empty()) {
    TPKG_LOG(kInfo) << "pid " << holder.pid << " has not begun that save: it still serves "
                    << r.mountpoint << " in the mount namespace of " << DescribeProcesses(copies)
                    << ", and saves when that copy goes";
    return;
  }
  std::vector<pid_t> users;
  try {
    users = ProcessesUsingDevice(r.fuse_major, r.fuse_minor);
  } catch (const Error& e) {
    TPKG_LOG(kDebug) << e.what();
  }
  if (users.empty()) return;  // saving by now, or held by processes we may not inspect
  TPKG_LOG(kInfo) << "pid " << holder.pid << " has not begun that save: " << r.mountpoint
                  << " was detached (lazy unmount) but files in it are still open, by "
                  << DescribeProcesses(users) << "; the save starts when they are closed";
}

// A failed save whose edits are still pending: say so before anything else.
void ReportPendingFailure(const std::string& archive) {
  if (const std::optional<SaveLogEntry> failure = PendingSaveFailure(archive))
    TPKG_LOG(kWarning) << DescribeSaveFailure(*failure);
}

mode_t ArchiveMode(const std::string& archive) {
  struct stat st {};
  return stat(archive.c_str(), &st) == 0 ? (st.st_mode & 0666) : 0644;
}

// Milliseconds since `start`, for the start-up timings logged at debug level.
double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Everything a daemon keeps from start-up to exit besides the FUSE objects.
struct DaemonState {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  double archive_opened_ms = 0;  // start-up timings (debug log)
  double journal_opened_ms = 0;
  std::string mountpoint;
  std::string archive;
  std::optional<Background> background;  // empty in the foreground
  std::string analysis_cache_dir;         // DefaultAnalysisCacheDir() ("": none)
  MountRegistration registration;
  ScopedFd archive_lock;  // held by read/write daemons (archive_lock.h)
  std::optional<MountInfo> mounted;  // the mount as made (its connection's device)
};

// A FUSE connection aborted by a write to /sys/fs/fuse/connections/N/abort
// ends the session as an unmount does (the device reads ENODEV), but the
// kernel leaves the mount in place, dead (every access fails with
// ENOTCONN), and libfuse does not unmount it (its fd reports the abort). Whoever aborted it wanted
// the file system gone: the daemon detaches it, says so, and goes on to save what the mount had
// accepted, as after an unmount. Called once the session is closed.
//
// After an unmount the kernel frees the device number, and a new mount at
// the same path may get it at once: the mount must also be of the same kind,
// source and options (a new tpkgfs mount of this archive waits for this
// daemon's save, so it cannot be here yet; only a read-only view of the
// same archive mounted at this path within that instant could match). The mount itself is never
// touched to tell (stat(2) of another daemon's mount could hang).
void DetachAbortedMount(const DaemonState& d) {
  if (!d.mounted) return;
  const std::vector<MountInfo> mounts = ParseMountInfo(ReadMountInfo());
  const MountInfo* m = TopMountAt(mounts, d.mountpoint);
  if (!m || m->major != d.mounted->major || m->minor != d.mounted->minor ||
      m->fstype != d.mounted->fstype || m->source != d.mounted->source ||
      m->super_options != d.mounted->super_options)
    return;
  std::string message = "the FUSE connection of " + d.mountpoint + " was aborted (" +
                        "/sys/fs/fuse/connections/" + std::to_string(m->minor) + "/abort)";
  if (const std::optional<UnmountFailure> failure = UnmountFuse(d.mountpoint, {.lazy = true})) {
    message += "; its dead mount stays until unmounted (cannot detach it: " + failure->why + ")";
  } else {
    message += "; its dead mount is detached";
  }
  TPKG_LOG(kWarning) << message;
}

// The kernel sizes FUSE read-ahead from the mount's backing device info,
// 128 KiB by default, and the INIT reply can only lower it. At 128 KiB a
// sequential read is one request round trip per 128 KiB; at kReadAheadKiB
// the kernel sends several 1 MiB requests (max_pages) at once, which the
// worker threads serve in parallel. Only root may raise it (sysfs): for
// others the mount keeps the default, which is merely slower. The INIT
// reply would undo an earlier write, so the bridge runs this on its first
// request after INIT (BridgeBase::RunAfterInit).
constexpr unsigned kReadAheadKiB = 4096;

std::function<void()> RaiseReadAhead(const MountInfo& m) {
  return [knob = "/sys/class/bdi/" + std::to_string(m.major) + ":" + std::to_string(m.minor) +
                 "/read_ahead_kb"] {
    ScopedFd fd(open(knob.c_str(), O_WRONLY | O_CLOEXEC));
    const std::string value = std::to_string(kReadAheadKiB) + "\n";
    if (!fd || write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
      TPKG_LOG(kDebug) << "kernel read-ahead left at its default: cannot write " << knob;
    }
  };
}

// Mounted: record it, tell the bridge to raise read-ahead once INIT is
// done, and in the background let the parent go.
template <class Bridge>
void Mounted(DaemonState& d, Bridge& bridge, bool writable, bool debug) {
  TPKG_LOG(kDebug) << "mounted " << MillisecondsSince(d.started)
                   << " ms after start-up (archive opened at " << d.archive_opened_ms
                   << " ms, journal at " << d.journal_opened_ms << " ms)";
  const std::vector<MountInfo> mounts = ParseMountInfo(ReadMountInfo());
  if (const MountInfo* m = TopMountAt(mounts, d.mountpoint)) {
    d.mounted = *m;
    d.registration.SetServing(m->major, m->minor, writable);
    bridge.RunAfterInit(RaiseReadAhead(*m));
  }
  if (!d.background) return;
  d.background->Ready();
  ConfigureLogging(LogSink::kSyslog, debug);
  if (!writable) return;
  // syslog may not run at all: errors and warnings also go to the save log.
  SetLogMirror([log = SaveLogPathFor(d.archive), mode = ArchiveMode(d.archive),
                archive = d.archive](LogLevel level, const std::string& line) {
    SaveLogEntry entry{SaveLogTimeNow(), ::getpid(),
                       level == LogLevel::kError ? SaveLogKind::kError : SaveLogKind::kWarning,
                       archive, SplitLines(line)};
    try {
      AppendToSaveLog(log, entry, {.mode = mode});
    } catch (const Error&) {
      // syslog has the line; the mirror must never log (it would recurse).
    }
  });
}

// What the analysis cache did over the mount, for the debug log; and why its
// disk layer last failed, if it did (after FlushDisk()).
void LogAnalysisCache(const RecordAnalysisCache& cache, const std::string& dir) {
  TPKG_LOG(kDebug) << "analysis cache over the mount: " << cache.hits() << " results reused, "
                   << cache.disk_hits() << " sources found on disk instead of scanned ("
                   << cache.digests_known()
                   << " of them known by their place in the archive file, not read; " << dir << ")";
  if (const std::string problem = cache.disk_problem(); !problem.empty())
    TPKG_LOG(kDebug) << "analysis disk cache: " << problem;
}

int RunReadOnly(const Options& options, DaemonState& d, std::shared_ptr<const ZipReader> zip) {
  // The generated files' analysis reads and fills the user's disk cache as
  // `tpkg deps` does: a read-only view writes nothing beside the archive,
  // and a package mounted before is not scanned again. The archive is the
  // home one: its sources are known by their place in this very file
  // (neither read nor hashed) when it was analysed, or saved, before.
  const auto analysis_cache = std::make_shared<RecordAnalysisCache>();
  analysis_cache->KeepOnDisk(d.analysis_cache_dir, zip.get());
  int loop_result;
  {
    FsOps ops(zip, FsOptions{getuid(), getgid()}, analysis_cache);
    FuseBridge bridge(ops);
    FuseArgs args(FuseArgv(options, d.archive, /*read_only=*/true));
    FuseSession session(args, FuseBridge::Operations(), &bridge);
    FuseMount mount(session, d.mountpoint);
    FuseSignalHandlers signals(session);
    Mounted(d, bridge, /*writable=*/false, options.debug);
    loop_result = RunSessionLoop(session, options.single_threaded);
    d.registration.SetSaving();
  }
  if (loop_result == 0) DetachAbortedMount(d);  // not after a signal: it unmounted
  const int status = ExitStatus(loop_result);
  analysis_cache->FlushDisk();  // the pack being written, so that a failure is logged
  LogAnalysisCache(*analysis_cache, d.analysis_cache_dir);
  return status;
}

// Serves until unmounted (or SIGINT/SIGTERM/SIGHUP), then saves the edits.
// `zip` is the archive the journal refers to: it must outlive the save.
int RunWritable(const Options& options, DaemonState& d, const std::shared_ptr<const ZipReader>& zip,
                Journal& journal) {
  int loop_result;
  // Per-record analysis results: filled by the mount (in the background from
  // the first edit on), reused by the save for every record the edits left.
  const auto analysis_cache = std::make_shared<RecordAnalysisCache>();
  // And on disk: the next mount of this package (or of its saved version)
  // scans only what changed since (tpkg/analysis_cache.h).
  analysis_cache->KeepOnDisk(d.analysis_cache_dir, &journal.original());
  AnalysisWarmer warmer(journal.original(), analysis_cache);  // joined after the save
  std::optional<SaveSignals> during_save;
  {
    JournalFsOps ops(zip, journal, FsOptions{getuid(), getgid()}, analysis_cache,
                     [&warmer] { warmer.Start(); });
    JournalBridge bridge(ops);
    FuseArgs args(FuseArgv(options, d.archive, /*read_only=*/false));
    FuseSession session(args, JournalBridge::Operations(), &bridge);
    FuseMount mount(session, d.mountpoint);
    try {
      // Room for the save's outcome even if the disk is full by then; made
      // once mounted, so that a start that fails leaves nothing beside the archive.
      ReserveSaveLog(SaveLogPathFor(d.archive), {.mode = ArchiveMode(d.archive)});
    } catch (const Error& e) {
      TPKG_LOG(kWarning) << "the save log has no room reserved: " << e.what();
    }
    FuseSignalHandlers signals(session);
    Mounted(d, bridge, /*writable=*/true, options.debug);
    // A signal with files open for writing: detach, and save once they are
    // closed (within close_wait), so that their writes are kept.
    GracefulStop stop({.mountpoint = d.mountpoint,
                       .close_wait = options.close_wait,
                       .files_open_for_writing = [&ops] { return ops.FilesOpenForWriting(); }});
    loop_result = RunSessionLoop(session, options.single_threaded, &stop);
    if (stop.detached()) mount.ForgetDetached();
    // The workers are gone; a mount started from now on waits for the save.
    SetLogMirror(nullptr);
    // Before libfuse's handlers go (and after the mirror, which its thread's
    // log lines would read): from here on a signal does not end the daemon.
    during_save.emplace(d.archive);
    d.registration.SetSaving();
  }  // unmounted: nobody can change the journal any more
  if (loop_result == 0) DetachAbortedMount(d);  // not after a signal: it unmounted
  const int loop_status = ExitStatus(loop_result);
  warmer.Stop();  // not waited for: the save scans what the cache lacks
  const int save_status = SaveEdits(journal, analysis_cache, [&d](const SaveLogEntry& outcome) {
    d.registration.SetUnloggedOutcome(FormatSaveLogEntry(outcome));
  });
  // Every pack asked for written (the save's, beside its last steps; the
  // background analysis's, once it has stopped), so that a failed one is logged.
  warmer.Join();
  analysis_cache->FlushDisk();
  LogAnalysisCache(*analysis_cache, d.analysis_cache_dir);
  return loop_status != 0 ? loop_status : save_status;
}

}  // namespace

int RunDaemon(const Options& options) {
  ConfigureLogging(LogSink::kStderr, options.debug);
  RouteFuseLogToOurLog();
  DaemonState d;
  d.mountpoint = CheckMountpoint(options.mountpoint);
  CheckFuseAvailable();
  RefuseStackedMount(d.mountpoint);
  d.archive = CheckArchiveFile(options.archive);
  if (const std::string hidden = HiddenEntriesWarning(d.mountpoint); !hidden.empty())
    TPKG_LOG(kWarning) << hidden;
  d.analysis_cache_dir = DefaultAnalysisCacheDir();  // before the move to "/"
  if (!d.analysis_cache_dir.empty() && LiesInside(d.analysis_cache_dir, d.mountpoint)) {
    TPKG_LOG(kWarning) << "not using the analysis cache " << d.analysis_cache_dir
                       << ": it lies inside the mountpoint";
    d.analysis_cache_dir.clear();
  }
  // From here on the pid is the daemon's for good (background.h).
  if (!options.foreground) d.background.emplace(Background::Start());
  ReportPendingFailure(d.archive);
  const bool may_write = WhyReadOnly(options, d.archive, d.mountpoint).empty();
  struct stat st {};
  stat(d.archive.c_str(), &st);
  // Registered before the lock is taken, so that whoever meets the lock
  // finds who holds it and in which state.
  d.registration = MountRegistration::Register(
      RegistryDirFor(geteuid()),
      MountRecord{.writable = may_write,
                  .archive = d.archive,
                  .archive_dev = static_cast<uint64_t>(st.st_dev),
                  .archive_ino = static_cast<uint64_t>(st.st_ino),
                  .mountpoint = d.mountpoint,
                  .journal = may_write ? Journal::DirectoryFor(d.archive) : "",
                  .log = may_write ? SaveLogPathFor(d.archive) : ""});
  if (may_write) {
    d.archive_lock = LockArchive(d.archive, AnnounceWait);
  } else {
    WaitForSaveOf(d.archive, AnnounceWait);
  }
  std::shared_ptr<const ZipReader> zip = OpenArchive(d.archive, options.strict);
  d.archive_opened_ms = MillisecondsSince(d.started);
  std::optional<Journal> journal = OpenJournal(options, d.archive, d.mountpoint, *zip);
  d.journal_opened_ms = MillisecondsSince(d.started);
  if (!journal) {
    d.archive_lock.reset();  // a read-only view holds no lock
    WarnOfEditsNotShown(d.archive, *zip);
    return RunReadOnly(options, d, std::move(zip));
  }
  return RunWritable(options, d, zip, *journal);
}

}  // namespace tpkg::fs
