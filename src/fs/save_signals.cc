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
#include <initializer_list>
#include <system_error>
#include <utility>

#include "graceful_stop.h"
#include "log.h"
#include "tpkg/background_thread.h"

namespace tpkg::fs {
namespace {

sigset_t SignalSet(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : signals) sigaddset(&set, sig);
  return set;
}

}  // namespace

SaveSignals::SaveSignals(std::string archive) : archive_(std::move(archive)) {
  // SIGPIPE too, which libfuse's handlers ignored: a log line to a pipe whose
  // reader is gone (`tpkgfs -f ... | tee`, then Ctrl-C) fails with EPIPE
  // instead of ending the daemon. Only blocked, never read: its line would
  // go to the same pipe. Programs the save starts (fusermount3) inherit the
  // mask; they end on their own.
  const sigset_t blocked = SignalSet({SIGINT, SIGTERM, SIGHUP, SIGPIPE});
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);  // cannot fail with a valid `how`
  const sigset_t logged = SignalSet({SIGINT, SIGTERM, SIGHUP});
  signals_.reset(::signalfd(-1, &logged, SFD_CLOEXEC | SFD_NONBLOCK));
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
  // An eventfd write of 1 cannot fail short of a counter at its maximum; if
  // it ever did, the thread is left to end with the process, not joined blind.
  if (::write(stop_.get(), &one, sizeof one) < 0) {
    thread_.detach();
    return;
  }
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
    // Non-blocking: nothing to read (EAGAIN) when another reader took it.
    if (::read(signals_.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
    TPKG_LOG(kInfo) << SignalName(static_cast<int>(info.ssi_signo)) << ": the save of " << archive_
                    << " goes on: SIGINT, SIGTERM and SIGHUP do not interrupt it (SIGKILL does; "
                       "the journal keeps the edits)";
  }
}

}  // namespace tpkg::fs
