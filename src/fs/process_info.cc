#include "process_info.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace tpkg::fs {
namespace {

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

template <typename T>
std::optional<T> ParseNumber(std::string_view text, int base = 10) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    const size_t start = line.find_first_not_of(" \t", i);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(line.find_first_of(" \t", start), line.size());
    words.push_back(line.substr(start, end - start));
    i = end;
  }
  return words;
}

struct ProcessStat {
  char state = '?';
  uint64_t start_time = 0;
};

std::optional<ProcessStat> ReadProcessStat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  const std::string stat = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  // The command name (field 2) may hold spaces and parentheses: fields
  // resume after the last ')'. Field 3 (state) is then the first word.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  const std::vector<std::string_view> fields = Words(std::string_view(stat).substr(paren + 1));
  if (fields.size() < 20 || fields[0].empty()) return std::nullopt;
  const std::optional<uint64_t> start = ParseNumber<uint64_t>(fields[19]);  // field 22
  if (!start) return std::nullopt;
  return ProcessStat{fields[0][0], *start};
}

}  // namespace

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  const std::optional<ProcessStat> stat = ReadProcessStat(pid);
  if (!stat) return std::nullopt;
  return stat->start_time;
}

std::string ProcessName(pid_t pid) {
  std::string name = ReadSmallFile("/proc/" + std::to_string(pid) + "/comm");
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

std::string DescribeProcesses(const std::vector<pid_t>& pids) {
  std::string text;
  for (pid_t pid : pids) {
    text += (text.empty() ? "pid " : ", pid ") + std::to_string(pid);
    if (const std::string name = ProcessName(pid); !name.empty()) text += " (" + name + ")";
  }
  return text;
}

std::optional<uid_t> ProcessUid(pid_t pid) {
  std::istringstream status(ReadSmallFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (!line.starts_with("Uid:")) continue;
    const std::vector<std::string_view> words = Words(line);
    if (words.size() >= 2) return ParseNumber<uid_t>(words[1]);
  }
  return std::nullopt;
}

bool ProcessAlive(pid_t pid, uint64_t start_time) {
  // A zombie has exited: its files (and locks) are closed already.
  const std::optional<ProcessStat> now = ReadProcessStat(pid);
  return now && now->start_time == start_time && now->state != 'Z' && now->state != 'X';
}

ProcessWatch ProcessWatch::Open(pid_t pid, uint64_t start_time) {
  ScopedFd pidfd;
#ifdef SYS_pidfd_open
  pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#endif
  // Checked after the open: the pidfd then names the process we meant, or
  // that process is gone and the pid was reused (the start time says so).
  if (!ProcessAlive(pid, start_time)) pidfd.reset();
  return ProcessWatch(pid, start_time, std::move(pidfd));
}

bool ProcessWatch::WaitForExit(int timeout_ms) {
  if (pidfd_) {
    pollfd p{pidfd_.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, timeout_ms);
    return n > 0;
  }
  // No pidfd (old kernel, or already gone): check at a gentle pace.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (ProcessAlive(pid_, start_time_)) {
    if (timeout_ms >= 0 && std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

std::string ReadProcLocks() { return ReadSmallFile("/proc/locks"); }

std::vector<pid_t> FlockHolders(std::string_view proc_locks, dev_t dev, ino_t ino) {
  // "1: FLOCK  ADVISORY  WRITE 18340 fe:00:1123084 0 EOF"
  std::vector<pid_t> holders;
  std::istringstream lines{std::string(proc_locks)};
  for (std::string line; std::getline(lines, line);) {
    const std::vector<std::string_view> w = Words(line);
    if (w.size() < 6 || w[1] != "FLOCK" || w[3] != "WRITE") continue;
    const std::string_view id = w[5];
    const size_t c1 = id.find(':'), c2 = id.rfind(':');
    if (c1 == std::string_view::npos || c1 == c2) continue;
    const auto maj = ParseNumber<unsigned>(id.substr(0, c1), 16);
    const auto min = ParseNumber<unsigned>(id.substr(c1 + 1, c2 - c1 - 1), 16);
    const auto inode = ParseNumber<uint64_t>(id.substr(c2 + 1));
    const auto pid = ParseNumber<pid_t>(w[4]);
    if (!maj || !min || !inode || !pid) continue;
    if (*maj == major(dev) && *min == minor(dev) && *inode == ino) holders.push_back(*pid);
  }
  // /proc/locks is read in pieces: when locks come and go meanwhile, a line
  // may appear twice (seen while other tests took locks), never as two holders.
  std::sort(holders.begin(), holders.end());
  holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
  return holders;
}

}  // namespace tpkg::fs
