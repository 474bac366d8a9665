// What tpkgfs -u, a remount and a second mount use to find a daemon:
// mountinfo, /proc/locks, process identity and waiting, mount records and
// the archive lock.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "archive_lock.h"
#include "mount_registry.h"
#include "mount_table.h"
#include "process_info.h"
#include "scratch_dir.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

using tpkg::testing::ScratchDir;
using tpkg::testing::WriteFile;

constexpr const char* kMountInfo =
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "40 22 0:40 / /tmp/a\\040b rw,nosuid,nodev,relatime shared:2 - fuse.tpkgfs /srv/m\\040x.pt "
    "rw,user_id=1000,group_id=1000,allow_other\n"
    "41 22 0:41 / /tmp/ro rw,relatime - fuse.tpkgfs /srv/ro.pt ro,user_id=0,group_id=0\n"
    "42 40 0:42 / /tmp/a\\040b rw - fuse.other src rw,user_id=0\n"
    "garbage line\n";

TEST(MountTableTest, ParsesMountinfoWithEscapesAndOptionalFields) {
  const std::vector<MountInfo> mounts = ParseMountInfo(kMountInfo);
  ASSERT_EQ(mounts.size(), 4u);
  const MountInfo& m = mounts[1];
  EXPECT_EQ(m.major, 0u);
  EXPECT_EQ(m.minor, 40u);
  EXPECT_EQ(m.mount_point, "/tmp/a b");
  EXPECT_EQ(m.fstype, "fuse.tpkgfs");
  EXPECT_EQ(m.source, "/srv/m x.pt");
  EXPECT_FALSE(m.read_only());
  EXPECT_EQ(m.fuse_owner(), 1000u);
  EXPECT_TRUE(mounts[2].read_only());  // ro in the super options
  EXPECT_EQ(mounts[2].fuse_owner(), 0u);
  EXPECT_FALSE(mounts[0].fuse_owner());
}

TEST(MountTableTest, TheTopMountIsTheLastOneAtThePath) {
  const std::vector<MountInfo> mounts = ParseMountInfo(kMountInfo);
  ASSERT_NE(TopMountAt(mounts, "/tmp/a b"), nullptr);
  EXPECT_EQ(TopMountAt(mounts, "/tmp/a b")->fstype, "fuse.other");
  EXPECT_EQ(TopMountAt(mounts, "/tmp/none"), nullptr);
  ASSERT_NE(MountWithDevice(mounts, 0, 41), nullptr);
  EXPECT_EQ(MountWithDevice(mounts, 0, 41)->source, "/srv/ro.pt");
  EXPECT_EQ(MountWithDevice(mounts, 254, 0), nullptr);  // not FUSE
}

TEST(MountTableTest, NoOtherNamespaceHoldsAConnectionThatDoesNotExist) {
  // The positive case needs a real mount and a second namespace:
  // tests/integration/test_mount_cli.py (namespace copies).
  EXPECT_TRUE(OtherNamespacesWithDevice(0, 999999).empty());
}

TEST(ProcLocksTest, OnlyExclusiveFlockHoldersOfThatInodeCount) {
  const std::string locks =
      "1: FLOCK  ADVISORY  WRITE 18340 fe:00:1123084 0 EOF\n"
      "1: -> FLOCK  ADVISORY  WRITE 18341 fe:00:1123084 0 EOF\n"
      "2: FLOCK  ADVISORY  READ 18342 fe:00:1123084 0 EOF\n"
      "3: POSIX  ADVISORY  WRITE 18343 fe:00:1123084 0 EOF\n"
      "4: FLOCK  ADVISORY  WRITE 18344 fe:01:1123084 0 EOF\n"
      "5: FLOCK  ADVISORY  WRITE 18345 fe:00:1123085 0 EOF\n"
      "6: FLOCK  ADVISORY  WRITE 18346 103:0a:1123084 0 EOF\n";
  EXPECT_EQ(FlockHolders(locks, makedev(0xfe, 0), 1123084), std::vector<pid_t>{18340});
  EXPECT_EQ(FlockHolders(locks, makedev(0x103, 0xa), 1123084), std::vector<pid_t>{18346});
}

TEST(ProcLocksTest, ALineReadTwiceIsOneHolder) {
  // A read of /proc/locks in pieces while locks change may repeat a line.
  const std::string locks =
      "1: FLOCK  ADVISORY  WRITE 18340 fe:00:1123084 0 EOF\n"
      "2: FLOCK  ADVISORY  WRITE 18347 fe:00:1123084 0 EOF\n"
      "2: FLOCK  ADVISORY  WRITE 18340 fe:00:1123084 0 EOF\n";
  EXPECT_EQ(FlockHolders(locks, makedev(0xfe, 0), 1123084), (std::vector<pid_t>{18340, 18347}));
}

TEST(ProcLocksTest, OurOwnFlockShowsUp) {
  ScratchDir dir;
  WriteFile(dir / "a.pt", "x");
  const int fd = ::open((dir / "a.pt").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(FlockHolders(ReadProcLocks(), st.st_dev, st.st_ino), std::vector<pid_t>{::getpid()});
  ::close(fd);
  EXPECT_TRUE(FlockHolders(ReadProcLocks(), st.st_dev, st.st_ino).empty());
}

TEST(ProcessInfoTest, IdentityAndWaitingForExit) {
  const std::optional<uint64_t> self = ProcessStartTime(::getpid());
  ASSERT_TRUE(self);
  EXPECT_TRUE(ProcessAlive(::getpid(), *self));
  EXPECT_FALSE(ProcessAlive(::getpid(), *self + 1));  // a reused pid has another start time
  EXPECT_FALSE(ProcessStartTime(0));
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    [[maybe_unused]] ssize_t n = ::read(go[0], &c, 1);
    _exit(0);
  }
  const std::optional<uint64_t> started = ProcessStartTime(child);
  ASSERT_TRUE(started);
  EXPECT_FALSE(ProcessName(child).empty());
  EXPECT_EQ(ProcessUid(child), ::getuid());
  ProcessWatch watch = ProcessWatch::Open(child, *started);
  EXPECT_FALSE(watch.WaitForExit(50));
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  const auto before = std::chrono::steady_clock::now();
  EXPECT_TRUE(watch.WaitForExit(10000));  // the exit (a zombie) wakes the watch
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
  EXPECT_FALSE(ProcessAlive(child, *started));  // exited, not reaped yet
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE(ProcessWatch::Open(child, *started).WaitForExit(0));  // gone: reported at once
  ::close(go[0]);
  ::close(go[1]);
}

MountRecord SampleRecord() {
  MountRecord r;
  r.pid = 1234;
  r.start_time = 99;
  r.started = 1738324800;
  r.state = MountState::kServing;
  r.writable = true;
  r.archive = "/srv/odd\\name\nx.pt";
  r.archive_dev = 65024;
  r.archive_ino = 77;
  r.mountpoint = "/mnt/a b";
  r.fuse_major = 0;
  r.fuse_minor = 40;
  r.journal = "/srv/.x.pt.tpkgfs";
  r.log = "/srv/.x.pt.tpkgfs.log";
  return r;
}

TEST(MountRegistryTest, RecordsRoundTrip) {
  const MountRecord r = SampleRecord();
  const std::optional<MountRecord> back = ParseMountRecord(FormatMountRecord(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->pid, r.pid);
  EXPECT_EQ(back->start_time, r.start_time);
  EXPECT_EQ(back->started, r.started);
  EXPECT_EQ(back->state, r.state);
  EXPECT_EQ(back->writable, r.writable);
  EXPECT_EQ(back->archive, r.archive);
  EXPECT_EQ(back->archive_dev, r.archive_dev);
  EXPECT_EQ(back->archive_ino, r.archive_ino);
  EXPECT_EQ(back->mountpoint, r.mountpoint);
  EXPECT_EQ(back->fuse_minor, 40u);
  EXPECT_EQ(back->journal, r.journal);
  EXPECT_EQ(back->log, r.log);
  EXPECT_EQ(back->ended, 0);
  MountRecord ended = r;
  ended.ended = 1738328400;
  EXPECT_EQ(ParseMountRecord(FormatMountRecord(ended))->ended, 1738328400);
  EXPECT_EQ(back->unlogged_outcome, "");
  // A save log entry (several lines) the save log had no room for.
  ended.unlogged_outcome = "2026-12-06T22:00:00Z 42 failed /a b.pt\n  Cannot save /a b.pt: full\n";
  EXPECT_EQ(ParseMountRecord(FormatMountRecord(ended))->unlogged_outcome, ended.unlogged_outcome);
  EXPECT_FALSE(ParseMountRecord("pid 1\nstate serving\n"));  // incomplete
}

TEST(MountRegistryTest, ADaemonsRecordLivesAsLongAsItsRegistration) {
  ScratchDir scratch;
  const std::string dir = scratch / "registry";
  MountRecord r = SampleRecord();
  r.state = MountState::kStarting;
  {
    MountRegistration reg = MountRegistration::Register(dir, r);
    ASSERT_TRUE(reg.active());
    struct stat st;
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    std::vector<MountRecord> live = LiveRecords(dir, ::geteuid());
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ(live[0].pid, ::getpid());  // filled in by Register
    EXPECT_EQ(live[0].state, MountState::kStarting);
    reg.SetServing(0, 41, /*writable=*/false);
    live = LiveRecords(dir, ::geteuid());
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ(live[0].state, MountState::kServing);
    EXPECT_EQ(live[0].fuse_minor, 41u);
    EXPECT_FALSE(live[0].writable);
    reg.SetSaving();
    EXPECT_EQ(LiveRecords(dir, ::geteuid())[0].state, MountState::kSaving);
    MountRegistration moved = std::move(reg);
    EXPECT_EQ(LiveRecords(dir, ::geteuid()).size(), 1u);
    EXPECT_FALSE(EndedRecordAt(dir, ::geteuid(), r.mountpoint));  // not before it ends
  }
  EXPECT_TRUE(LiveRecords(dir, ::geteuid()).empty());
  // Ended after its unmount: kept as the mountpoint's ended record.
  const std::optional<MountRecord> ended = EndedRecordAt(dir, ::geteuid(), r.mountpoint);
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->pid, ::getpid());
  EXPECT_EQ(ended->archive, r.archive);
  EXPECT_EQ(ended->log, r.log);
  EXPECT_GE(ended->ended, ended->started);
  EXPECT_FALSE(EndedRecordAt(dir, ::geteuid(), r.mountpoint + "2"));
  EXPECT_FALSE(EndedRecordAt(dir, ::geteuid() + 1, r.mountpoint));  // not that owner's folder
  // A daemon that never mounted leaves none.
  MountRecord other = SampleRecord();
  other.mountpoint = "/mnt/never";
  other.state = MountState::kStarting;
  { MountRegistration never = MountRegistration::Register(dir, other); }
  EXPECT_FALSE(EndedRecordAt(dir, ::geteuid(), "/mnt/never"));
  // The next daemon at that mountpoint takes the last one's ended record away at once: its
  // own outcome is the one a `tpkgfs -u` must report, never the earlier one.
  {
    MountRecord next = SampleRecord();
    next.state = MountState::kStarting;
    MountRegistration again = MountRegistration::Register(dir, next);
    EXPECT_FALSE(EndedRecordAt(dir, ::geteuid(), r.mountpoint));
  }
  EXPECT_FALSE(EndedRecordAt(dir, ::geteuid(), r.mountpoint));  // it ended before mounting
  // An ended record past its time is neither reported nor kept.
  MountRecord saving = SampleRecord();
  saving.state = MountState::kSaving;
  for (const char* mountpoint : {"/mnt/old", "/mnt/recent"}) {
    saving.mountpoint = mountpoint;
    MountRegistration saved = MountRegistration::Register(dir, saving);
  }
  std::vector<std::string> ended_files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().starts_with("ended-")) ended_files.push_back(e.path());
  ASSERT_EQ(ended_files.size(), 2u);
  for (const std::string& file : ended_files) {  // /mnt/old's ended long ago
    std::optional<MountRecord> r = ParseMountRecord(testing::ReadFile(file));
    ASSERT_TRUE(r);
    if (r->mountpoint != "/mnt/old") continue;
    ASSERT_TRUE(EndedRecordAt(dir, ::geteuid(), "/mnt/old"));
    r->ended -= kEndedRecordSeconds + 5;
    WriteFile(file, FormatMountRecord(*r));
  }
  EXPECT_FALSE(EndedRecordAt(dir, ::geteuid(), "/mnt/old"));
  { MountRegistration pruning = MountRegistration::Register(dir, other); }
  size_t left = 0;
  for (const std::string& file : ended_files) left += std::filesystem::exists(file);
  EXPECT_EQ(left, 1u);  // the old one removed, the recent one kept
  EXPECT_TRUE(EndedRecordAt(dir, ::geteuid(), "/mnt/recent"));
  // A daemon that leaves its own ended record removes those past their time too, so that
  // they do not pile up when no daemon registers afterwards.
  saving.mountpoint = "/mnt/last";
  {
    MountRegistration saved = MountRegistration::Register(dir, saving);
    for (const std::string& file : ended_files) {  // /mnt/recent's time passes while it serves
      if (!std::filesystem::exists(file)) continue;
      std::optional<MountRecord> r = ParseMountRecord(testing::ReadFile(file));
      ASSERT_TRUE(r);
      r->ended -= kEndedRecordSeconds + 5;
      WriteFile(file, FormatMountRecord(*r));
    }
  }
  size_t ended_left = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    ended_left += e.path().filename().string().starts_with("ended-");
  EXPECT_EQ(ended_left, 1u);
  EXPECT_TRUE(EndedRecordAt(dir, ::geteuid(), "/mnt/last"));
}

TEST(MountRegistryTest, StaleRecordsAndUntrustedFoldersAreIgnored) {
  ScratchDir scratch;
  const std::string dir = scratch / "registry";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  MountRecord stale = SampleRecord();
  stale.pid = ::getpid();
  stale.start_time = *ProcessStartTime(::getpid()) + 1;  // our pid, another process's start
  WriteFile(dir + "/" + std::to_string(stale.pid), FormatMountRecord(stale));
  EXPECT_TRUE(LiveRecords(dir, ::geteuid()).empty());
  EXPECT_FALSE(tpkg::testing::PathExists(dir + "/" + std::to_string(stale.pid)));  // removed
  stale.start_time = *ProcessStartTime(::getpid());
  WriteFile(dir + "/" + std::to_string(stale.pid), FormatMountRecord(stale));
  EXPECT_EQ(LiveRecords(dir, ::geteuid()).size(), 1u);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);  // others could have planted records
  EXPECT_TRUE(LiveRecords(dir, ::geteuid()).empty());
  EXPECT_FALSE(MountRegistration::Register(dir, SampleRecord()).active());
}

// A child process that takes the archive lock the way a daemon does and
// registers in `registry` in `state`, then waits for a byte on `go`.
pid_t FakeDaemon(const std::string& archive, const std::string& registry, MountState state, int go,
                 int ready) {
  const pid_t child = ::fork();
  if (child != 0) return child;
  MountRecord r = SampleRecord();
  r.state = MountState::kStarting;
  r.archive = archive;
  r.mountpoint = "/nowhere/mounted";
  r.fuse_major = 0;
  r.fuse_minor = 0xfffff;  // no such mount: unmounted
  MountRegistration reg = MountRegistration::Register(registry, r);
  if (state == MountState::kSaving) reg.SetSaving();
  if (state == MountState::kServing) reg.SetServing(0, 0xfffff, true);
  const int fd = ::open(archive.c_str(), O_RDONLY);
  ::flock(fd, LOCK_EX);
  [[maybe_unused]] ssize_t n = ::write(ready, "r", 1);
  char c;
  n = ::read(go, &c, 1);
  reg = MountRegistration();  // removes the record: _exit runs no destructor
  _exit(0);
}

// The archive lock consults the registry of our own uid, where a test must
// not leave anything behind: these tests run only when that registry is a
// folder we can use.
class ArchiveLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    archive_ = scratch_ / "model.pt";
    WriteFile(archive_, "archive");
    ASSERT_EQ(::pipe(go_), 0);
    ASSERT_EQ(::pipe(ready_), 0);
  }
  void TearDown() override {
    for (int fd : {go_[0], go_[1], ready_[0], ready_[1]}) ::close(fd);
  }
  pid_t Start(MountState state) {
    const pid_t pid = FakeDaemon(archive_, RegistryDirFor(::geteuid()), state, go_[0], ready_[1]);
    char c;
    EXPECT_EQ(::read(ready_[0], &c, 1), 1);
    return pid;
  }
  void Finish(pid_t pid) {
    EXPECT_EQ(::write(go_[1], "g", 1), 1);
    ::waitpid(pid, nullptr, 0);
  }
  ScratchDir scratch_;
  std::string archive_;
  int go_[2], ready_[2];
};

TEST_F(ArchiveLockTest, AServingDaemonIsRefusedWithItsMountpoint) {
  const pid_t daemon = Start(MountState::kStarting);
  try {
    LockArchive(archive_, nullptr);
    ADD_FAILURE() << "a second read/write daemon got the lock";
  } catch (const Error& e) {
    EXPECT_EQ(e.sys_errno(), EBUSY);
    EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(daemon)), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("/nowhere/mounted"), std::string::npos) << e.what();
  }
  Finish(daemon);
  EXPECT_TRUE(LockArchive(archive_, nullptr).valid());  // free again
}

TEST_F(ArchiveLockTest, ASavingDaemonIsWaitedForOnce) {
  for (MountState state : {MountState::kSaving, MountState::kServing}) {  // serving but unmounted
    const pid_t daemon = Start(state);
    int notices = 0;
    std::thread finisher([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      Finish(daemon);
    });
    ScopedFd lock = LockArchive(archive_, [&](const ArchiveHolder& h) {
      ++notices;
      EXPECT_EQ(h.pid, daemon);
      EXPECT_FALSE(h.serving);
    });
    finisher.join();
    EXPECT_TRUE(lock.valid());
    EXPECT_EQ(notices, 1);
  }
}

TEST_F(ArchiveLockTest, AReadOnlyViewWaitsForASaveButNotForAServer) {
  const pid_t starting = Start(MountState::kStarting);
  int notices = 0;
  WaitForSaveOf(archive_, [&](const ArchiveHolder&) { ++notices; });
  EXPECT_EQ(notices, 0);
  Finish(starting);
  const pid_t saving = Start(MountState::kSaving);
  std::thread finisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Finish(saving);
  });
  WaitForSaveOf(archive_, [&](const ArchiveHolder&) { ++notices; });
  finisher.join();
  EXPECT_EQ(notices, 1);
}

TEST_F(ArchiveLockTest, AHardLinkMeetsTheSameLock) {
  ASSERT_EQ(::link(archive_.c_str(), (scratch_ / "link.pt").c_str()), 0);
  ScopedFd first = LockArchive(archive_, nullptr);
  ASSERT_TRUE(first.valid());
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      LockArchive(scratch_ / "link.pt", nullptr);
      _exit(1);
    } catch (const Error& e) {
      _exit(e.sys_errno() == EBUSY ? 0 : 2);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace tpkg::fs
