#include "daemon.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "fs_ops.h"
#include "fuse_bridge.h"
#include "fuse_session.h"
#include "log.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

std::string AbsolutePath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(realpath(path.c_str(), nullptr), &std::free);
  if (!resolved) {
    const int err = errno;
    ThrowSystemError("cannot resolve '" + path + "'", err);
  }
  return resolved.get();
}

// The canonical mountpoint (libfuse unmounts by this path after chdir("/")).
std::string CheckMountpoint(const std::string& mountpoint) {
  struct stat st;
  if (stat(mountpoint.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT)
      throw Error(Errc::kNotFound, "mountpoint '" + mountpoint + "' does not exist", err);
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

std::shared_ptr<const ZipReader> OpenArchive(const std::string& path, bool strict) {
  try {
    return std::make_shared<const ZipReader>(ZipReader::Open(path, ZipReaderOptions{strict}));
  } catch (const Error& e) {
    // The reader's message already starts with the archive's path.
    std::string message = std::string("cannot mount ") + e.what();
    if (strict && LenientReaderAccepts(path)) message += " (-o nostrict mounts it anyway)";
    throw Error(e.code(), message, e.sys_errno());
  }
}

// libfuse's argv: ours first so that the user's fsname=/subtype= win, and
// "ro" last so that mount.fuse3's "rw" cannot make the view writable.
std::vector<std::string> FuseArgv(const Options& o, const std::string& archive) {
  std::vector<std::string> argv{"tpkgfs"};
  if (o.debug) argv.push_back("-d");
  char* list = nullptr;
  fuse_opt_add_opt(&list, "subtype=tpkgfs");
  fuse_opt_add_opt_escaped(&list, ("fsname=" + archive).c_str());
  for (const std::string& opt : o.fuse_options) fuse_opt_add_opt_escaped(&list, opt.c_str());
  fuse_opt_add_opt(&list, "ro");
  std::unique_ptr<char, decltype(&std::free)> owner(list, &std::free);
  if (!list) throw Error(Errc::kIo, "out of memory building FUSE options", ENOMEM);
  argv.insert(argv.end(), {"-o", list});
  return argv;
}

void Daemonize() {
  ConfigureLogging(LogSink::kSyslog, LogEnabled(LogLevel::kDebug));
  if (fuse_daemonize(/*foreground=*/0) != 0) {
    throw Error(Errc::kIo, "cannot move to the background");
  }
}

int ExitStatus(int loop_result) {
  if (loop_result < 0) {
    TPKG_LOG(kError) << "the FUSE session failed: " << std::strerror(-loop_result);
    return 1;
  }
  if (loop_result > 0) TPKG_LOG(kDebug) << "stopped by signal " << loop_result;
  return 0;  // unmounted, or asked to stop by SIGINT / SIGTERM / SIGHUP
}

}  // namespace

int RunDaemon(const Options& options) {
  ConfigureLogging(LogSink::kStderr, options.debug);
  RouteFuseLogToOurLog();
  const std::string mountpoint = CheckMountpoint(options.mountpoint);
  CheckFuseAvailable();
  const std::string archive = CheckArchiveFile(options.archive);
  FsOps ops(OpenArchive(archive, options.strict), FsOptions{getuid(), getgid()});
  FuseBridge bridge(ops);
  FuseArgs args(FuseArgv(options, archive));
  FuseSession session(args, FuseBridge::Operations(), &bridge);
  FuseMount mount(session, mountpoint);
  FuseSignalHandlers signals(session);
  if (!options.foreground) Daemonize();
  return ExitStatus(RunSessionLoop(session, options.single_threaded));
}

}  // namespace tpkg::fs
