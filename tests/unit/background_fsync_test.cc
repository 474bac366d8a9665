// BackgroundFsync: the early fsync of a save's records, on its own thread.
// Its failure must reach the owner (a failed fsync reports a writeback
// error only once per open file, so the final fsync could succeed after it).
#include "base/background_fsync.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "scratch_dir.h"
#include "tpkg/error.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

TEST(BackgroundFsync, SyncsAFileAndFinishesQuietly) {
  testing::ScratchDir dir;
  const std::string path = dir.path() + "/save.tmp";
  const ScopedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.valid());
  const std::string bytes(1 << 20, 'x');
  ASSERT_EQ(::write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  BackgroundFsync early(fd.get(), path);
  ASSERT_EQ(::write(fd.get(), "tail", 4), 4);  // the owner goes on writing meanwhile
  EXPECT_NO_THROW(early.Finish());
  EXPECT_NO_THROW(early.Finish());  // joined once; asking again changes nothing
}

TEST(BackgroundFsync, FinishThrowsTheFailureNamingTheFile) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  const ScopedFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  BackgroundFsync early(write_end.get(), "/tmp/x/save.tmp");  // a pipe cannot be synced: EINVAL
  try {
    early.Finish();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("Cannot fsync '/tmp/x/save.tmp': ", 0), 0u) << e.what();
    EXPECT_EQ(e.sys_errno(), EINVAL);
  }
}

TEST(BackgroundFsync, ADestructorWithoutFinishJoinsAndDropsTheFailure) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  const ScopedFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  { BackgroundFsync early(write_end.get(), "pipe"); }  // a save that failed before its fsync
}

}  // namespace
}  // namespace tpkg
