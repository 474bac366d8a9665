// StartBackgroundThread(): helper threads never take a process-directed
// signal from the thread that waits for the FUSE session.
#include "tpkg/background_thread.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>

namespace tpkg {
namespace {

sigset_t CurrentMask() {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return mask;
}

TEST(BackgroundThread, BlocksEverySignalTheDaemonEndsOn) {
  // The caller's mask is open (as the daemon's main thread is).
  sigset_t open;
  sigemptyset(&open);
  sigset_t before;
  pthread_sigmask(SIG_SETMASK, &open, &before);
  sigset_t seen;
  sigemptyset(&seen);
  std::thread t = StartBackgroundThread([&seen] { seen = CurrentMask(); });
  t.join();
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGCHLD, SIGPIPE})
    EXPECT_EQ(sigismember(&seen, sig), 1) << "signal " << sig;
  // ...and the caller's own mask is as it was.
  const sigset_t after = CurrentMask();
  EXPECT_EQ(sigismember(&after, SIGTERM), 0);
  EXPECT_EQ(sigismember(&after, SIGINT), 0);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

TEST(BackgroundThread, RunsTheBody) {
  std::atomic<int> runs = 0;
  std::thread t = StartBackgroundThread([&runs] { ++runs; });
  t.join();
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace
}  // namespace tpkg
