// Write-back, when a save must not happen or is interrupted: validation
// failures, another program's change, a full or read-only filesystem, an
// immutable directory, and SIGKILL at every stage (a large archive in the
// slow tier). The archive and the journal must stay intact.
#include "tpkg/write_back.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "slow_tier.h"
#include "tpkg/error.h"
#include "write_back_fixture.h"

namespace tpkg {
namespace {

using testing::MakeArchive;
using testing::PathExists;
using testing::ReadFile;
using testing::SamplePackage;
using testing::WriteBackTest;
using testing::WriteFd;
using testing::WriteFile;

uint32_t FileCrc(const std::string& path) {
  const std::string bytes = ReadFile(path);
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

TEST_F(WriteBackTest, ValidationFailureKeepsArchiveAndJournal) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  WriteBackOptions options;
  options.validate = [](const std::string& temp) {
    EXPECT_TRUE(PathExists(temp));
    throw Error(Errc::kPolicy, "the package would not load: boom");
  };
  try {
    WriteBack(j, {}, options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "Cannot save " + archive_ + ": the package would not load: boom");
    EXPECT_EQ(e.code(), Errc::kPolicy);
  }
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_TRUE(j.dirty());
  EXPECT_TRUE(j.Stat("pkg/new.py"));
  // A later attempt (e.g. after fixing the problem) still works.
  EXPECT_TRUE(WriteBack(j, {}).written);
}

// The records before the metadata are fsynced early, on a thread of their
// own (base/background_fsync.h). A disk error there must fail the save: the
// kernel reports a writeback error once per open file, so the last fsync
// could then succeed and the rename put a damaged archive in place. (The
// error is made by the system call's stand-in: a real one cannot be had on
// demand.)
TEST_F(WriteBackTest, AFailedEarlyFsyncFailsTheSave) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  WriteBackOptions options;
  int calls = 0;
  options.early_fsync = [&calls](int) {
    ++calls;
    errno = EIO;
    return -1;
  };
  try {
    WriteBack(j, {}, options);
    FAIL() << "saved";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "Cannot save " + archive_ + ": Cannot fsync '" +
                                         journal_dir() + "/save.tmp': Input/output error")
        << e.what();
  }
  EXPECT_EQ(calls, 1);
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_TRUE(j.dirty());
  EXPECT_TRUE(j.Stat("pkg/new.py"));
  EXPECT_TRUE(WriteBack(j, {}).written);  // the disk well again: the edits are saved
}

TEST_F(WriteBackTest, ArchiveChangedByAnotherProgramIsNotOverwritten) {
  struct Row {
    const char* what;
    std::function<void(const std::string&)> change;
  };
  const Row rows[] = {
      {"replaced by rename",
       [this](const std::string& other) { ASSERT_EQ(rename(other.c_str(), archive_.c_str()), 0); }},
      {"rewritten in place",
       [this](const std::string& other) { WriteFile(archive_, ReadFile(other)); }},
  };
  // Before the save, or between its last check and the rename (after the
  // commit entry): the rename exchanges the two files and puts theirs back.
  for (const bool during_save : {false, true}) {
    for (const Row& row : rows) {
      const std::string what = std::string(row.what) + (during_save ? " during the save" : "");
      UseArchive(dir_.path(), SamplePackage());
      Journal j = Open();
      EditSession(j);
      const std::string other = dir_ / "other.pt";
      MakeArchive(other, {{"theirs.txt", "someone else's change"}});
      const std::string theirs = ReadFile(other);
      WriteBackOptions options;
      if (during_save) {
        options.on_stage = [&](WriteBackStage stage) {
          if (stage == WriteBackStage::kCommitted) row.change(other);
        };
      } else {
        row.change(other);
      }
      try {
        WriteBack(j, {}, options);
        ADD_FAILURE() << what << ": saved over another program's change";
      } catch (const Error& e) {
        EXPECT_EQ(ToErrno(e), ESTALE) << what;
        EXPECT_NE(std::string(e.what()).find("was changed by another program"), std::string::npos)
            << e.what();
      }
      EXPECT_TRUE(ReadFile(archive_) == theirs) << what;
      EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp")) << what;
      EXPECT_TRUE(j.Stat("pkg/new.py")) << what;
      j.Drop();
    }
  }
}

// Another time or inode alone is no change: the archive is judged as the
// journal's open judges it (size and central directory), so the save goes on.
TEST_F(WriteBackTest, ArchiveTouchedOrCopiedOverWithTheSameBytesIsSaved) {
  struct Row {
    const char* what;
    std::function<void()> change;
  };
  const Row rows[] = {
      {"touched", [this] { ASSERT_EQ(utimensat(AT_FDCWD, archive_.c_str(), nullptr, 0), 0); }},
      {"replaced by a copy of itself",
       [this] {
         const std::string copy = dir_ / "copy.pt";
         WriteFile(copy, ReadFile(archive_));
         ASSERT_EQ(rename(copy.c_str(), archive_.c_str()), 0);
       }},
  };
  for (const Row& row : rows) {
    UseArchive(dir_.path(), SamplePackage());
    Journal j = Open();
    EditSession(j);
    row.change();
    EXPECT_TRUE(WriteBack(j, {}).written) << row.what;
    EXPECT_NE(ReadFile(archive_).find("pkg/new.py"), std::string::npos) << row.what;
  }
}

// Deleted while open: the journal's file is the archive's last copy, and the
// save puts the package with the edits back, saying so; a file that takes
// the path meanwhile is never replaced, and a file that moved away is not
// followed (the advice names its new name).
TEST_F(WriteBackTest, ArchiveDeletedWhileOpenIsPutBackWithTheEdits) {
  Journal j = Open();
  EditSession(j);
  ASSERT_EQ(unlink(archive_.c_str()), 0);
  const WriteBackResult result = WriteBack(j, {});
  EXPECT_TRUE(result.written);
  EXPECT_NE(result.summary.find("was deleted while it was mounted: the save put the package"),
            std::string::npos)
      << result.summary;
  EXPECT_NE(ReadFile(archive_).find("pkg/new.py"), std::string::npos);
  EXPECT_FALSE(PathExists(journal_dir()));

  UseArchive(dir_.path(), SamplePackage());
  const std::string original = ReadFile(archive_);
  Journal again = Open();
  EditSession(again);
  ASSERT_EQ(unlink(archive_.c_str()), 0);
  WriteBackOptions options;
  options.on_stage = [this](WriteBackStage stage) {
    if (stage == WriteBackStage::kCommitted) WriteFile(archive_, "someone's new file");
  };
  EXPECT_THROW(
      {
        try {
          WriteBack(again, {}, options);
        } catch (const Error& e) {
          EXPECT_EQ(ToErrno(e), ESTALE);
          // A file there when the save renames: as any file replacing the archive.
          EXPECT_NE(std::string(e.what()).find("was changed by another program"), std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
  EXPECT_EQ(ReadFile(archive_), "someone's new file");
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  // The failed save's last copy of the archive the edits were made for is
  // written beside the file that took its place (the daemon does so, with
  // advice: save_edits.h), and at its own path when that is free.
  EXPECT_EQ(again.KeepDeletedArchive(), std::optional<std::string>(archive_ + ".tpkgfs-original"));
  EXPECT_TRUE(ReadFile(archive_ + ".tpkgfs-original") == original);
  ASSERT_EQ(unlink(archive_.c_str()), 0);
  EXPECT_EQ(again.KeepDeletedArchive(), std::optional<std::string>(archive_));
  EXPECT_TRUE(ReadFile(archive_) == original);
  again.Drop();

  UseArchive(dir_.path(), SamplePackage());
  Journal moved = Open();
  EditSession(moved);
  const std::string elsewhere = dir_ / "elsewhere.pt";
  ASSERT_EQ(rename(archive_.c_str(), elsewhere.c_str()), 0);
  EXPECT_THROW(WriteBack(moved, {}), Error);
  EXPECT_FALSE(PathExists(archive_));
  moved.Drop();
}

// torch's case-insensitive lookup could not tell `CODE.py` from `code.py`:
// the journal refuses to make such a name (the save would refuse it too:
// the writer's NameRegistry, zip_names_test), and the save that follows
// writes what the journal holds.
TEST_F(WriteBackTest, NamesDifferingOnlyInCaseAreRefusedWhenMade) {
  Journal j = Open();
  try {
    j.Create("pkg/CODE.py");
    FAIL() << "a name differing only in case was made";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kPolicy);
    EXPECT_EQ(ToErrno(e), EEXIST);
    EXPECT_NE(std::string(e.what()).find("'pkg/code.py' differs from it only in case"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(j.Stat("pkg/CODE.py"));
  EXPECT_THROW(j.Mkdir("pkg/Code.PY"), Error);  // a folder beside a file of that name
  j.Mkdir("PKG");                               // beside the folder `pkg`: only whole names collide
  WriteFd(j.Create("pkg/other.py").get(), "y = 1\n");
  j.Rename("pkg/other.py", "pkg/OTHER.py");  // another case of itself: no pair
  EXPECT_NO_THROW(WriteBack(j, {}));
}

// A tmpfs mounted on a scratch directory; unmounted (lazily, so that a
// failing test cannot leave it behind) at destruction.
class ScopedTmpfs {
 public:
  ScopedTmpfs(const std::string& dir, const std::string& options) : dir_(dir) {
    mkdir(dir.c_str(), 0755);
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = strerror(errno);
    }
  }
  ~ScopedTmpfs() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  int Remount(unsigned long flags) {
    return mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | flags, nullptr);
  }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

// The save of `j`, which the check before it must refuse for want of room
// (ENOSPC) before anything is written: its message ("" when not refused).
std::string RefusedForSpaceBeforeWriting(Journal& j) {
  bool wrote = false;
  WriteBackOptions options;
  options.on_stage = [&](WriteBackStage) { wrote = true; };
  std::string what;
  try {
    WriteBack(j, {}, options);
    ADD_FAILURE() << "the save was not refused for want of room";
  } catch (const Error& e) {
    what = e.what();
    EXPECT_EQ(ToErrno(e), ENOSPC) << what;
  }
  EXPECT_FALSE(wrote);
  return what;
}

TEST_F(WriteBackTest, NoSpaceLeftKeepsArchiveAndJournal) {
  ScopedTmpfs fs(dir_ / "small", "size=1536k");
  if (!fs.mounted())
    GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << "); ENOSPC path not exercised";
  UseArchive(dir_ / "small",
             {{".data/0.storage", std::string(1 << 20, 's')}, {".data/version", "6\n"}});
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  WriteFd(j.Create("edit.py").get(), "print('kept')\n");
  try {
    WriteBack(j, {});
    FAIL() << "the save fit in a full filesystem";
  } catch (const Error& e) {
    EXPECT_EQ(ToErrno(e), ENOSPC) << e.what();
    EXPECT_NE(std::string(e.what()).find("Cannot save " + archive_ + ": "), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_EQ(testing::ReadFd(j.OpenForRead("edit.py").get()), "print('kept')\n");
}

TEST_F(WriteBackTest, NoSpaceLeftDuringTheWriteKeepsArchiveAndJournal) {
  ScopedTmpfs fs(dir_ / "small", "size=1536k");
  if (!fs.mounted())
    GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << "); ENOSPC path not exercised";
  UseArchive(dir_ / "small",
             {{".data/0.storage", std::string(1 << 20, 's')}, {".data/version", "6\n"}});
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  WriteFd(j.Create("edit.py").get(), "print('kept')\n");
  try {
    WriteBackOptions options;
    options.check_free_space = false;  // reach the write itself
    WriteBack(j, {}, options);
    FAIL() << "the save fit in a full filesystem";
  } catch (const Error& e) {
    EXPECT_EQ(ToErrno(e), ENOSPC) << e.what();
    EXPECT_NE(std::string(e.what()).find("Cannot save " + archive_ + ": "), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_EQ(testing::ReadFd(j.OpenForRead("edit.py").get()), "print('kept')\n");
}

// A journal made at the first change on a full disk: the change fails, and
// nothing of the attempt is left to look like a journal (a later change,
// with room again, makes it).
TEST_F(WriteBackTest, AJournalThatCannotBeMadeLeavesNothingBehind) {
  ScopedTmpfs fs(dir_ / "small", "size=1536k");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << ")";
  UseArchive(dir_ / "small", {{"notes.txt", "notes"}, {".data/version", "6\n"}});
  const std::string fill = dir_ / "small/fill";
  {
    const ScopedFd fd(::open(fill.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    const std::string block(4096, 'f');
    while (::write(fd.get(), block.data(), block.size()) > 0) {
    }
  }
  JournalOptions options;
  options.create_at_first_change = true;
  Journal j = Journal::OpenOrCreate(archive_, *zip_, options);
  try {
    j.Create("new.txt");
    FAIL() << "a journal was made on a full disk";
  } catch (const Error& e) {
    EXPECT_EQ(ToErrno(e), ENOSPC) << e.what();
  }
  EXPECT_FALSE(PathExists(journal_dir()));
  ASSERT_EQ(::unlink(fill.c_str()), 0);
  WriteFd(j.Create("new.txt").get(), "room again\n");
  EXPECT_TRUE(PathExists(journal_dir() + "/manifest"));
  j.Drop();
}

TEST_F(WriteBackTest, MissingFreeSpaceIsNamedBeforeAnythingIsWritten) {
  ScopedTmpfs fs(dir_ / "small", "size=1536k");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << ")";
  UseArchive(dir_ / "small",
             {{".data/0.storage", std::string(1 << 20, 's')}, {".data/version", "6\n"}});
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  WriteFd(j.Create("edit.py").get(), "print('kept')\n");
  const std::string what = RefusedForSpaceBeforeWriting(j);
  EXPECT_NE(what.find("Cannot save " + archive_ +
                      ": No space left on device: the new archive "
                      "needs up to 1.0 MiB ("),
            std::string::npos)
      << what;
  EXPECT_NE(what.find(".model.pt.tpkgfs' has "), std::string::npos) << what;
  EXPECT_NE(what.find("available; nothing was written"), std::string::npos) << what;
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_EQ(testing::ReadFd(j.OpenForRead("edit.py").get()), "print('kept')\n");
}

// Creates empty files in `dir` until its file system has no inode left.
void TakeEveryInode(const std::string& dir) {
  for (int i = 0;; ++i) {
    const std::string name = dir + "/f" + std::to_string(i);
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    ::close(fd);
  }
}

// No inode left, blocks to spare: `df` shows room, so the message says which.
TEST_F(WriteBackTest, NoFreeInodeIsNamedBeforeAnythingIsWritten) {
  ScopedTmpfs fs(dir_ / "few", "size=8m,nr_inodes=64");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << ")";
  UseArchive(dir_ / "few", {{"notes.txt", "notes"}, {".data/version", "6\n"}});
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  WriteFd(j.Create("edit.py").get(), "print('kept')\n");
  TakeEveryInode(dir_ / "few");
  const std::string what = RefusedForSpaceBeforeWriting(j);
  EXPECT_NE(what.find("' has no free inode (`df -i`) for the new archive, though "),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("available; nothing was written"), std::string::npos) << what;
  ExpectArchiveUnchanged(before);
  EXPECT_EQ(testing::ReadFd(j.OpenForRead("edit.py").get()), "print('kept')\n");
}

// An edit that needs a new journal file there fails as the kernel says
// (ENOSPC), and its message says that inodes, not blocks, ran out.
TEST_F(WriteBackTest, NoFreeInodeForANewEditIsNamed) {
  ScopedTmpfs fs(dir_ / "few", "size=8m,nr_inodes=64");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << ")";
  UseArchive(dir_ / "few", {{"notes.txt", "notes"}, {".data/version", "6\n"}});
  Journal j = Open();
  TakeEveryInode(dir_ / "few");
  try {
    j.Create("edit.py");
    FAIL() << "a journal file was made with no inode free";
  } catch (const Error& e) {
    EXPECT_EQ(ToErrno(e), ENOSPC) << e.what();
    EXPECT_NE(std::string(e.what()).find(
                  " (its file system has no free inode: `df -i`): No space left on device"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(j.Stat("edit.py").has_value());
}

// The kernel refuses to make a filesystem read-only while files on it are
// open for writing (the journal's), so EROFS is met when opening: the
// daemon then mounts read-only, and no write is accepted that would be lost.
TEST_F(WriteBackTest, ReadOnlyFilesystemRefusesAJournal) {
  ScopedTmpfs fs(dir_ / "ro", "size=8m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << ")";
  UseArchive(dir_ / "ro", SamplePackage());
  ASSERT_EQ(fs.Remount(MS_RDONLY), 0) << strerror(errno);
  try {
    Open();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(ToErrno(e), EROFS) << e.what();
    EXPECT_EQ(std::string(e.what()), "Cannot keep edits of '" + archive_ +
                                         "': the archive is not writable: Read-only file system");
  }
  EXPECT_FALSE(PathExists(journal_dir()));
}

TEST_F(WriteBackTest, ImmutableDirectoryKeepsArchiveAndJournal) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  const testing::ImmutableOutcome out =
      testing::WhileImmutable(dir_.path(), [&] { WriteBack(j, {}); });
  if (out.skipped) GTEST_SKIP() << out.message;
  EXPECT_EQ(out.message.rfind("Cannot save " + archive_ + ": Cannot rename", 0), 0u) << out.message;
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_TRUE(j.Stat("pkg/new.py"));
}

TEST_F(WriteBackTest, ImmutableDirectoryRefusesAJournalEvenWhenOneExists) {
  // The journal directory was made while the directory was writable; the
  // rename into place would now fail, so no new edit may be accepted.
  { WriteFd(Open().Create("pkg/new.py").get(), "import numpy\n"); }
  const testing::ImmutableOutcome out = testing::WhileImmutable(dir_.path(), [&] { Open(); });
  if (out.skipped) GTEST_SKIP() << out.message;
  EXPECT_EQ(out.err, EPERM) << out.message;
  EXPECT_EQ(out.message.rfind("Cannot keep edits of '" + archive_ + "': its directory", 0), 0u)
      << out.message;
  EXPECT_TRUE(Open().Stat("pkg/new.py")) << "the pending edit is still in the journal";
}

// Runs a write-back in a child that SIGKILLs itself at `stage`, running
// `meanwhile` at every stage before it.
void WriteBackKilledAt(const std::string& archive, WriteBackStage stage,
                       const std::function<void(WriteBackStage)>& meanwhile = {}) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      const ZipReader zip = ZipReader::Open(archive);
      Journal j = Journal::OpenOrCreate(archive, zip);
      WriteBackOptions options;
      options.on_stage = [stage, &meanwhile](WriteBackStage s) {
        if (meanwhile) meanwhile(s);
        if (s == stage) raise(SIGKILL);
      };
      WriteBack(j, {}, options);
    } catch (...) {
    }
    _exit(3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
}

TEST_F(WriteBackTest, CrashBeforeTheRenameKeepsTheOldArchiveAndTheEdits) {
  const std::string before = ReadFile(archive_);
  for (WriteBackStage stage : {WriteBackStage::kTempWritten, WriteBackStage::kCommitted}) {
    {
      Journal j = Open();
      if (!j.dirty()) EditSession(j);
    }
    WriteBackKilledAt(archive_, stage);
    ExpectArchiveUnchanged(before);
    Journal j = Open();
    EXPECT_TRUE(j.recovered());
    EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
    EXPECT_NE(j.recovery_summary().find("removed 1 unfinished temp file"), std::string::npos)
        << j.recovery_summary();
    EXPECT_TRUE(j.Stat("pkg/new.py"));
  }
}

TEST_F(WriteBackTest, CrashAfterTheRenameFinishesTheSaveAtNextOpen) {
  {
    Journal j = Open();
    EditSession(j);
  }
  WriteBackKilledAt(archive_, WriteBackStage::kRenamed);
  const ZipReader saved = ZipReader::Open(archive_);
  EXPECT_EQ(saved.ReadAll(*saved.Find("pkg/code.py")), "x = 2\n");
  Journal j = Journal::OpenOrCreate(archive_, saved);
  // The replaced archive, which the rename left in the journal folder.
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_FALSE(j.recovered());
  EXPECT_FALSE(j.dirty());
  EXPECT_NE(j.recovery_summary().find("removed the journal of a save of " + archive_ +
                                      " that had completed"),
            std::string::npos)
      << j.recovery_summary();
  EXPECT_FALSE(j.Stat("pkg/code.py")->edited());  // read from the new archive
}

// Killed between the exchange and the judgement of the file it took off the
// path: the next open finds the save complete, and keeps the file that was
// there beside the archive when it is not the archive the edits were made
// for (another program's, put there after the save's last check).
TEST_F(WriteBackTest, CrashRightAfterTheExchangeKeepsTheFileItTookOffThePath) {
  for (const bool foreign : {false, true}) {
    UseArchive(dir_.path(), SamplePackage());
    {
      Journal j = Open();
      EditSession(j);
    }
    const std::string other = dir_ / "other.pt";
    MakeArchive(other, {{"theirs.txt", "someone else's change"}});
    const std::string theirs = ReadFile(other);
    WriteBackKilledAt(archive_, WriteBackStage::kExchanged, [&](WriteBackStage s) {
      if (s == WriteBackStage::kCommitted && foreign) ::rename(other.c_str(), archive_.c_str());
    });
    const ZipReader saved = ZipReader::Open(archive_);
    EXPECT_TRUE(saved.Find("pkg/new.py")) << foreign;
    Journal j = Journal::OpenOrCreate(archive_, saved);
    EXPECT_NE(j.recovery_summary().find("that had completed"), std::string::npos);
    EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp")) << foreign;
    EXPECT_EQ(PathExists(archive_ + ".tpkgfs-displaced"), foreign);
    if (foreign) {
      EXPECT_TRUE(ReadFile(archive_ + ".tpkgfs-displaced") == theirs);
      EXPECT_NE(j.recovery_summary().find("moved " + archive_ + ".tpkgfs-displaced out of it"),
                std::string::npos)
          << j.recovery_summary();
      ASSERT_EQ(unlink((archive_ + ".tpkgfs-displaced").c_str()), 0);
    }
    j.Drop();
  }
}

// `tpkg info` asks without the lock (a mount may hold it) and changes nothing:
// the journal of a save that completed before its daemon removed it holds no
// edits; edits of a save killed before its rename still wait.
TEST_F(WriteBackTest, InspectJudgesTheJournalAsTheNextOpenDoes) {
  EXPECT_EQ(Journal::Inspect(archive_, ZipReader::Open(archive_)), Journal::Holds::kNoEdits);
  {
    Journal j = Open();
    EditSession(j);
    // Held by `j`, as by a mount: read all the same.
    EXPECT_EQ(Journal::Inspect(archive_, ZipReader::Open(archive_)), Journal::Holds::kEdits);
  }
  WriteBackKilledAt(archive_, WriteBackStage::kCommitted);
  EXPECT_EQ(Journal::Inspect(archive_, ZipReader::Open(archive_)), Journal::Holds::kEdits);
  WriteBackKilledAt(archive_, WriteBackStage::kRenamed);
  const ZipReader saved = ZipReader::Open(archive_);
  EXPECT_EQ(Journal::Inspect(archive_, saved), Journal::Holds::kNoEdits);
  Journal j = Journal::OpenOrCreate(archive_, saved);  // the journal was left as it was
  EXPECT_NE(j.recovery_summary().find("that had completed"), std::string::npos)
      << j.recovery_summary();
}

TEST_F(WriteBackTest, InspectNamesEditsMadeForAnotherVersionOfTheArchive) {
  {
    Journal j = Open();
    EditSession(j);
  }
  const std::string other = dir_ / "other.pt";
  MakeArchive(other, {{"theirs.txt", "someone else's change"}});
  WriteFile(archive_, ReadFile(other));
  EXPECT_EQ(Journal::Inspect(archive_, ZipReader::Open(archive_)),
            Journal::Holds::kEditsOfAnotherArchive);
}

// Journal::DropSaved does not sync the manifest's removal before the data
// files go: a power loss may then leave the manifest of a save without its
// data files. The next open must see a completed save, not a lost edit.
TEST_F(WriteBackTest, AManifestOfACompletedSaveNeedsNoDataFile) {
  {
    Journal j = Open();
    EditSession(j);
  }
  WriteBackKilledAt(archive_, WriteBackStage::kRenamed);
  size_t removed = 0;
  for (const auto& e : std::filesystem::directory_iterator(journal_dir() + "/data"))
    removed += std::filesystem::remove(e.path());
  ASSERT_GT(removed, 0u);
  const ZipReader saved = ZipReader::Open(archive_);
  Journal j = Journal::OpenOrCreate(archive_, saved);
  EXPECT_FALSE(j.recovered());
  EXPECT_FALSE(j.dirty());
  EXPECT_NE(j.recovery_summary().find("that had completed"), std::string::npos)
      << j.recovery_summary();
  EXPECT_EQ(j.recovery_summary().find("again"), std::string::npos) << j.recovery_summary();
  EXPECT_FALSE(j.Stat("pkg/code.py")->edited());  // read from the saved archive
  EXPECT_FALSE(j.Stat("pkg/new.py")->edited());
}

// What makes that safe: the commit names an identity the journal's own
// archive does not have. A save that only changes modes keeps the identity
// (its digest leaves modes and times out), so DropSaved must sync then.
TEST_F(WriteBackTest, OnlyACommitOfANewIdentitySkipsTheRemovalsSync) {
  for (const bool content : {true, false}) {
    {
      Journal j = Open();
      if (content) EditSession(j);
      j.SetMode("pkg/code.py", content ? 0700 : 0755);  // each a change
    }
    const ZipReader zip = ZipReader::Open(archive_);
    Journal j = Journal::OpenOrCreate(archive_, zip);
    std::optional<bool> new_identity;
    WriteBackOptions options;
    options.on_stage = [&](WriteBackStage s) {
      if (s == WriteBackStage::kCommitted) new_identity = j.CommitNamesNewIdentity();
    };
    const WriteBackResult result = WriteBack(j, {}, options);
    ASSERT_TRUE(result.written) << result.summary;
    ASSERT_TRUE(new_identity.has_value());
    EXPECT_EQ(*new_identity, content) << (content ? "content edited" : "mode only");
    zip_.emplace(ZipReader::Open(archive_));
  }
}

// An archive of `mib` MiB (one storage record, from a sparse file so that
// building it costs no RAM) plus a small source.
void MakeBigArchive(const std::string& path, const std::string& scratch, uint64_t mib) {
  const std::string sparse = scratch + "/sparse.bin";
  ScopedFd fd(open(sparse.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_EQ(ftruncate(fd.get(), static_cast<off_t>(mib << 20)), 0);
  WriteFd(fd.get(), "tensor bytes", 4096);
  ZipWriter w = ZipWriter::Create(path, PrefixForPath(path), true);
  w.AddRecordFromFd(".data/0.storage", fd.get(), 0, mib << 20);
  w.AddRecord("pkg/code.py", std::string_view("x = 1\n"));
  w.AddRecord(".data/version", std::string_view("6\n"));
  w.Finish();
  unlink(sparse.c_str());
}

// A SIGKILL while a write-back of a `mib` MiB archive is under way (once the
// temp archive holds a few MiB, or after the child is done).
class WriteBackKillTest : public WriteBackTest {
 protected:
  void KillDuringAWriteBackOf(uint64_t mib) {
    const off_t kill_after = std::min<off_t>(16 << 20, static_cast<off_t>(mib << 20) / 4);
    archive_ = dir_ / "big.pt";
    MakeBigArchive(archive_, dir_.path(), mib);
    zip_.emplace(ZipReader::Open(archive_));
    const uint32_t old_crc = FileCrc(archive_);
    {
      Journal j = Open();
      WriteFd(j.OpenForWrite("pkg/code.py", true).get(), "x = 2\n");
    }
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        const ZipReader zip = ZipReader::Open(archive_);
        Journal j = Journal::OpenOrCreate(archive_, zip);
        WriteBack(j, {});
      } catch (...) {
      }
      _exit(0);
    }
    // Kill once the temp archive is well under way (or the child is done).
    const std::string temp = journal_dir() + "/save.tmp";
    struct stat st {};
    while (waitpid(pid, nullptr, WNOHANG) == 0 &&
           !(stat(temp.c_str(), &st) == 0 && st.st_size > kill_after))
      usleep(500);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);

    const ZipReader after = ZipReader::Open(archive_);  // never corrupt
    if (FileCrc(archive_) != old_crc) {
      EXPECT_EQ(after.ReadAll(*after.Find("pkg/code.py")), "x = 2\n");  // the new one, complete
    }
    Journal j = Journal::OpenOrCreate(archive_, after);
    EXPECT_FALSE(PathExists(temp)) << "no leftover temp file after the next open";
    if (j.dirty()) {
      EXPECT_TRUE(WriteBack(j, {}).written);
      const ZipReader saved = ZipReader::Open(archive_);
      EXPECT_EQ(saved.ReadAll(*saved.Find("pkg/code.py")), "x = 2\n");
      EXPECT_EQ(saved.Find(".data/0.storage")->size, mib << 20);
    }
  }
};

TEST_F(WriteBackKillTest, KillDuringAWriteBackLeavesOldOrNewNeverCorrupt) {
  KillDuringAWriteBackOf(8);
}

TEST_F(WriteBackKillTest, KillDuringALargeWriteBackLeavesOldOrNewNeverCorrupt) {
  TPKG_SLOW_TIER_ONLY();
  KillDuringAWriteBackOf(2048);
}

}  // namespace
}  // namespace tpkg
