#include "signal_waker.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "graceful_stop.h"
#include "tpkg/background_thread.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr size_t kSignalCount = sizeof kSignals / sizeof kSignals[0];

// Process-wide, as signal dispositions are. Written by the constructor
// before its handler is installed and by Stop() after it is removed; the
// handler only reads them.
struct sigaction g_replaced[kSignalCount];
bool g_wrapped[kSignalCount];  // whether ours replaced it (a handler was there)
std::atomic<int> g_wake_fd{-1};
std::atomic<int> g_last_signal{SIGTERM};
std::atomic<bool> g_in_use{false};
// Where the loop stands: serving; a signal recorded, the helper deciding
// whether to wait for files (only with a GracefulStop); ending.
enum Phase : int { kServing, kWaiting, kEnding };
std::atomic<int> g_phase{kServing};
std::atomic<bool> g_graceful{false};
// A second signal during the wait: the helper thread ends the loop, after
// writing back the pages still dirty in shared mappings of the files open
// (GracefulStop::WriteBackBeforeEnd), which only the running loop can take.
// Never the handler itself: the helper may be inside a call on the mount
// (Begin() opens the mount's root, MayEnd() fsyncs), which the loop must
// answer, or it would wait for ever (and the loop's end joins it).
std::atomic<bool> g_deferred_end{false};
// The signal that began the wait, and when (CLOCK_MONOTONIC, ns).
std::atomic<int> g_first_signal{0};
std::atomic<int64_t> g_first_at_ns{0};
// The same signal again this soon after the first is the same event sent
// twice, not a second request: a closing terminal's SIGHUP reaches a
// foreground daemon from the kernel and from its shell at once.
constexpr int64_t kSameEventNs = 100'000'000;

int64_t MonotonicNs() {  // clock_gettime is async-signal-safe
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// libfuse's handler for `sig` (it sets the session's exit flag), if ours
// replaced one. Also called from the helper thread: it only stores flags.
void CallReplaced(int sig) {
  for (size_t i = 0; i < kSignalCount; ++i) {
    if (kSignals[i] == sig && g_wrapped[i]) g_replaced[i].sa_handler(sig);
  }
}

void WakeHelper(int fd) {
  const uint64_t one = 1;
  // A full counter means the helper is awake anyway.
  [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
}

// Async-signal-safe: the replaced handler (libfuse's sets the exit flag),
// atomic stores and a write(2). With a GracefulStop the first signal is only
// recorded: the helper decides when the loop ends.
void OnSignal(int sig) {
  const int saved_errno = errno;
  const bool graceful = g_graceful.load(std::memory_order_relaxed);
  const int64_t now = MonotonicNs();
  if (graceful && g_phase.load() == kWaiting && sig == g_first_signal.load() &&
      now - g_first_at_ns.load() < kSameEventNs) {
    errno = saved_errno;
    return;
  }
  g_last_signal.store(sig);  // before the phase: the helper reads it once woken
  if (graceful && g_phase.load() == kServing) {
    g_first_signal.store(sig);
    g_first_at_ns.store(now);
  }
  int serving = kServing;
  if (!(graceful && g_phase.compare_exchange_strong(serving, kWaiting))) {
    if (graceful && g_phase.load() == kWaiting) {
      g_deferred_end.store(true);
    } else {
      CallReplaced(sig);
      g_phase.store(kEnding);
    }
  }
  if (const int fd = g_wake_fd.load(std::memory_order_acquire); fd >= 0) WakeHelper(fd);
  errno = saved_errno;
}

// Only a plain handler is wrapped (libfuse's): a signal the process ignores
// (a background job of a non-interactive shell inherits SIGINT ignored, and
// libfuse leaves that alone) stays ignored, and nothing resends it.
bool IsPlainHandler(const struct sigaction& action) {
  return !(action.sa_flags & SA_SIGINFO) && action.sa_handler != SIG_DFL &&
         action.sa_handler != SIG_IGN && action.sa_handler != nullptr;
}

sigset_t TheSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kSignals) sigaddset(&set, sig);
  return set;
}

}  // namespace

SignalLoopWaker::SignalLoopWaker(GracefulStop* stop)
    : loop_thread_(pthread_self()), graceful_(stop) {
  if (g_in_use.exchange(true)) {
    throw Error(Errc::kInvalidArgument, "a SignalLoopWaker already runs in this process");
  }
  g_phase.store(kServing);
  g_deferred_end.store(false);
  g_graceful.store(stop != nullptr);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    const int err = errno;
    g_in_use.store(false);
    ThrowSystemError("cannot make the eventfd that wakes the FUSE loop after a signal", err);
  }
  g_wake_fd.store(wake_fd_, std::memory_order_release);
  try {
    helper_ = StartBackgroundThread([this] { Run(); });
  } catch (...) {
    g_wake_fd.store(-1);
    ::close(wake_fd_);
    g_in_use.store(false);
    throw;
  }
  // The replaced handler is read first and ours installed after: a signal in
  // between still runs the replaced one, never a half-recorded one.
  struct sigaction ours {};
  ours.sa_handler = OnSignal;
  sigemptyset(&ours.sa_mask);
  ours.sa_flags = 0;  // no SA_RESTART: the resend must interrupt the loop's wait
  for (size_t i = 0; i < kSignalCount; ++i) {
    ::sigaction(kSignals[i], nullptr, &g_replaced[i]);
    g_wrapped[i] = IsPlainHandler(g_replaced[i]);
    if (g_wrapped[i]) ::sigaction(kSignals[i], &ours, nullptr);
  }
}

SignalLoopWaker::~SignalLoopWaker() { Stop(); }

void SignalLoopWaker::Run() {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> next_resend;  // set once the loop is to end
  std::optional<Clock::time_point> next_check;   // set while waiting for files
  for (;;) {
    std::optional<Clock::time_point> next = next_resend;
    if (next_check && (!next || *next_check < *next)) next = next_check;
    int timeout_ms = -1;
    if (next) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - Clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    pollfd wake{wake_fd_, POLLIN, 0};
    const int ready = ::poll(&wake, 1, timeout_ms);  // every signal is blocked here: no EINTR
    if (stop_.load(std::memory_order_acquire)) return;
    if (ready > 0) {
      uint64_t count;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof count);
    }
    if (g_phase.load() == kWaiting) {  // a first signal, with a GracefulStop
      const bool first = !next_check;
      if (first || Clock::now() >= *next_check) {
        // Begin names the signal that began the wait (a second one may be
        // the last seen already: two at once).
        const bool may_end = first ? graceful_->Begin(g_first_signal.load()) : graceful_->MayEnd();
        if (may_end) {
          EndLoop();
          next_check.reset();
          next_resend = Clock::now() + kKickInterval;
        } else {
          next_check = Clock::now() + kDrainPoll;
        }
      }
    }
    // A second signal (the handler's wake-up brings it here, also when it
    // came while this thread was in Begin() or MayEnd()): the wait ends now,
    // once what shared mappings hold is written back.
    if (g_deferred_end.exchange(false) && g_phase.load() == kWaiting) {
      graceful_->WriteBackBeforeEnd();
      EndLoop();
    }
    if (g_phase.load() == kEnding && !next_resend) {
      // A second signal ended the wait (or came before it began): say what
      // was still open. Read again: the handler stored the signal before
      // the phase this thread has just seen, and `sig` may be the first's.
      if (graceful_) graceful_->Interrupted(g_last_signal.load());
      next_check.reset();
      // A loop that ends on its own does so well within the interval.
      next_resend = Clock::now() + kKickInterval;
    }
    if (next_resend && Clock::now() >= *next_resend) {
      ::pthread_kill(loop_thread_, g_last_signal.load(std::memory_order_relaxed));
      next_resend = Clock::now() + kKickInterval;
    }
  }
}

void SignalLoopWaker::EndLoop() {
  CallReplaced(g_last_signal.load(std::memory_order_relaxed));
  g_phase.store(kEnding);
  // The loop's thread waits (on a worker or on /dev/fuse): the signal
  // interrupts that wait, and the flag set above ends the loop.
  ::pthread_kill(loop_thread_, g_last_signal.load(std::memory_order_relaxed));
}

void SignalLoopWaker::Stop() {
  if (stopped_) return;
  stopped_ = true;
  const sigset_t signals = TheSignals();
  sigset_t before;
  ::pthread_sigmask(SIG_BLOCK, &signals, &before);
  stop_.store(true, std::memory_order_release);
  WakeHelper(wake_fd_);
  helper_.join();
  // A resend the helper made before it stopped may still be pending here
  // (blocked): take it back, so that it never interrupts what follows.
  const timespec now{0, 0};
  while (::sigtimedwait(&signals, nullptr, &now) > 0) {
  }
  for (size_t i = 0; i < kSignalCount; ++i) {
    if (g_wrapped[i]) ::sigaction(kSignals[i], &g_replaced[i], nullptr);
  }
  g_wake_fd.store(-1, std::memory_order_release);
  ::close(wake_fd_);
  wake_fd_ = -1;
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  g_in_use.store(false);
}

}  // namespace tpkg::fs
