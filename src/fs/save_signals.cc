#include "save_signals.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <utility>

#include "graceful_stop.h"
#include "log.h"
#include "tpkg/background_thread.h"

namespace tpkg::fs {
namespace {

sigset_t SaveSignalSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  return set;
}

}  // namespace

SaveSignals::SaveSignals(std::string archive) : archive_(std::move(archive)) {
  const sigset_t set = SaveSignalSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // cannot fail with a valid `how`
  signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC));
  const int signalfd_errno = errno;
  stop_.reset(::eventfd(0, EFD_CLOEXEC));
  const int eventfd_errno = errno;
  if (!signals_ || !stop_) {
    TPKG_LOG(kWarning) << "signals during the save are not logged (they do not interrupt it): "
                       << std::strerror(!signals_ ? signalfd_errno : eventfd_errno);
    return;
  }
  try {
    thread_ = StartBackgroundThread([this] { Run(); });
  } catch (const std::system_error& e) {
    TPKG_LOG(kWarning) << "signals during the save are not logged (they do not interrupt it): "
                       << e.what();
  }
}

SaveSignals::~SaveSignals() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  // An eventfd write of 1 cannot fail short of a counter at its maximum.
  if (::write(stop_.get(), &one, sizeof one) < 0) return;  // cannot happen; never join blind
  thread_.join();
}

void SaveSignals::Run() {
  pollfd fds[2] = {{signals_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    signalfd_siginfo info;
    if (::read(signals_.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
    TPKG_LOG(kInfo) << SignalName(static_cast<int>(info.ssi_signo)) << ": the save of " << archive_
                    << " goes on: no signal interrupts it (SIGKILL does; the journal keeps "
                       "the edits)";
  }
}

}  // namespace tpkg::fs
