#include "open_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>

#include "tpkg/error.h"
#include "tpkg/scoped_fd.h"

namespace tpkg::fs {
namespace {

ScopedDir OpenDir(const std::string& path) { return ScopedDir(::opendir(path.c_str())); }

std::optional<pid_t> PidOf(std::string_view name) {
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (ec != std::errc() || end != name.data() + name.size() || pid <= 0) return std::nullopt;
  return pid;
}

// Whether `name` (relative to `dir_fd`), followed, is on major:minor; only
// the super block is asked (see the banner).
bool OnDevice(int dir_fd, const char* name, unsigned major, unsigned minor) {
  struct statx stx;
  if (::statx(dir_fd, name, AT_STATX_DONT_SYNC, 0, &stx) != 0) return false;
  return stx.stx_dev_major == major && stx.stx_dev_minor == minor;
}

bool DescriptorOnDevice(const std::string& proc, unsigned major, unsigned minor) {
  ScopedDir fds = OpenDir(proc + "/fd");
  if (!fds) return false;  // not ours to inspect, or gone
  while (const dirent* entry = ::readdir(fds.get())) {
    if (entry->d_name[0] == '.') continue;
    if (OnDevice(::dirfd(fds.get()), entry->d_name, major, minor)) return true;
  }
  return false;
}

// "7f3c...-7f3d... r--p 00000000 00:28 1234 /path": the device in hex.
bool MappingOnDevice(const std::string& proc, unsigned major, unsigned minor) {
  std::ifstream in(proc + "/maps");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string range, perms, offset, device;
    unsigned long long inode = 0;
    if (!(fields >> range >> perms >> offset >> device >> inode) || inode == 0) continue;
    const size_t colon = device.find(':');
    if (colon == std::string::npos) continue;
    unsigned maj = 0, min = 0;
    auto [e1, ec1] = std::from_chars(device.data(), device.data() + colon, maj, 16);
    auto [e2, ec2] =
        std::from_chars(device.data() + colon + 1, device.data() + device.size(), min, 16);
    if (ec1 == std::errc() && ec2 == std::errc() && maj == major && min == minor) return true;
  }
  return false;
}

bool UsesDevice(const std::string& proc, unsigned major, unsigned minor) {
  return OnDevice(AT_FDCWD, (proc + "/cwd").c_str(), major, minor) ||
         OnDevice(AT_FDCWD, (proc + "/root").c_str(), major, minor) ||
         DescriptorOnDevice(proc, major, minor) || MappingOnDevice(proc, major, minor);
}

}  // namespace

std::vector<pid_t> ProcessesUsingDevice(unsigned major, unsigned minor,
                                        const std::string& proc_root) {
  ScopedDir procs = OpenDir(proc_root);
  if (!procs) {
    const int err = errno;
    ThrowSystemError("cannot list the processes in '" + proc_root + "'", err);
  }
  std::vector<pid_t> users;
  while (const dirent* entry = ::readdir(procs.get())) {
    const std::optional<pid_t> pid = PidOf(entry->d_name);
    if (!pid) continue;
    if (UsesDevice(proc_root + "/" + entry->d_name, major, minor)) users.push_back(*pid);
  }
  std::sort(users.begin(), users.end());
  return users;
}

}  // namespace tpkg::fs
