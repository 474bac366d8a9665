// process_info.h: what tpkgfs needs to know about other processes (Linux
// /proc), and waiting for one to exit without polling.
//
//   std::optional<uint64_t> started = ProcessStartTime(pid);   // tells a pid's reuse apart
//   ProcessWatch watch = ProcessWatch::Open(pid, *started);      // nullopt start: already gone
//   while (!watch.WaitForExit(250)) ShowProgress();               // pidfd + poll(2)
//   std::vector<pid_t> holders = FlockHolders(ReadProcLocks(), st.st_dev, st.st_ino);
//
// A process is named by its pid and its start time (field 22 of
// /proc/<pid>/stat, clock ticks since boot): a pid reused by another
// process has another start time. ProcessWatch uses pidfd_open(2) where the
// kernel has it (Linux 5.3) and otherwise checks every 100 ms.
//
// Thread safety: plain functions; a ProcessWatch is used by one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/scoped_fd.h"

namespace tpkg::fs {

// nullopt when the process does not exist (or has exited and been reaped).
std::optional<uint64_t> ProcessStartTime(pid_t pid);
// The process's command name (/proc/<pid>/comm), "" when unknown.
std::string ProcessName(pid_t pid);
// "pid 42 (sleep), pid 43 (bash)" (a name left out when unknown).
std::string DescribeProcesses(const std::vector<pid_t>& pids);
// Its real uid, nullopt when unknown.
std::optional<uid_t> ProcessUid(pid_t pid);
// True while `pid` runs and is the process that started at `start_time`
// (a zombie has exited: false).
bool ProcessAlive(pid_t pid, uint64_t start_time);

class ProcessWatch {
 public:
  // Watches the process `pid` that started at `start_time`; a watch of a
  // process that is already gone reports it at once.
  static ProcessWatch Open(pid_t pid, uint64_t start_time);
  // Waits at most `timeout_ms` (-1: no limit); true once the process has
  // exited. EINTR returns false, so a caller can react to signals.
  bool WaitForExit(int timeout_ms);

 private:
  ProcessWatch(pid_t pid, uint64_t start_time, ScopedFd pidfd)
      : pid_(pid), start_time_(start_time), pidfd_(std::move(pidfd)) {}
  pid_t pid_;
  uint64_t start_time_;
  ScopedFd pidfd_;  // invalid: no pidfd_open, or the process was already gone
};

// The text of /proc/locks ("" when unreadable).
std::string ReadProcLocks();
// The pids holding an exclusive flock(2) on the inode (`dev`, `ino`), from
// /proc/locks text, each once, in increasing order; waiters ("->" lines) are
// not holders. Devices compare by major:minor, as the kernel prints them.
std::vector<pid_t> FlockHolders(std::string_view proc_locks, dev_t dev, ino_t ino);

}  // namespace tpkg::fs
