// tpkg/file_io.h: whole-buffer transfers, short reads only at the end of the
// file, errors that name the file and keep errno, and writes that survive
// signals (EINTR and short writes).
#include "tpkg/file_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include "file_size_limit.h"
#include "scratch_dir.h"
#include "tpkg/error.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

TEST(FileIoTest, PreadFullStopsOnlyAtTheEndOfTheFile) {
  ScratchDir dir;
  const std::string path = dir / "f";
  WriteFile(path, "0123456789");
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string out(4, '\0');
  EXPECT_EQ(PreadFull(fd.get(), out, 3, path), 4u);
  EXPECT_EQ(out, "3456");
  std::string tail(8, '\0');
  EXPECT_EQ(PreadFull(fd.get(), tail, 6, path), 4u);
  EXPECT_EQ(tail.substr(0, 4), "6789");
  EXPECT_EQ(PreadFull(fd.get(), tail, 100, path), 0u);
}

TEST(FileIoTest, PreadExactRefusesAFileThatEndsEarly) {
  ScratchDir dir;
  const std::string path = dir / "f";
  WriteFile(path, "short");
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string out(6, '\0');
  try {
    PreadExact(fd.get(), out, 0, "f.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt);
    EXPECT_STREQ(e.what(), "Cannot read 'f.bin': unexpected end of file");
  }
}

TEST(FileIoTest, PwriteAllWritesAtTheOffsetAndWriteAllAtThePosition) {
  ScratchDir dir;
  const std::string path = dir / "f";
  ScopedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  WriteAll(fd.get(), std::string("abcdef"), path);
  PwriteAll(fd.get(), std::string("XY"), 2, path);
  WriteAll(fd.get(), std::string("gh"), path);  // the position is after "abcdef"
  EXPECT_EQ(ReadFile(path), "abXYefgh");
}

TEST(FileIoTest, ErrorsNameTheFileAndKeepErrno) {
  ScratchDir dir;
  const std::string path = dir / "f";
  WriteFile(path, "x");
  ScopedFd read_only(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  try {
    PwriteAll(read_only.get(), std::string("y"), 0, "model.pt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sys_errno(), EBADF);
    EXPECT_EQ(std::string(e.what()).rfind("Cannot write 'model.pt': ", 0), 0u) << e.what();
  }
  std::string out(1, '\0');
  try {
    PreadFull(-1, out, 0, "model.pt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sys_errno(), EBADF);
    EXPECT_EQ(std::string(e.what()).rfind("Cannot read 'model.pt': ", 0), 0u) << e.what();
  }
}

TEST(FileIoTest, PwriteSomeReturnsWhatWasWrittenWhenTheRestIsRefused) {
  ScratchDir dir;
  const std::string path = dir / "f";
  ScopedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  const std::string bytes(300, 'x');
  {
    testing::FileSizeLimit limit(200);
    EXPECT_EQ(PwriteSome(fd.get(), bytes, 0, path), 200u);  // cut short: no error
    try {
      PwriteSome(fd.get(), std::string_view(bytes).substr(200), 200, path);  // nothing fits
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.sys_errno(), EFBIG) << e.what();
    }
    try {
      PwriteAll(fd.get(), bytes, 100, path);  // writes 100, then the rest is refused
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.sys_errno(), EFBIG) << e.what();
    }
  }
  EXPECT_EQ(ReadFile(path), std::string(200, 'x'));
  EXPECT_EQ(PwriteSome(fd.get(), bytes, 0, path), 300u);  // no limit: all of it
}

// A pipe fills up, so write(2) blocks; a timer signal without SA_RESTART
// then ends it early (EINTR, or a short write). Every byte must still
// arrive, in order.
TEST(FileIoTest, WriteAllSurvivesSignalsAndShortWrites) {
  struct sigaction action {
  }, old_action{};
  action.sa_handler = [](int) {};
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGALRM, &action, &old_action), 0);
  const itimerval every_ms{{0, 1000}, {0, 1000}}, off{};
  ASSERT_EQ(setitimer(ITIMER_REAL, &every_ms, nullptr), 0);

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ScopedFd read_end(fds[0]), write_end(fds[1]);
  std::string sent(2 << 20, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 7 + i / 4096);
  std::string received;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(read_end.get(), buf, sizeof buf)) != 0) {
      if (n > 0) received.append(buf, static_cast<size_t>(n));
    }
  });
  WriteAll(write_end.get(), sent, "pipe");
  write_end.reset();
  reader.join();
  setitimer(ITIMER_REAL, &off, nullptr);
  sigaction(SIGALRM, &old_action, nullptr);
  EXPECT_TRUE(received == sent) << received.size() << " of " << sent.size() << " bytes";
}

}  // namespace
}  // namespace tpkg
