// SaveSignals (src/fs/save_signals.h): SIGINT, SIGTERM and SIGHUP sent to the
// process while it saves neither end it nor interrupt the saving thread's
// system calls; each is logged. The signals stay blocked afterwards (the
// daemon exits after its save), hence a binary of its own.
#include "save_signals.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "log.h"

namespace tpkg::fs {
namespace {

bool AnyPending() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1 ||
         sigismember(&pending, SIGHUP) == 1;
}

TEST(SaveSignalsTest, SignalsDuringTheSaveAreLoggedAndEndNothing) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);  // what would end the process
  ConfigureLogging(LogSink::kStderr, /*debug=*/false);
  testing::internal::CaptureStderr();
  {
    SaveSignals during_save("/tmp/model.pt");
    for (int sig : {SIGHUP, SIGTERM, SIGINT}) ASSERT_EQ(kill(getpid(), sig), 0);
    // The saving thread's own sleep is not cut short by them.
    const auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(usleep(200'000), 0);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
    for (int i = 0; i < 1000 && AnyPending(); ++i) usleep(1000);  // read by its thread
    EXPECT_FALSE(AnyPending());
    // A line to a pipe whose reader is gone fails (EPIPE) instead of ending the process.
    signal(SIGPIPE, SIG_DFL);
    int ends[2];
    ASSERT_EQ(pipe(ends), 0);
    close(ends[0]);
    errno = 0;
    EXPECT_EQ(write(ends[1], "x", 1), -1);
    EXPECT_EQ(errno, EPIPE);
    close(ends[1]);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  for (const char* name : {"SIGHUP", "SIGINT", "SIGTERM"}) {
    EXPECT_NE(err.find(std::string("tpkgfs: ") + name +
                       ": the save of /tmp/model.pt goes on: SIGINT, SIGTERM and SIGHUP do not "
                       "interrupt it (SIGKILL does; the journal keeps the edits)\n"),
              std::string::npos)
        << err;
  }
  // A signal after it is kept pending, never delivered: the process exits after its save.
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  EXPECT_TRUE(AnyPending());
}

}  // namespace
}  // namespace tpkg::fs
