#include "graceful_stop.h"

#include <string.h>  // sigabbrev_np

#include <optional>
#include <sstream>
#include <utility>

#include "fuse_unmount.h"
#include "log.h"

namespace tpkg::fs {
namespace {

std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string Files(size_t n) { return std::to_string(n) + (n == 1 ? " file" : " files"); }

std::string Seconds(std::chrono::milliseconds d) {
  std::ostringstream out;
  out << static_cast<double>(d.count()) / 1000 << " s";
  return out.str();
}

}  // namespace

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
    return true;
  }
  if (std::chrono::steady_clock::now() < deadline_) return false;
  LogCutOff("saving after " + Seconds(options_.close_wait), open);
  return true;
}

void GracefulStop::Interrupted(int sig) {
  const std::vector<std::string> open = options_.files_open_for_writing();
  if (!open.empty()) LogCutOff(SignalName(sig) + " again: saving now", open);
}

void GracefulStop::LogCutOff(const std::string& lead, const std::vector<std::string>& open) const {
  TPKG_LOG(kWarning) << lead << " with " << Files(open.size()) << " still open for writing in "
                     << options_.mountpoint << " (" << Listing(open)
                     << "): what reached the mount is saved; their later writes fail";
}

}  // namespace tpkg::fs
