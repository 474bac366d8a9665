#include "log.h"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace tpkg::fs {
namespace {

std::atomic<LogSink> g_sink{LogSink::kStderr};
std::atomic<bool> g_debug{false};
LogMirror g_mirror;  // set only while no other thread runs (log.h)

int SyslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return LOG_ERR;
    case LogLevel::kWarning: return LOG_WARNING;
    case LogLevel::kInfo: return LOG_INFO;
    case LogLevel::kDebug: return LOG_DEBUG;
  }
  return LOG_ERR;
}

}  // namespace

void ConfigureLogging(LogSink sink, bool debug) {
  if (sink == LogSink::kSyslog) openlog("tpkgfs", LOG_PID, LOG_DAEMON);
  g_sink.store(sink);
  g_debug.store(debug);
}

void SetLogMirror(LogMirror mirror) { g_mirror = std::move(mirror); }

bool LogEnabled(LogLevel level) {
  return level != LogLevel::kDebug || g_debug.load(std::memory_order_relaxed);
}

LogLine::~LogLine() {
  // A destructor must not throw: a line that cannot be built for lack of
  // memory is dropped (it may be the one reporting that very shortage).
  try {
    const std::string text = stream_.str();
    if (g_mirror && (level_ == LogLevel::kError || level_ == LogLevel::kWarning))
      g_mirror(level_, text);
    if (g_sink.load() == LogSink::kSyslog) {
      syslog(SyslogPriority(level_), "%s", text.c_str());
      return;
    }
    const std::string line = "tpkgfs: " + text + "\n";
    // One write so that concurrent lines do not interleave; nothing useful
    // can be done if stderr is gone.
    [[maybe_unused]] ssize_t n = write(STDERR_FILENO, line.data(), line.size());
  } catch (...) {
  }
}

}  // namespace tpkg::fs
