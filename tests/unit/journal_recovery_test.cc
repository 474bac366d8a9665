// The journal across processes: recovery after a clean exit and after
// SIGKILL (a large copy-on-write in the slow tier), torn manifests, the
// archive's identity, the lock, orphans and the journal directory's safety.
#include "tpkg/journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "journal/manifest_log.h"
#include "journal_fixture.h"
#include "slow_tier.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

using testing::ErrnoOf;
using testing::JournalTest;
using testing::MakeArchive;
using testing::MakeEdits;
using testing::PathExists;
using testing::ReadFd;
using testing::ReadFile;
using testing::VerifyEdits;
using testing::WriteFd;
using testing::WriteFile;

TEST_F(JournalTest, EditsAreRecoveredByTheNextOpen) {
  {
    Journal j = Open();
    MakeEdits(j);
  }
  Journal j = Open();
  EXPECT_TRUE(j.recovered());
  EXPECT_TRUE(j.dirty());
  // Counted as `tpkg edits` lists them (PendingEdits).
  EXPECT_EQ(j.recovery_summary(), "recovered 5 edited records from " + journal_dir() +
                                      " (1 written, 1 added, 2 renamed, 1 deleted)");
  EXPECT_EQ(j.PendingEdits().size(), 5u);
  VerifyEdits(j, *zip_);
}

TEST_F(JournalTest, SigkillAfterReturnedOperationsLosesNothing) {
  InKilledChild([&] {
    Journal j = Open();
    MakeEdits(j);
  });
  Journal j = Open();
  EXPECT_TRUE(j.recovered());
  VerifyEdits(j, *zip_);
}

TEST_F(JournalTest, SigkillMidWriteKeepsEveryAcknowledgedByte) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const std::string chunk(64 * 1024, 'w');
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipe_fds[0]);
    Journal j = Open();
    ScopedFd fd = j.Create("big.bin");
    for (off_t off = 0;; off += static_cast<off_t>(chunk.size())) {
      WriteFd(fd.get(), chunk, off);
      const uint64_t done = static_cast<uint64_t>(off) + chunk.size();
      if (write(pipe_fds[1], &done, sizeof done) != sizeof done) _exit(5);
    }
  }
  close(pipe_fds[1]);
  uint64_t acknowledged = 0;
  for (int i = 0; i < 16; ++i) ASSERT_EQ(read(pipe_fds[0], &acknowledged, sizeof acknowledged), 8);
  kill(pid, SIGKILL);  // somewhere in the middle of the writes
  int status = 0;
  waitpid(pid, &status, 0);
  close(pipe_fds[0]);
  Journal j = Open();
  const std::string data = ReadFd(j.OpenForRead("big.bin").get());
  ASSERT_GE(data.size(), acknowledged);
  EXPECT_EQ(data.find_first_not_of('w'), std::string::npos);
}

// A SIGKILL while the first write to a `size`-byte stored record copies it
// into the journal. The bigger the record, the likelier the kill lands
// mid-copy; either outcome must leave a consistent journal.
class JournalKillTest : public JournalTest {
 protected:
  void KillDuringCopyOnWriteOf(size_t size) {
    MakeArchive(archive_, {{"big.storage", std::string(size, 's')}, {".data/version", "6\n"}});
    zip_.emplace(ZipReader::Open(archive_));
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      Journal j = Open();
      j.OpenForWrite("big.storage", false);
      pause();
      _exit(0);
    }
    // Wait for the copy to begin (a data file appears), then kill.
    const std::string data_dir = journal_dir() + "/data/1";
    while (!PathExists(data_dir) && waitpid(pid, nullptr, WNOHANG) == 0) usleep(1000);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    Journal j = Open();
    const std::optional<JournalNode> node = j.Stat("big.storage");
    ASSERT_TRUE(node);
    EXPECT_EQ(node->size, size);
    if (node->edited()) {
      EXPECT_EQ(ReadFd(j.OpenForRead("big.storage").get()), std::string(size, 's'));
    } else {
      EXPECT_FALSE(PathExists(data_dir)) << "an interrupted copy must not survive recovery";
      EXPECT_NE(j.recovery_summary().find("removed 1 orphan data file"), std::string::npos)
          << j.recovery_summary();
    }
  }
};

TEST_F(JournalKillTest, SigkillDuringCopyOnWriteLeavesNoOrphan) {
  KillDuringCopyOnWriteOf(8 << 20);
}

TEST_F(JournalKillTest, SigkillDuringALargeCopyOnWriteLeavesNoOrphan) {
  TPKG_SLOW_TIER_ONLY();
  KillDuringCopyOnWriteOf(64 << 20);
}

TEST_F(JournalTest, TornManifestTailIsDropped) {
  {
    Journal j = Open();
    j.Unlink("notes/readme.txt");
    j.Unlink("pkg/code.py");
  }
  const std::string manifest = journal_dir() + "/manifest";
  const std::string bytes = ReadFile(manifest);
  WriteFile(manifest, bytes.substr(0, bytes.size() - 3));  // the last unlink was torn
  Journal j = Open();
  EXPECT_FALSE(j.Stat("notes/readme.txt"));
  EXPECT_TRUE(j.Stat("pkg/code.py"));
  EXPECT_NE(j.recovery_summary().find("dropped a torn manifest tail of"), std::string::npos)
      << j.recovery_summary();
}

// Found by tests/fuzz/journal_recovery_fuzz: a replayed entry whose path no
// lookup accepts (here not UTF-8) was listed by List() but never found by
// Stat(). Such a manifest was not written by the journal: it is refused.
TEST_F(JournalTest, ReplayedEntryWithAnInvalidPathIsRefused) {
  { Journal j = Open(); j.Unlink("pkg/code.py"); }
  const std::string manifest = journal_dir() + "/manifest";
  for (const std::string& bad :
       {std::string("new\xff.py"), std::string("a//b"), std::string("/abs")}) {
    WriteFile(manifest, ReadFile(manifest) + EncodeLogEntry(PathEntry(LogOp::kMkdir, bad)));
    try {
      Open();
      ADD_FAILURE() << "a manifest creating '" << bad << "' was replayed";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kCorrupt) << e.what();
      EXPECT_NE(std::string(e.what()).find("is inconsistent at entry"), std::string::npos) << e.what();
    }
    WriteFile(manifest, ReadFile(manifest).substr(0, ReadFile(manifest).size() -
                                                         EncodeLogEntry(PathEntry(LogOp::kMkdir, bad)).size()));
  }
  EXPECT_FALSE(Open().Stat("pkg/code.py"));  // the good entries still replay
}

TEST_F(JournalTest, DiscardExistingRemovesAJournalNothingCanReadButNotOneInUse) {
  EXPECT_EQ(Journal::DiscardExisting(archive_, *zip_), std::nullopt);  // none
  {
    Journal j = Open();
    j.Unlink("pkg/code.py");
    // A mount holds it: never removed under it.
    try {
      Journal::DiscardExisting(archive_, *zip_);
      ADD_FAILURE() << "discarded a journal in use";
    } catch (const Error& e) {
      EXPECT_EQ(e.sys_errno(), EBUSY) << e.what();
    }
  }
  WriteFile(journal_dir() + "/manifest", "not a manifest");
  EXPECT_THROW(Open(), Error);
  EXPECT_EQ(Journal::DiscardExisting(archive_, *zip_), journal_dir());
  struct stat st;
  EXPECT_NE(::lstat(journal_dir().c_str(), &st), 0);
  Journal fresh = Open();  // as if no mount had ever been
  EXPECT_FALSE(fresh.recovered());
  EXPECT_TRUE(fresh.Stat("pkg/code.py"));
}

TEST_F(JournalTest, JournalOfAnotherArchiveIsRefused) {
  {
    Journal j = Open();
    j.Unlink("notes/readme.txt");
  }
  MakeArchive(archive_, {{"other.txt", "a different archive"}, {".data/version", "6\n"}});
  const ZipReader other = ZipReader::Open(archive_);
  try {
    Journal::OpenOrCreate(archive_, other);
    FAIL() << "a journal was replayed onto another archive";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(journal_dir()), std::string::npos) << what;
    EXPECT_NE(what.find(archive_), std::string::npos) << what;
    EXPECT_NE(what.find("journal made for: "), std::string::npos) << what;
    EXPECT_NE(what.find("archive now: "), std::string::npos) << what;
  }
  EXPECT_TRUE(PathExists(journal_dir() + "/manifest")) << "the refused journal is kept";
}

// A journal made at the first change computes the archive's digest only
// then: its header must name the archive exactly as an eager open does.
TEST_F(JournalTest, AJournalMadeAtTheFirstChangeNamesTheArchiveItWasOpenedFor) {
  JournalOptions lazy;
  lazy.create_at_first_change = true;
  {
    Journal j = Journal::OpenOrCreate(archive_, *zip_, lazy);
    EXPECT_FALSE(PathExists(journal_dir()));
    j.Unlink("notes/readme.txt");
  }
  ManifestContents contents;
  {
    const int dir_fd = open(journal_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir_fd, 0);
    ManifestLog::Open(dir_fd, journal_dir(), &contents);
    close(dir_fd);
  }
  ASSERT_FALSE(contents.entries.empty());
  const ArchiveIdentity eager = ArchiveIdentity::Of(*zip_);
  EXPECT_NE(eager.digest, 0u);
  EXPECT_EQ(contents.entries[0].identity.digest, eager.digest);
  EXPECT_TRUE(contents.entries[0].identity.SameArchive(eager));
  Journal j = Journal::OpenOrCreate(archive_, *zip_, lazy);
  EXPECT_TRUE(j.recovered());
  EXPECT_FALSE(j.Stat("notes/readme.txt"));
}

TEST_F(JournalTest, EmptyJournalOfAnotherArchiveIsDiscarded) {
  { Journal j = Open(); }
  MakeArchive(archive_, {{"other.txt", "a different archive"}});
  const ZipReader other = ZipReader::Open(archive_);
  Journal j = Journal::OpenOrCreate(archive_, other);
  EXPECT_FALSE(j.recovered());
  EXPECT_NE(j.recovery_summary().find("discarded an empty journal"), std::string::npos);
}

TEST_F(JournalTest, TouchingTheArchiveKeepsItsJournal) {
  {
    Journal j = Open();
    j.Unlink("notes/readme.txt");
  }
  const struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, archive_.c_str(), times, 0), 0);
  Journal j = Open();
  EXPECT_TRUE(j.recovered());
  EXPECT_FALSE(j.Stat("notes/readme.txt"));
}

TEST_F(JournalTest, SecondDaemonIsRefusedWhileTheFirstHoldsTheLock) {
  Journal first = Open();
  // Another process (flock locks belong to open file descriptions, so the
  // same process would conflict too; a child is what really happens).
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      Journal::OpenOrCreate(archive_, *zip_);
    } catch (const Error& e) {
      const std::string what = e.what();
      // Names the holder by its command and pid (a daemon or a `tpkg edits`).
      const std::string parent = std::to_string(getppid());
      std::string command = ReadFile("/proc/" + parent + "/comm");
      while (!command.empty() && command.back() == '\n') command.pop_back();
      const bool names_holder =
          what.find("in use by " + command + " (pid " + parent + ")") != std::string::npos;
      _exit(ToErrno(e) == EBUSY && names_holder ? 0 : 2);
    }
    _exit(1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST_F(JournalTest, OrphansAreRemovedAtOpen) {
  { Journal j = Open(); }
  WriteFile(journal_dir() + "/save.tmp", "half an archive");
  WriteFile(journal_dir() + "/manifest.tmp", "half a manifest");
  WriteFile(journal_dir() + "/data/77", "an interrupted copy");
  WriteFile(journal_dir() + "/data/77.partial", "junk");
  Journal j = Open();
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_FALSE(PathExists(journal_dir() + "/manifest.tmp"));
  EXPECT_FALSE(PathExists(journal_dir() + "/data/77"));
  EXPECT_FALSE(PathExists(journal_dir() + "/data/77.partial"));
  EXPECT_EQ(j.recovery_summary(),
            "journal " + journal_dir() +
                ": removed 2 unfinished temp files; removed 2 orphan data files");
  // Ids never collide with a removed orphan's.
  j.Create("fresh.txt");
  EXPECT_TRUE(PathExists(journal_dir() + "/data/78"));
}

// A create syncs only the manifest, not its data file's name: a crash may
// lose that name (here: removed by hand), and recovery makes the file again,
// empty, as an unsynced file would be after a crash. A lost file that held
// content (copy-on-write) stays an error.
TEST_F(JournalTest, ACreatedFileWhoseNameWasLostComesBackEmpty) {
  uint64_t id = 0;
  {
    Journal j = Open();
    WriteFd(j.Create("fresh.txt").get(), "unsynced", 0);
    id = j.Stat("fresh.txt")->data_id;
  }
  ASSERT_EQ(::unlink((journal_dir() + "/data/" + std::to_string(id)).c_str()), 0);
  Journal j = Open();
  ASSERT_TRUE(j.Stat("fresh.txt"));
  EXPECT_EQ(ReadFd(j.OpenForRead("fresh.txt").get()), "");
  EXPECT_NE(j.recovery_summary().find(
                "made 1 created file again, empty: a crash lost their unsynced names"),
            std::string::npos)
      << j.recovery_summary();
}

TEST_F(JournalTest, ALostCopyOfARecordIsStillAnError) {
  uint64_t id = 0;
  {
    Journal j = Open();
    WriteFd(j.OpenForWrite("pkg/code.py", false).get(), "z", 0);  // copy-on-write
    id = j.Stat("pkg/code.py")->data_id;
  }
  ASSERT_EQ(::unlink((journal_dir() + "/data/" + std::to_string(id)).c_str()), 0);
  try {
    Open();
    FAIL() << "a lost copy must not be recovered silently";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has lost the data of 'pkg/code.py'"), std::string::npos)
        << e.what();
  }
}

TEST_F(JournalTest, UncreatableJournalDirectoryIsAnError) {
  WriteFile(dir_ / "plainfile", "");
  JournalOptions options;
  options.directory = dir_ / "plainfile/journal";
  try {
    Journal::OpenOrCreate(archive_, *zip_, options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(ToErrno(e), ENOTDIR);
    EXPECT_NE(std::string(e.what()).find(options.directory), std::string::npos) << e.what();
  }
}

TEST_F(JournalTest, ArchiveThatCannotBeWrittenGetsNoJournal) {
  const testing::ImmutableOutcome out = testing::WhileImmutable(archive_, [&] { Open(); });
  if (out.skipped) GTEST_SKIP() << out.message;
  EXPECT_EQ(out.err, EPERM);
  EXPECT_NE(out.message.find(archive_), std::string::npos) << out.message;
  EXPECT_FALSE(PathExists(journal_dir()));
}

TEST_F(JournalTest, JournalDirectoryMustBeOursAndReal) {
  const std::string elsewhere = dir_ / "elsewhere";
  ASSERT_EQ(mkdir(elsewhere.c_str(), 0700), 0);
  ASSERT_EQ(symlink(elsewhere.c_str(), journal_dir().c_str()), 0);
  const int err = ErrnoOf([&] { Open(); });  // O_NOFOLLOW | O_DIRECTORY on a symlink
  EXPECT_TRUE(err == ENOTDIR || err == ELOOP)
      << "a planted symlink is not followed: " << strerror(err);
  EXPECT_FALSE(PathExists(elsewhere + "/lock"));
  ASSERT_EQ(unlink(journal_dir().c_str()), 0);
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give the directory to another user";
  ASSERT_EQ(mkdir(journal_dir().c_str(), 0700), 0);
  ASSERT_EQ(chown(journal_dir().c_str(), 1234, 1234), 0);
  try {
    Open();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(ToErrno(e), EPERM);
    EXPECT_NE(std::string(e.what()).find("belongs to uid 1234"), std::string::npos) << e.what();
  }
}

TEST_F(JournalTest, SymlinkedArchiveJournalsBesideTheTarget) {
  const std::string link = dir_ / "link.pt";
  ASSERT_EQ(symlink(archive_.c_str(), link.c_str()), 0);
  Journal j = Journal::OpenOrCreate(link, *zip_);
  EXPECT_EQ(j.archive_path(), archive_);
  EXPECT_EQ(j.directory(), journal_dir());
}

}  // namespace
}  // namespace tpkg
