// SignalLoopWaker (src/fs/signal_waker.h): a signal handled just before the
// loop's thread blocks still interrupts the wait; nothing of it is left once
// stopped. The "loop" here is what libfuse's multi-threaded loop does: check
// the exit flag, then sem_wait on a semaphore only a worker posts.
#include "signal_waker.h"

#include <gtest/gtest.h>
#include <semaphore.h>
#include <signal.h>

#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "graceful_stop.h"
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

// A GracefulStop whose mount has a file open for writing until `open` is
// cleared. Its "mountpoint" is a new empty folder, no mount: the detach
// fails (and says so), the wait is the same.
class OpenFileStop {
 public:
  explicit OpenFileStop(std::chrono::milliseconds close_wait) {
    std::string dir = (std::filesystem::path(testing::TempDir()) / "graceful.XXXXXX").string();
    EXPECT_NE(mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    stop_.emplace(GracefulStopOptions{
        .mountpoint = dir_, .close_wait = close_wait, .files_open_for_writing = [this] {
          ++listed;
          if (second_signal_sent && g_handled.load() == 0) ++listed_after_second_before_end;
          return open ? std::vector<std::string>{"a.py"} : std::vector<std::string>{};
        }});
  }
  ~OpenFileStop() { std::filesystem::remove(dir_); }
  GracefulStop* get() { return &*stop_; }
  std::atomic<bool> open{true};
  std::atomic<int> listed{0};  // calls of files_open_for_writing
  // Set by the test just before its second signal: the calls after it made
  // while the loop's exit flag was still unset (WriteBackBeforeEnd's).
  std::atomic<bool> second_signal_sent{false};
  std::atomic<int> listed_after_second_before_end{0};

 private:
  std::string dir_;
  std::optional<GracefulStop> stop_;
};

int WaitInterrupted(sem_t* finish, std::chrono::seconds limit) {
  const timespec deadline = In(limit);
  return sem_timedwait(finish, &deadline) == -1 ? errno : 0;
}

// Whether the loop's exit flag gets set within `limit`.
bool ExitFlagSetWithin(std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (g_handled.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return g_handled.load() > 0;
}

TEST(SignalLoopWaker, WithAGracefulStopTheLoopEndsOnceNoFileIsOpenForWriting) {
  ReplacedHandlers handlers;
  sem_t finish;
  ASSERT_EQ(sem_init(&finish, 0, 0), 0);
  OpenFileStop stop(std::chrono::seconds(60));
  SignalLoopWaker waker(stop.get());
  ASSERT_EQ(raise(SIGTERM), 0);
  std::this_thread::sleep_for(5 * SignalLoopWaker::kDrainPoll);
  EXPECT_EQ(g_handled.load(), 0);  // the loop's exit flag is not set while the file is open
  stop.open = false;
  EXPECT_EQ(WaitInterrupted(&finish, std::chrono::seconds(10)), EINTR);
  EXPECT_GE(g_handled.load(), 1);  // now it is, and the wait was interrupted
  waker.Stop();
  EXPECT_FALSE(stop.get()->detached());  // no mount there to detach
  ExpectHandlersAreTheReplacedOnes();
  sem_destroy(&finish);
}

TEST(SignalLoopWaker, WithAGracefulStopASecondSignalOrTheBoundEndsTheWait) {
  for (const bool second_signal : {true, false}) {
    ReplacedHandlers handlers;
    sem_t finish;
    ASSERT_EQ(sem_init(&finish, 0, 0), 0);
    OpenFileStop stop(second_signal ? std::chrono::milliseconds(60000)
                                    : std::chrono::milliseconds(300));
    SignalLoopWaker waker(stop.get());
    const auto first = std::chrono::steady_clock::now();
    ASSERT_EQ(raise(SIGTERM), 0);
    EXPECT_EQ(g_handled.load(), 0);
    if (second_signal) {
      ASSERT_EQ(raise(SIGTERM), 0);  // at once: the same event, sent twice
      // (unless this thread lost its core for the 100 ms that make it a new one)
      if (std::chrono::steady_clock::now() - first < std::chrono::milliseconds(50))
        EXPECT_EQ(g_handled.load(), 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      // A second request: the helper thread sets the exit flag, once what shared mappings
      // hold is written back.
      stop.second_signal_sent = true;
      ASSERT_EQ(raise(SIGTERM), 0);
    }
    EXPECT_EQ(WaitInterrupted(&finish, std::chrono::seconds(10)), EINTR) << second_signal;
    EXPECT_GE(g_handled.load(), 1);
    EXPECT_TRUE(stop.open);  // the file never closed
    waker.Stop();
    // The write-back listed the files while the loop still served.
    if (second_signal) EXPECT_GE(stop.listed_after_second_before_end.load(), 1);
    sem_destroy(&finish);
  }
}

// Two signals at once, faster than the helper thread: the second still ends
// the loop, once the helper has begun the wait, and the files still open are
// named (with the file system still there).
TEST(SignalLoopWaker, TwoSignalsAtOnceEndTheLoopAndNameTheFilesStillOpen) {
  ReplacedHandlers handlers;
  OpenFileStop stop(std::chrono::seconds(60));
  SignalLoopWaker waker(stop.get());
  ASSERT_EQ(raise(SIGTERM), 0);
  stop.second_signal_sent = true;
  ASSERT_EQ(raise(SIGINT), 0);
  // The helper thread ends the loop, after Begin() (its calls on the mount only the loop
  // answers) and the write-back of what shared mappings hold.
  EXPECT_TRUE(ExitFlagSetWithin(std::chrono::seconds(10)));
  waker.Stop();
  EXPECT_GE(stop.listed_after_second_before_end.load(), 1);  // the write-back
  EXPECT_GE(stop.listed.load(), 3);  // Begin(), the write-back, then Interrupted()
  ExpectHandlersAreTheReplacedOnes();
}

}  // namespace
}  // namespace tpkg::fs
