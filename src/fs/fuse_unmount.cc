#include "fuse_unmount.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tpkg::fs {
namespace {

// fusermount3's complaint as one line: its last, without the "fusermount3: ".
std::string LastLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const size_t last_line = text.rfind('\n');
  if (last_line != std::string::npos) text.erase(0, last_line + 1);
  if (text.starts_with("fusermount3: ")) text.erase(0, 13);
  return text;
}

std::optional<UnmountFailure> UnmountWithHelper(const std::string& path, bool lazy) {
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int err = errno;
    return UnmountFailure{err, std::strerror(err)};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  const char* argv[] = {"fusermount3", lazy ? "-uz" : "-u", path.c_str(), nullptr};
  pid_t child = 0;
  const int spawn_err = posix_spawnp(&child, "fusermount3", &actions, nullptr,
                                     const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err_pipe[1]);
  std::string complaint;
  char buffer[512];
  for (ssize_t n; (n = ::read(err_pipe[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    complaint.append(buffer, static_cast<size_t>(n));
  }
  ::close(err_pipe[0]);
  if (spawn_err != 0)
    return UnmountFailure{spawn_err,
                          "cannot run fusermount3: " + std::string(std::strerror(spawn_err))};
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
  std::string why = LastLine(complaint);
  // fusermount3 says strerror(EBUSY) ("...: Device or resource busy").
  const int err = why.ends_with(std::strerror(EBUSY)) ? EBUSY : 0;
  return UnmountFailure{err, why.empty() ? "fusermount3 failed" : why};
}

}  // namespace

std::optional<UnmountFailure> UnmountFuse(const std::string& path, UnmountOptions options) {
  if (::geteuid() != 0) return UnmountWithHelper(path, options.lazy);
  if (::umount2(path.c_str(), UMOUNT_NOFOLLOW | (options.lazy ? MNT_DETACH : 0)) == 0)
    return std::nullopt;
  const int err = errno;
  return UnmountFailure{err, std::strerror(err)};
}

}  // namespace tpkg::fs
