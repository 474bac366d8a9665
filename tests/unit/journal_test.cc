// The journal: copy-on-write, POSIX errors, recovery after SIGKILL, torn
// manifests, identity and locking.
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
#include <thread>

#include "scratch_dir.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

using testing::MakeArchive;
using testing::PathExists;
using testing::ReadFd;
using testing::ReadFile;
using testing::SamplePackage;
using testing::ScratchDir;
using testing::WriteFd;
using testing::WriteFile;

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    archive_ = dir_ / "model.pt";
    MakeArchive(archive_, SamplePackage());
    zip_.emplace(ZipReader::Open(archive_));
  }

  Journal Open() { return Journal::OpenOrCreate(archive_, *zip_); }
  std::string journal_dir() const { return dir_ / ".model.pt.tpkgfs"; }

  // The current bytes of a file as a reader of the mount would see them.
  std::string Content(const Journal& j, const std::string& record) {
    const std::optional<JournalNode> node = j.Stat(record);
    if (!node) return "<missing>";
    if (node->original) return zip_->ReadAll(*node->original);
    return ReadFd(j.OpenForRead(record).get());
  }

  // Runs `body` in a child process that then kills itself with SIGKILL;
  // returns once the child is dead.
  static void InKilledChild(const std::function<void()>& body) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        body();
      } catch (...) {
        _exit(3);  // the parent sees "exited", not "killed", and fails
      }
      raise(SIGKILL);
      _exit(4);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  }

  ScratchDir dir_;
  std::string archive_;
  std::optional<ZipReader> zip_;
};

int ErrnoOf(const std::function<void()>& op) {
  try {
    op();
  } catch (const Error& e) {
    return ToErrno(e);
  }
  return 0;
}

TEST_F(JournalTest, FreshJournalLivesBesideTheArchiveAndIsClean) {
  Journal j = Open();
  EXPECT_EQ(j.directory(), journal_dir());
  EXPECT_EQ(Journal::DirectoryFor("/x/y/model.pt"), "/x/y/.model.pt.tpkgfs");
  EXPECT_TRUE(PathExists(journal_dir() + "/manifest"));
  EXPECT_TRUE(PathExists(journal_dir() + "/lock"));
  EXPECT_FALSE(j.recovered());
  EXPECT_EQ(j.recovery_summary(), "");
  EXPECT_FALSE(j.dirty());
  EXPECT_EQ(Content(j, "pkg/code.py"), "x = 1\n");
  const auto root = j.List("");
  std::vector<std::string> names;
  for (const auto& c : root) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{".data", "model", "notes", "pkg"}));
}

TEST_F(JournalTest, FirstWriteCopiesTheOriginalBytes) {
  Journal j = Open();
  ScopedFd fd = j.OpenForWrite("pkg/code.py", /*truncate=*/false);
  EXPECT_EQ(ReadFd(fd.get()), "x = 1\n");
  WriteFd(fd.get(), "y", 0);
  EXPECT_EQ(Content(j, "pkg/code.py"), "y = 1\n");
  EXPECT_TRUE(j.Stat("pkg/code.py")->edited());
  EXPECT_EQ(j.Stat("pkg/code.py")->size, 6u);
  const uint64_t id = j.Stat("pkg/code.py")->data_id;
  EXPECT_NE(id, 0u);
  j.Rename("pkg/code.py", "pkg/moved.py");
  EXPECT_EQ(j.Stat("pkg/moved.py")->data_id, id) << "a rename keeps the content's identity";
  EXPECT_TRUE(j.dirty());
  // A second open shares the same data file.
  ScopedFd again = j.OpenForWrite("pkg/moved.py", false);
  EXPECT_EQ(ReadFd(again.get()), "y = 1\n");
}

TEST_F(JournalTest, TruncatingOpenCopiesNothing) {
  Journal j = Open();
  ScopedFd fd = j.OpenForWrite(".data/0.storage", /*truncate=*/true);
  EXPECT_EQ(ReadFd(fd.get()), "");
  EXPECT_EQ(j.Stat(".data/0.storage")->size, 0u);
}

TEST_F(JournalTest, TruncateByNameKeepsThePrefix) {
  Journal j = Open();
  j.Truncate("notes/readme.txt", 3);
  EXPECT_EQ(Content(j, "notes/readme.txt"), "hel");
  j.Truncate("notes/readme.txt", 5);
  EXPECT_EQ(Content(j, "notes/readme.txt"), std::string("hel\0\0", 5));
  j.Truncate("pkg/code.py", 6);  // same size: nothing to copy
  EXPECT_FALSE(j.Stat("pkg/code.py")->edited());
}

TEST_F(JournalTest, DeflatedRecordsAreInflatedOnFirstWrite) {
  const std::string copy = dir_ / "deflated.pt";
  WriteFile(copy, ReadFile(TPKG_CORPUS_DIR "/pkg_deflated_by_zip_tool.pt"));
  const ZipReader zip = ZipReader::Open(copy);
  Journal j = Journal::OpenOrCreate(copy, zip);
  int checked = 0;
  for (const ZipEntry& e : zip.entries()) {
    if (e.method != kMethodDeflate || e.is_directory()) continue;
    ScopedFd fd = j.OpenForWrite(e.name, false);
    EXPECT_EQ(ReadFd(fd.get()), zip.ReadAll(e)) << e.name;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST_F(JournalTest, OperationsFailWithThePosixErrno) {
  Journal j = Open();
  j.Mkdir("empty");
  struct Row {
    const char* what;
    std::function<void()> op;
    int expected;
  };
  const Row rows[] = {
      {"open missing", [&] { j.OpenForWrite("pkg/nope.py", false); }, ENOENT},
      {"open a directory", [&] { j.OpenForWrite("pkg", false); }, EISDIR},
      {"open under a file", [&] { j.OpenForWrite("pkg/code.py/x", false); }, ENOTDIR},
      {"create existing", [&] { j.Create("pkg/code.py"); }, EEXIST},
      {"create in missing dir", [&] { j.Create("nodir/x.py"); }, ENOENT},
      {"create a 256-byte name", [&] { j.Create("pkg/" + std::string(256, 'n')); }, ENAMETOOLONG},
      {"create '..'", [&] { j.Create("pkg/../x"); }, EINVAL},
      {"unlink a directory", [&] { j.Unlink("pkg"); }, EISDIR},
      {"unlink missing", [&] { j.Unlink("pkg/nope"); }, ENOENT},
      {"rmdir non-empty", [&] { j.Rmdir("pkg"); }, ENOTEMPTY},
      {"rmdir a file", [&] { j.Rmdir("pkg/code.py"); }, ENOTDIR},
      {"rmdir root", [&] { j.Rmdir(""); }, EBUSY},
      {"mkdir existing", [&] { j.Mkdir("pkg"); }, EEXIST},
      {"rename onto non-empty dir", [&] { j.Rename("empty", "pkg"); }, ENOTEMPTY},
      {"rename dir into itself", [&] { j.Rename("pkg", "pkg/sub/x"); }, EINVAL},
      {"rename file onto dir", [&] { j.Rename("pkg/code.py", "notes"); }, EISDIR},
      {"rename dir onto file", [&] { j.Rename("empty", "pkg/code.py"); }, ENOTDIR},
      {"rename NOREPLACE", [&] { j.Rename("pkg/code.py", "notes/readme.txt", true); }, EEXIST},
      {"chmod missing", [&] { j.SetMode("nope", 0600); }, ENOENT},
      {"list a file", [&] { j.List("pkg/code.py"); }, ENOTDIR},
  };
  for (const Row& row : rows) EXPECT_EQ(ErrnoOf(row.op), row.expected) << row.what;
  // None of the refused operations changed anything.
  EXPECT_EQ(Content(j, "pkg/code.py"), "x = 1\n");
  EXPECT_TRUE(j.Stat("empty")->is_dir);
}

TEST_F(JournalTest, RefusedOperationMessagesNameThePaths) {
  Journal j = Open();
  j.Mkdir("empty");
  try {
    j.Rename("empty", "pkg");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Cannot rename 'empty' to 'pkg': Directory not empty");
    EXPECT_EQ(e.code(), Errc::kNotEmpty);
  }
}

// Performs one edit of each kind; VerifyEdits() checks them all.
void MakeEdits(Journal& j) {
  WriteFd(j.OpenForWrite("pkg/code.py", false).get(), "z", 0);   // copy-on-write
  WriteFd(j.Create("pkg/new.py", 0640u).get(), "import pkg\n");  // create
  j.Unlink("notes/readme.txt");                                  // unlink
  j.Rename("pkg/sub", "pkg/moved");                              // directory rename
  j.Mkdir("assets", 0700u);                                      // empty directory
  j.SetMode("pkg/moved/deep.py", 0600u);                         // chmod
  j.SetMtime(".data/version", timespec{1000, 7});                // utimens
  j.Rename("model/model.pkl", "model/renamed.pkl");              // file rename
}

void VerifyEdits(const Journal& j, const ZipReader& zip) {
  auto content = [&](const std::string& r) {
    const auto node = j.Stat(r);
    if (!node) return std::string("<missing>");
    return node->original ? zip.ReadAll(*node->original) : ReadFd(j.OpenForRead(r).get());
  };
  EXPECT_EQ(content("pkg/code.py"), "z = 1\n");
  EXPECT_EQ(content("pkg/new.py"), "import pkg\n");
  EXPECT_EQ(j.Stat("pkg/new.py")->mode, 0640u);
  EXPECT_FALSE(j.Stat("notes/readme.txt"));
  EXPECT_TRUE(j.Stat("notes")->is_dir);
  EXPECT_FALSE(j.Stat("pkg/sub"));
  EXPECT_EQ(content("pkg/moved/deep.py"), "import pkg.code\n");
  EXPECT_EQ(j.Stat("pkg/moved/deep.py")->mode, 0600u);
  EXPECT_TRUE(j.Stat("assets")->is_dir);
  EXPECT_EQ(j.Stat("assets")->mode, 0700u);
  EXPECT_EQ(j.Stat(".data/version")->mtime->tv_sec, 1000);
  EXPECT_FALSE(j.Stat("model/model.pkl"));
  EXPECT_EQ(content("model/renamed.pkl"), "\x80\x03pickle-bytes.");
}

TEST_F(JournalTest, EditsAreRecoveredByTheNextOpen) {
  {
    Journal j = Open();
    MakeEdits(j);
  }
  Journal j = Open();
  EXPECT_TRUE(j.recovered());
  EXPECT_TRUE(j.dirty());
  EXPECT_EQ(j.recovery_summary(), "recovered 5 edited records from " + journal_dir() +
                                      " (2 written, 2 renamed, 1 deleted)");
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

TEST_F(JournalTest, SigkillDuringCopyOnWriteLeavesNoOrphan) {
  // A 64 MiB stored record takes long enough to copy that the kill usually
  // lands mid-copy; either outcome must leave a consistent journal.
  MakeArchive(archive_, {{"big.storage", std::string(64 << 20, 's')}, {".data/version", "6\n"}});
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
  EXPECT_EQ(node->size, 64u << 20);
  if (node->edited()) {
    EXPECT_EQ(ReadFd(j.OpenForRead("big.storage").get()), std::string(64 << 20, 's'));
  } else {
    EXPECT_FALSE(PathExists(data_dir)) << "an interrupted copy must not survive recovery";
    EXPECT_NE(j.recovery_summary().find("removed 1 orphan data files"), std::string::npos)
        << j.recovery_summary();
  }
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
      const bool names_pid = what.find("pid " + std::to_string(getppid())) != std::string::npos;
      _exit(ToErrno(e) == EBUSY && names_pid ? 0 : 2);
    }
    _exit(1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST_F(JournalTest, AttributesAloneDoNotMakeItDirty) {
  Journal j = Open();
  j.SetMode("pkg/code.py", 0755u);
  j.SetMtime("pkg", timespec{5, 0});
  EXPECT_FALSE(j.dirty());
  EXPECT_EQ(j.Stat("pkg/code.py")->mode, 0755u);
}

TEST_F(JournalTest, MtimeOfAnEditedFileIsItsDataFiles) {
  Journal j = Open();
  j.OpenForWrite("pkg/code.py", false);
  j.SetMtime("pkg/code.py", timespec{4242, 0});
  EXPECT_EQ(j.Stat("pkg/code.py")->mtime->tv_sec, 4242);
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

TEST_F(JournalTest, UnlinkedDataIsDeletedAtOnce) {
  Journal j = Open();
  j.Create("tmp.txt");
  ASSERT_TRUE(PathExists(journal_dir() + "/data/1"));
  j.Unlink("tmp.txt");
  EXPECT_FALSE(PathExists(journal_dir() + "/data/1"));
}

TEST_F(JournalTest, DropRemovesTheJournal) {
  Journal j = Open();
  j.Create("new.txt");
  j.Drop();
  EXPECT_FALSE(PathExists(journal_dir()));
  EXPECT_THROW(j.Stat("new.txt"), Error);
  Journal again = Open();
  EXPECT_FALSE(again.recovered());
  EXPECT_FALSE(again.Stat("new.txt"));
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
  int err = 0;
  std::string message;
  {
    testing::ScopedImmutable immutable(archive_);
    if (!immutable.set()) GTEST_SKIP() << immutable.error();
    try {
      Open();
    } catch (const Error& e) {
      err = ToErrno(e);
      message = e.what();
    }
  }
  EXPECT_EQ(err, EPERM);
  EXPECT_NE(message.find(archive_), std::string::npos) << message;
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

TEST_F(JournalTest, ConcurrentCallsFromManyThreadsStayConsistent) {
  Journal j = Open();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&j, t] {
      for (int i = 0; i < 10; ++i) {
        const std::string name = std::to_string(t) + "_" + std::to_string(i) + ".t";
        WriteFd(j.Create(name).get(), name);
        j.Rename(name, name + ".done");
        j.Stat("pkg/code.py");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(j.List("").size(), 4u + 40u);
  EXPECT_EQ(ReadFd(j.OpenForRead("3_9.t.done").get()), "3_9.t");
}

}  // namespace
}  // namespace tpkg
