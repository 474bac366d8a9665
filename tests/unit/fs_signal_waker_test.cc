// SignalLoopWaker (src/fs/signal_waker.h): a signal handled just before the
// loop's thread blocks still interrupts the wait; nothing of it is left once
// stopped. The "loop" here is what libfuse's multi-threaded loop does: check
// the exit flag, then sem_wait on a semaphore only a worker posts.
#include "signal_waker.h"

#include <gtest/gtest.h>
#include <semaphore.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <thread>

#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

std::atomic<int> g_handled{0};  // calls of the handler the waker wraps (libfuse's stand-in)

void ExitFlagHandler(int) { g_handled.fetch_add(1); }

// Installs ExitFlagHandler for SIGINT, SIGTERM and SIGHUP as libfuse does
// (no SA_RESTART) for the test's lifetime, then the default again.
class ReplacedHandlers {
 public:
  ReplacedHandlers() {
    g_handled = 0;
    struct sigaction sa {};
    sa.sa_handler = ExitFlagHandler;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  }
  ~ReplacedHandlers() {
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
  }
};

void ExpectHandlersAreTheReplacedOnes() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction now {};
    sigaction(sig, nullptr, &now);
    EXPECT_EQ(now.sa_handler, &ExitFlagHandler) << sig;
  }
}

bool Pending(int sig) {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, sig) == 1;
}

timespec In(std::chrono::seconds s) {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += s.count();
  return t;
}

TEST(SignalLoopWaker, ASignalHandledJustBeforeTheWaitStillInterruptsIt) {
  ReplacedHandlers handlers;
  sem_t finish;  // never posted: no worker will end
  ASSERT_EQ(sem_init(&finish, 0, 0), 0);
  SignalLoopWaker waker;
  ASSERT_EQ(raise(SIGINT), 0);  // handled here and now, as in the window
  EXPECT_EQ(g_handled.load(), 1);  // the wrapped handler ran (libfuse sets its flag there)
  const timespec deadline = In(std::chrono::seconds(10));
  const int waited = sem_timedwait(&finish, &deadline);
  const int err = errno;
  EXPECT_EQ(waited, -1);
  EXPECT_EQ(err, EINTR) << "the wait was not interrupted: the loop would never see its flag";
  EXPECT_GE(g_handled.load(), 2);  // the resend ran the wrapped handler again
  waker.Stop();
  ExpectHandlersAreTheReplacedOnes();
  EXPECT_FALSE(Pending(SIGINT));
  sem_destroy(&finish);
}

TEST(SignalLoopWaker, NothingReachesTheThreadAfterStop) {
  ReplacedHandlers handlers;
  {
    SignalLoopWaker waker;
    ASSERT_EQ(raise(SIGTERM), 0);
    waker.Stop();  // before the first resend is due
  }
  const int after_stop = g_handled.load();
  EXPECT_EQ(after_stop, 1);
  std::this_thread::sleep_for(3 * SignalLoopWaker::kKickInterval);
  EXPECT_EQ(g_handled.load(), after_stop);  // no resend ran the handler since
  EXPECT_FALSE(Pending(SIGTERM));
  ExpectHandlersAreTheReplacedOnes();
}

TEST(SignalLoopWaker, WithoutASignalItSendsNothing) {
  ReplacedHandlers handlers;
  {
    SignalLoopWaker waker;
    std::this_thread::sleep_for(2 * SignalLoopWaker::kKickInterval);
  }
  EXPECT_EQ(g_handled.load(), 0);
  ExpectHandlersAreTheReplacedOnes();
}

// A background job of a non-interactive shell starts with SIGINT ignored,
// and libfuse leaves it so: the waker must not make it count (nor resend it).
TEST(SignalLoopWaker, AnIgnoredSignalStaysIgnored) {
  ReplacedHandlers handlers;
  signal(SIGINT, SIG_IGN);
  {
    SignalLoopWaker waker;
    struct sigaction now {};
    sigaction(SIGINT, nullptr, &now);
    EXPECT_EQ(now.sa_handler, SIG_IGN);
    ASSERT_EQ(raise(SIGINT), 0);
    std::this_thread::sleep_for(3 * SignalLoopWaker::kKickInterval);
    EXPECT_EQ(g_handled.load(), 0);
  }
  struct sigaction after {};
  sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, SIG_IGN);
}

TEST(SignalLoopWaker, OneAtATime) {
  ReplacedHandlers handlers;
  SignalLoopWaker waker;
  EXPECT_THROW(SignalLoopWaker second, Error);
  waker.Stop();
  { SignalLoopWaker again; }  // free once stopped
  ExpectHandlersAreTheReplacedOnes();
}

}  // namespace
}  // namespace tpkg::fs
