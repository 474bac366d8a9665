#include "archive_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "log.h"
#include "process_info.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

constexpr int kRounds = 50;

// The file systems where flock cannot work; the lock is then skipped.
bool FlockUnsupported(int err) {
  return err == ENOLCK || err == EOPNOTSUPP || err == EINVAL || err == EBADF;
}

bool StillNamed(int fd, const std::string& path) {
  struct stat opened, named;
  if (::fstat(fd, &opened) != 0 || ::stat(path.c_str(), &named) != 0) return false;
  return opened.st_nlink > 0 && opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

// For a holder without a readable record: a read/write FUSE mount whose
// source (fsname) is the same file.
bool SomeMountServes(dev_t dev, ino_t ino, const std::vector<MountInfo>& mounts) {
  for (const MountInfo& m : mounts) {
    if (!m.fstype.starts_with("fuse") || m.read_only() || !m.source.starts_with("/")) continue;
    struct stat st;
    if (::stat(m.source.c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino) return true;
  }
  return false;
}

bool Serving(const MountRecord& r, const std::vector<MountInfo>& mounts) {
  switch (r.state) {
    case MountState::kStarting: return true;
    case MountState::kServing:
      // `mounts` may be older than the record (read before it): a daemon
      // that mounted in between is serving, not saving, and a second mount
      // of its archive must be refused, not wait for it to exit. A fresh
      // look decides.
      return MountWithDevice(mounts, r.fuse_major, r.fuse_minor) != nullptr ||
             MountWithDevice(ParseMountInfo(ReadMountInfo()), r.fuse_major, r.fuse_minor) !=
                 nullptr;
    case MountState::kSaving: return false;
  }
  return true;
}

[[noreturn]] void Refuse(const std::string& archive, const ArchiveHolder& h) {
  std::string why;
  if (h.program != "tpkgfs") {
    why = "the file is locked by " + h.Describe();
  } else {
    why = "the same file is already mounted read/write by " + h.Describe();
    if (h.record && h.record->state == MountState::kServing)
      why += "; unmount it first (tpkgfs -u " + h.record->mountpoint + ")";
    why += ", or mount this one with -o ro";
  }
  throw Error(Errc::kIo, "cannot mount " + archive + " read/write: " + why, EBUSY);
}

void WaitForExit(const ArchiveHolder& h) {
  ProcessWatch watch = ProcessWatch::Open(h.pid, h.start_time);
  while (!watch.WaitForExit(-1)) {
  }
}

}  // namespace

std::string ArchiveHolder::Describe() const {
  std::string text =
      (program.empty() ? std::string("a process") : program) + " (pid " + std::to_string(pid);
  if (!record) {
    const std::optional<uid_t> uid = ProcessUid(pid);
    if (uid && *uid != ::geteuid()) text += ", uid " + std::to_string(*uid);
    return text + ")";
  }
  text += ")";
  if (record->state == MountState::kStarting) return text + " mounting it at " + record->mountpoint;
  return text + " at " + record->mountpoint + " (from " + record->archive + ")";
}

// The read/write daemons of our own registry that serve the file (`dev`,
// `ino`): where /proc/locks names the device otherwise than stat(2) does
// (btrfs subvolumes), the lock's holder is found this way.
std::vector<pid_t> RegisteredHolders(dev_t dev, ino_t ino) {
  std::vector<pid_t> pids;
  for (const MountRecord& r : LiveRecords(RegistryDirFor(::geteuid()), ::geteuid())) {
    if (r.writable && r.archive_dev == static_cast<uint64_t>(dev) &&
        r.archive_ino == static_cast<uint64_t>(ino))
      pids.push_back(r.pid);
  }
  return pids;
}

std::vector<ArchiveHolder> FindArchiveHolders(dev_t dev, ino_t ino,
                                              const std::vector<MountInfo>& mounts) {
  std::vector<ArchiveHolder> holders;
  std::vector<pid_t> pids = FlockHolders(ReadProcLocks(), dev, ino);
  if (pids.empty()) pids = RegisteredHolders(dev, ino);
  for (pid_t pid : pids) {
    if (pid == ::getpid()) continue;
    const std::optional<uint64_t> start = ProcessStartTime(pid);
    if (!start) continue;  // exited in the meantime
    ArchiveHolder h;
    h.pid = pid;
    h.start_time = *start;
    h.program = ProcessName(pid);
    h.record = RecordOfProcess(pid);
    if (h.record) {
      h.serving = Serving(*h.record, mounts);
    } else {
      h.serving = h.program != "tpkgfs" || SomeMountServes(dev, ino, mounts);
    }
    holders.push_back(std::move(h));
  }
  return holders;
}

ScopedFd LockArchive(const std::string& archive, const WaitNotice& on_wait) {
  std::set<pid_t> announced;
  for (int round = 0; round < kRounds; ++round) {
    // O_NONBLOCK: never wait for a writer of a FIFO (the reader refuses it).
    ScopedFd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
      const int err = errno;
      ThrowSystemError("cannot open archive '" + archive + "'", err);
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      if (StillNamed(fd.get(), archive)) return fd;
      continue;  // a save replaced the file meanwhile: lock the new one
    }
    const int err = errno;
    if (FlockUnsupported(err)) {
      TPKG_LOG(kDebug) << archive << ": no flock here (" << std::strerror(err)
                       << "): a second read/write mount cannot be detected";
      return ScopedFd();
    }
    if (err != EWOULDBLOCK && err != EINTR) ThrowSystemError("cannot lock '" + archive + "'", err);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) continue;
    const std::vector<ArchiveHolder> holders =
        FindArchiveHolders(st.st_dev, st.st_ino, ParseMountInfo(ReadMountInfo()));
    for (const ArchiveHolder& h : holders)
      if (h.serving) Refuse(archive, h);
    if (holders.empty()) {
      // Released between our try and the look-up, or a file system that
      // /proc/locks names differently: try again shortly.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    for (const ArchiveHolder& h : holders) {
      if (announced.insert(h.pid).second && on_wait) on_wait(h);
      WaitForExit(h);
    }
    round = 0;  // each wait was for a distinct save; keep going
  }
  throw Error(Errc::kIo,
              "cannot mount " + archive +
                  " read/write: its file is locked by a process /proc/locks does not show",
              EBUSY);
}

void WaitForSaveOf(const std::string& archive, const WaitNotice& on_wait) {
  std::set<pid_t> announced;
  for (int round = 0; round < kRounds; ++round) {
    struct stat st;
    if (::stat(archive.c_str(), &st) != 0) return;  // the mount reports it
    bool waited = false;
    for (const ArchiveHolder& h :
         FindArchiveHolders(st.st_dev, st.st_ino, ParseMountInfo(ReadMountInfo()))) {
      if (h.serving) continue;  // includes whatever is not a tpkgfs daemon
      if (announced.insert(h.pid).second && on_wait) on_wait(h);
      WaitForExit(h);
      waited = true;
    }
    if (!waited) return;
  }
}

ScopedFd LockSavedArchive(const std::string& temp_path) {
  ScopedFd fd(::open(temp_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return ScopedFd();
  return fd;
}

}  // namespace tpkg::fs
