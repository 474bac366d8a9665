#include "graceful_stop.h"

#include <fcntl.h>   // openat
#include <string.h>  // sigabbrev_np
#include <unistd.h>  // fsync

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>
#include <utility>

#include "fuse_unmount.h"
#include "log.h"

namespace tpkg::fs {
namespace {

std::string Files(size_t n) { return std::to_string(n) + (n == 1 ? " file" : " files"); }

std::string Seconds(std::chrono::milliseconds d) {
  std::ostringstream out;
  out << static_cast<double>(d.count()) / 1000 << " s";
  return out.str();
}

}  // namespace

std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

GracefulStop::GracefulStop(GracefulStopOptions options) : options_(std::move(options)) {}

std::string GracefulStop::Listing(const std::vector<std::string>& files) const {
  constexpr size_t kNamed = 5;  // one line, however many files
  std::string out;
  for (size_t i = 0; i < files.size() && i < kNamed; ++i) {
    if (i) out += ", ";
    out += files[i];
  }
  if (files.size() > kNamed) out += " and " + std::to_string(files.size() - kNamed) + " more";
  return out;
}

bool GracefulStop::Begin(int sig) {
  if (options_.close_wait.count() <= 0) return true;
  const std::vector<std::string> open = options_.files_open_for_writing();
  if (open.empty()) return true;
  deadline_ = std::chrono::steady_clock::now() + options_.close_wait;
  // Served by the loop (OPENDIR), which still runs: this thread is not it.
  mount_root_ = ScopedFd(::open(options_.mountpoint.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!mount_root_) mount_root_errno_ = errno;
  std::string detach = "the mount is detached";
  if (const std::optional<UnmountFailure> failure =
          UnmountFuse(options_.mountpoint, {.lazy = true})) {
    // Still served as it is; the wait is the same.
    detach = "the mount could not be detached (" + failure->why + ")";
  } else {
    detached_ = true;
  }
  const bool one = open.size() == 1;
  TPKG_LOG(kWarning) << SignalName(sig) << ": " << Files(open.size()) << (one ? " is" : " are")
                     << " still open for writing in " << options_.mountpoint << " ("
                     << Listing(open) << "); " << detach << ", and tpkgfs saves once "
                     << (one ? "it is" : "they are") << " closed, or after "
                     << Seconds(options_.close_wait)
                     << " (-o close_wait=SECONDS; another signal saves at once)";
  return false;
}

bool GracefulStop::MayEnd() {
  const std::vector<std::string> open = options_.files_open_for_writing();
  if (open.empty()) {
    TPKG_LOG(kInfo) << "every file open for writing in " << options_.mountpoint
                    << " was closed: saving";
    mount_root_.reset();
    return true;
  }
  if (std::chrono::steady_clock::now() < deadline_) return false;
  WriteBackMappedPages(open);
  LogCutOff("saving after " + Seconds(options_.close_wait), open);
  return true;
}

void GracefulStop::WriteBackBeforeEnd() {
  if (!mount_root_ && !mount_root_errno_) return;  // no wait began: nothing open for writing
  const std::vector<std::string> open = options_.files_open_for_writing();
  if (!open.empty()) WriteBackMappedPages(open);
}

void GracefulStop::WriteBackMappedPages(const std::vector<std::string>& open) {
  // fsync, not syncfs: FUSE ends a page's writeback before the daemon has
  // the WRITE, so syncfs may return with the data still queued in the
  // kernel; fsync also waits for those writes (fuse_sync_writes).
  std::vector<std::string> failed;
  int err = mount_root_errno_;
  for (const std::string& path : open) {
    if (!mount_root_) break;
    const int fd = ::openat(mount_root_.get(), path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int file_err = fd < 0 ? errno : 0;
    const ScopedFd file(fd);
    if (file && ::fsync(file.get()) != 0) file_err = errno;
    if (file_err == 0 || file_err == ENOENT) continue;  // ENOENT: deleted, so not saved anyway
    err = file_err;
    failed.push_back(path);
  }
  mount_root_.reset();  // RELEASEDIR is sent in the background: no wait
  if (!mount_root_errno_ && failed.empty()) return;
  TPKG_LOG(kWarning) << "cannot write back the pages of "
                     << (mount_root_errno_ ? Listing(open) : Listing(failed)) << " in "
                     << options_.mountpoint << " (" << std::strerror(err)
                     << "): what a process wrote through a shared mapping of them and did not "
                        "sync is not saved";
}

void GracefulStop::Interrupted(int sig) {
  mount_root_.reset();
  const std::vector<std::string> open = options_.files_open_for_writing();
  if (!open.empty()) LogCutOff(SignalName(sig) + " again: saving now", open);
}

void GracefulStop::LogCutOff(const std::string& lead, const std::vector<std::string>& open) const {
  TPKG_LOG(kWarning) << lead << " with " << Files(open.size()) << " still open for writing in "
                     << options_.mountpoint << " (" << Listing(open)
                     << "): what reached the mount is saved; their later writes fail";
}

}  // namespace tpkg::fs
