#include "background.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

constexpr char kReady = 'R';

// The parent: waits for the child's ready byte or its exit.
[[noreturn]] void WaitForChild(pid_t child, int ready_fd) {
  char byte = 0;
  ssize_t n;
  do {
    n = ::read(ready_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1 && byte == kReady) _exit(0);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

}  // namespace

Background Background::Start() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    const int err = errno;
    ThrowSystemError("cannot move to the background", err);
  }
  const pid_t child = ::fork();
  if (child < 0) {
    const int err = errno;
    ThrowSystemError("cannot move to the background", err);
  }
  if (child > 0) {
    ::close(fds[1]);
    WaitForChild(child, fds[0]);
  }
  ::close(fds[0]);
  return Background(fds[1]);
}

Background::Background(Background&& other) noexcept
    : ready_fd_(std::exchange(other.ready_fd_, -1)) {}

Background::~Background() {
  if (ready_fd_ >= 0) ::close(ready_fd_);
}

void Background::Ready() {
  if (ready_fd_ < 0) return;
  ::setsid();
  if (::chdir("/") != 0) {
    // Nothing depends on the working folder: every path is absolute by now.
  }
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    if (null_fd > STDERR_FILENO) ::close(null_fd);
  }
  const char byte = kReady;
  [[maybe_unused]] ssize_t n = ::write(ready_fd_, &byte, 1);
  ::close(ready_fd_);
  ready_fd_ = -1;
}

}  // namespace tpkg::fs
