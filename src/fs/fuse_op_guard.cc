#include "fuse_op_guard.h"

#include <cerrno>
#include <exception>
#include <new>

#include "log.h"
#include "tpkg/error.h"

namespace tpkg::fs {

OpFailure CurrentOpFailure() noexcept {
  try {
    throw;
  } catch (const Error& e) {
    return {ToErrno(e), e.what(), e.code() == Errc::kPolicy};
  } catch (const std::bad_alloc&) {
    return {ENOMEM, "out of memory"};
  } catch (const std::exception& e) {
    return {EIO, e.what()};
  } catch (...) {
    return {EIO, "unknown error"};
  }
}

bool IsOrdinaryAnswer(int err) noexcept {
  switch (err) {
    case ENOENT:
    case EEXIST:
    case ENOTEMPTY:
    case ENOTDIR:
    case EISDIR:
    case ENAMETOOLONG:
    case EINVAL:
    case EACCES:
    case EPERM:
    case EBADF:
    case EILSEQ:
    case EOVERFLOW:  // a value the archive cannot hold (a time before 1970)
      return true;
    default: return false;
  }
}

namespace {

LogLevel LevelOf(const OpFailure& failure) {
  if (failure.policy) return LogLevel::kWarning;
  return IsOrdinaryAnswer(failure.err) ? LogLevel::kDebug : LogLevel::kError;
}

}  // namespace

bool OpFailureLogged(const OpFailure& failure) noexcept { return LogEnabled(LevelOf(failure)); }

void LogOpFailure(const char* verb, const std::string& path, const OpFailure& failure) noexcept {
  if (!OpFailureLogged(failure)) return;
  try {
    if (failure.policy) {
      // The rule's own line names the operation and the path (as the mount shows it).
      LogLine(LogLevel::kWarning).stream() << failure.reason;
      return;
    }
    LogLine(LevelOf(failure)).stream()
        << "Cannot " << verb << " '" << path << "': " << failure.reason;
  } catch (...) {
    // Out of memory while logging: the -errno reply still tells the program.
  }
}

}  // namespace tpkg::fs
