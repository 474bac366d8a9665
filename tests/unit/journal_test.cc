// The journal, live operations: copy-on-write, truncation, the POSIX errno
// of each refused operation, attributes, data files and concurrent callers.
// (Recovery, identity and locking: journal_recovery_test.cc.)
#include "tpkg/journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>
#include <tuple>
#include <vector>

#include "journal_fixture.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

using testing::ErrnoOf;
using testing::JournalTest;
using testing::PathExists;
using testing::ReadFd;
using testing::ReadFile;
using testing::WriteFd;
using testing::WriteFile;

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
      {"mkdir __pycache__", [&] { j.Mkdir("pkg/__pycache__"); }, EPERM},
      {"create a .pyc", [&] { j.Create("pkg/code.cpython-311.pyc"); }, EPERM},
      {"rename into __pycache__", [&] { j.Rename("empty", "pkg/__pycache__"); }, EPERM},
      {"rename to a .pyc", [&] { j.Rename("pkg/code.py", "pkg/code.pyc"); }, EPERM},
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

TEST_F(JournalTest, PendingEditsNameWhatDiffersFromTheArchive) {
  EXPECT_FALSE(Journal::OpenExisting(archive_, *zip_).has_value());
  EXPECT_FALSE(PathExists(journal_dir()));  // looking created nothing
  {
    Journal j = Open();
    EXPECT_TRUE(j.PendingEdits().empty());
    WriteFd(j.OpenForWrite("pkg/code.py", true).get(), "x = 2\n");
    WriteFd(j.Create("pkg/new.py").get(), "y = 1\n");
    j.Rename("notes/readme.txt", "notes/README");
    j.Unlink("pkg/__init__.py");
  }
  std::optional<Journal> j = Journal::OpenExisting(archive_, *zip_);
  ASSERT_TRUE(j.has_value());
  using Kind = Journal::PendingEdit::Kind;
  std::vector<std::tuple<Kind, std::string, std::string>> got;
  for (const Journal::PendingEdit& e : j->PendingEdits()) got.emplace_back(e.kind, e.path, e.from);
  const std::vector<std::tuple<Kind, std::string, std::string>> expected = {
      {Kind::kRenamed, "notes/README", "notes/readme.txt"},
      {Kind::kWritten, "pkg/code.py", ""},
      {Kind::kAdded, "pkg/new.py", ""},
      {Kind::kDeleted, "pkg/__init__.py", ""},
  };
  EXPECT_EQ(got, expected);
  j->Drop();
  EXPECT_FALSE(PathExists(journal_dir()));
}

// FileNames() is Files() without the nodes: every file's path, sorted.
TEST_F(JournalTest, FileNamesAreThePathsOfFiles) {
  Journal j = Open();
  WriteFd(j.Create("pkg/new.py").get(), "y = 1\n");
  j.Rename("notes/readme.txt", "a.txt");
  j.Unlink("pkg/__init__.py");
  std::vector<std::string> paths;
  for (const auto& [path, node] : j.Files()) paths.push_back(path);
  EXPECT_EQ(j.FileNames(), paths);
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end()));
  EXPECT_NE(std::find(paths.begin(), paths.end(), "a.txt"), paths.end());
  EXPECT_EQ(std::find(paths.begin(), paths.end(), "pkg/__init__.py"), paths.end());
  j.Drop();
}

// Modes and mtimes are saved since tpkgfs keeps them in the archive (they
// make the journal dirty); an atime is not.
TEST_F(JournalTest, ModesAndMtimesMakeItDirtyAtimesDoNot) {
  Journal j = Open();
  j.SetAtime("pkg/code.py", timespec{5, 0});
  EXPECT_FALSE(j.dirty());
  j.SetMode("pkg/code.py", 0755u);
  EXPECT_TRUE(j.dirty());
  EXPECT_EQ(j.Stat("pkg/code.py")->mode, 0755u);
}

// An owner (chown) is no change of the archive, which holds none, but lasts
// as long as the journal: a replay gives it back.
TEST_F(JournalTest, OwnersAreKeptByTheJournalNotTheArchive) {
  {
    Journal j = Open();
    j.SetOwner("pkg/code.py", JournalOwner{4321, 8765});
    EXPECT_FALSE(j.dirty());
    EXPECT_EQ(j.Stat("pkg/code.py")->uid, std::optional<uint32_t>(4321));
    j.SetOwner("notes", JournalOwner{1, 2});
    j.SetOwner("notes", std::nullopt);  // back to the mount's owner
    EXPECT_EQ(j.Stat("notes")->uid, std::nullopt);
    j.SetMode("pkg/code.py", 0700u);  // a change the journal is kept for
  }
  Journal j = Open();
  EXPECT_EQ(j.Stat("pkg/code.py")->uid, std::optional<uint32_t>(4321));
  EXPECT_EQ(j.Stat("pkg/code.py")->gid, std::optional<uint32_t>(8765));
  EXPECT_EQ(j.Stat("notes")->gid, std::nullopt);
  EXPECT_THROW(j.SetOwner("no/such.py", std::nullopt), Error);
  j.Drop();
}

TEST_F(JournalTest, MtimeOfAnEditedFileIsItsDataFiles) {
  Journal j = Open();
  j.OpenForWrite("pkg/code.py", false);
  j.SetMtime("pkg/code.py", timespec{4242, 0});
  EXPECT_EQ(j.Stat("pkg/code.py")->mtime->tv_sec, 4242);
}

// (The data file goes once the unlink is committed: journal_commit_test.cc.)
TEST_F(JournalTest, UnlinkedDataIsDeletedOnceCommitted) {
  Journal j = Open();
  j.Create("tmp.txt");
  ASSERT_TRUE(PathExists(journal_dir() + "/data/1"));
  j.Unlink("tmp.txt");
  j.Commit();
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
