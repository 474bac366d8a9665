// open_files.h: the processes that keep a file system in use, found with
// real processes holding a real file open, mapped, or as their working folder.
#include "open_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "scratch_dir.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

using tpkg::testing::ScratchDir;
using tpkg::testing::WriteFile;

// A child process that holds only what `hold` leaves it (its standard
// streams on /dev/null, its working folder /proc) until destroyed.
class Holder {
 public:
  explicit Holder(const std::function<void()>& hold) {
    int ready[2];
    if (::pipe(ready) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
      ::dup2(ready[1], 3);
      ::close_range(4, ~0U, 0);
      if (::chdir("/proc") != 0) ::_exit(1);
      hold();
      if (::write(3, "x", 1) != 1) ::_exit(1);
      ::close(3);
      while (true) ::pause();
    }
    ::close(ready[1]);
    char byte = 0;
    const ssize_t n = ::read(ready[0], &byte, 1);
    ::close(ready[0]);
    if (n != 1) throw std::runtime_error("the holder did not start");
  }
  ~Holder() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Holder(const Holder&) = delete;
  Holder& operator=(const Holder&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

struct Device {
  unsigned major;
  unsigned minor;
};

Device DeviceOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + path);
  return {::major(st.st_dev), ::minor(st.st_dev)};
}

bool Uses(pid_t pid, const Device& d) {
  const std::vector<pid_t> users = ProcessesUsingDevice(d.major, d.minor);
  EXPECT_TRUE(std::is_sorted(users.begin(), users.end()));
  return std::find(users.begin(), users.end(), pid) != users.end();
}

// A scratch folder on a file system other than the root's: every process
// uses the root's (its root folder is there), so only another one can show
// that a holder is found by what it holds. /dev/shm where it is such.
class OtherFileSystem : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = "/dev/shm/tpkg-open-files-XXXXXX";
    if (!::mkdtemp(templ.data())) GTEST_SKIP() << "no /dev/shm";
    dir_ = templ;
    device_ = DeviceOf(dir_);
    const Device root = DeviceOf("/");
    if (root.major == device_.major && root.minor == device_.minor)
      GTEST_SKIP() << "/dev/shm is on the root file system";
  }
  void TearDown() override {
    if (!dir_.empty()) ScratchDir::RemoveTree(dir_);
  }
  std::string operator/(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
  Device device_{};
};

TEST_F(OtherFileSystem, FindsAProcessWithAFileOpen) {
  WriteFile(*this / "util.py", "x = 1\n");
  Holder holder([&] {
    if (::open((*this / "util.py").c_str(), O_WRONLY | O_APPEND) < 0) ::_exit(1);
  });
  EXPECT_TRUE(Uses(holder.pid(), device_));
}

TEST_F(OtherFileSystem, FindsAProcessWhoseWorkingFolderIsThere) {
  Holder holder([&] {
    if (::chdir(dir_.c_str()) != 0) ::_exit(1);
  });
  EXPECT_TRUE(Uses(holder.pid(), device_));
}

TEST_F(OtherFileSystem, FindsAProcessThatMappedAFileAndClosedIt) {
  WriteFile(*this / "weights.bin", std::string(8192, 'w'));
  Holder holder([&] {
    const int fd = ::open((*this / "weights.bin").c_str(), O_RDONLY);
    if (fd < 0 || ::mmap(nullptr, 8192, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED) ::_exit(1);
    ::close(fd);
  });
  EXPECT_TRUE(Uses(holder.pid(), device_));
}

TEST_F(OtherFileSystem, DoesNotNameAProcessThatHoldsNothingThere) {
  WriteFile(*this / "util.py", "x = 1\n");
  Holder idle([] {});
  EXPECT_FALSE(Uses(idle.pid(), device_));
  // Once its file is closed, a process is no longer named.
  Holder closed([&] { ::close(::open((*this / "util.py").c_str(), O_RDONLY)); });
  EXPECT_FALSE(Uses(closed.pid(), device_));
}

TEST(OpenFilesTest, AnUnusedDeviceHasNoUsers) {
  // Minor numbers of anonymous devices stay far below 2^20 - 1.
  EXPECT_TRUE(ProcessesUsingDevice(0, (1u << 20) - 1).empty());
}

TEST(OpenFilesTest, AnUnreadableProcFolderIsAnErrorNamingIt) {
  ScratchDir dir;
  try {
    ProcessesUsingDevice(0, 40, dir / "no-proc");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "no-proc"), std::string::npos) << e.what();
    EXPECT_EQ(e.sys_errno(), ENOENT);
  }
}

}  // namespace
}  // namespace tpkg::fs
