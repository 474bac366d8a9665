// log.h: the daemon's one logging macro.
//
// Messages go to stderr while the daemon runs in the foreground and to
// syslog (facility LOG_DAEMON, ident "tpkgfs") once it has daemonized.
// Debug lines are dropped unless -d was given. A mirror (SetLogMirror) also
// receives every error and warning line: the background daemon of a
// read/write mount copies them into the archive's save log
// (tpkg/save_log.h), since syslog may not run or be read.
//
//   TPKG_LOG(kError) << "Cannot read '" << record << "': " << e.what();
//   TPKG_LOG(kDebug) << "lookup " << parent << "/" << name;
//
// Thread safety: the sink and the debug switch are process-wide atomics set
// by main() before any worker thread starts; each line is emitted with one
// write(2) (stderr) or one syslog(3) call, so lines from threads never mix.
// The mirror is set and cleared only while no other thread runs (before the
// session loop, after it returns); it is called from any thread and must be
// thread-safe itself.
#pragma once

#include <functional>
#include <sstream>
#include <string>

namespace tpkg::fs {

enum class LogLevel { kError, kWarning, kInfo, kDebug };
enum class LogSink { kStderr, kSyslog };

// Chooses where lines go and whether kDebug lines are kept.
void ConfigureLogging(LogSink sink, bool debug);
bool LogEnabled(LogLevel level);

// Also hands each kError and kWarning line to `mirror` (nullptr: none).
using LogMirror = std::function<void(LogLevel level, const std::string& line)>;
void SetLogMirror(LogMirror mirror);

// Collects one line and emits it on destruction.
class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  ~LogLine();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Turns the streamed expression into void so that TPKG_LOG is one
// expression (safe inside an unbraced if/else); `&` binds after `<<`.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace tpkg::fs

#define TPKG_LOG(level)                                \
  !::tpkg::fs::LogEnabled(::tpkg::fs::LogLevel::level) \
      ? (void)0                                        \
      : ::tpkg::fs::LogVoidify() & ::tpkg::fs::LogLine(::tpkg::fs::LogLevel::level).stream()
