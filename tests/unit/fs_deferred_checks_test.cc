// The mount over a reader with deferred record checks (the daemon's): a
// record whose local header is wrong is listed and stat'ed from the central
// directory, its open and reads fail with EIO and a logged reason, the other
// records work, a save refuses to copy it, and a session that changes
// nothing never makes the journal.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fs_ops.h"
#include "journal_fs_ops.h"
#include "log.h"
#include "scratch_dir.h"
#include "tpkg/error.h"
#include "tpkg/journal.h"
#include "tpkg/write_back.h"

namespace tpkg::fs {
namespace {

// A journal made at the first change (field by field: GCC 12 warns on
// designated initializers that leave fields out).
JournalOptions LazyJournal() {
  JournalOptions options;
  options.create_at_first_change = true;
  return options;
}

using testing::ScratchDir;

constexpr ZipReaderOptions kDeferred{.defer_record_checks = true};

// Sets the 16-bit field at `at` of the local header of `full_name` (its first occurrence).
void PatchLocal16(std::string& bytes, const std::string& full_name, size_t at, uint16_t value) {
  const size_t header = bytes.find(full_name) - 30;
  bytes[header + at] = static_cast<char>(value & 0xff);
  bytes[header + at + 1] = static_cast<char>(value >> 8);
}

// Error lines the daemon logs while it lives (the log mirror sees each one).
class LoggedErrors {
 public:
  LoggedErrors() {
    SetLogMirror([this](LogLevel, const std::string& line) {
      std::lock_guard lock(mu_);
      lines_.push_back(line);
    });
  }
  ~LoggedErrors() { SetLogMirror(nullptr); }
  std::string All() {
    std::lock_guard lock(mu_);
    std::string all;
    for (const std::string& l : lines_) all += l + "\n";
    return all;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

class DeferredMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::MakeArchive(archive_, {{".data/version", "6\n"},
                                    {"pkg/good.py", "x = 1\n"},
                                    {"pkg/bad.py", "y = 2\n"},
                                    {"pkg/other.py", "z = 3\n"}});
    std::string bytes = testing::ReadFile(archive_);
    // The local header's compression method: deflate, where the central
    // directory says stored.
    PatchLocal16(bytes, "sample/pkg/bad.py", 8, 8);
    testing::WriteFile(archive_, bytes);
    zip_ = std::make_shared<const ZipReader>(ZipReader::Open(archive_, kDeferred));
  }

  InodeId Lookup(auto& ops, InodeId dir, const std::string& name, struct stat* st) {
    EXPECT_EQ(ops.Lookup(dir, name, st), 0) << name;
    return st->st_ino;
  }

  ScratchDir dir_;
  std::string archive_ = dir_ / "sample.pt";
  std::shared_ptr<const ZipReader> zip_;
  const std::string reason_ = "record 'sample/pkg/bad.py': local header disagrees with the "
                              "central directory (compression method)";
};

TEST_F(DeferredMountTest, ReadOnlyViewListsAndStatsTheBadRecordButNeverServesIt) {
  EXPECT_THROW(ZipReader::Open(archive_), Error) << "an eager open refuses the archive";
  LoggedErrors log;
  FsOps ops(zip_, FsOptions{123, 456});
  struct stat st;
  const InodeId pkg = Lookup(ops, kRootInode, "pkg", &st);
  const InodeId bad = Lookup(ops, pkg, "bad.py", &st);
  EXPECT_EQ(st.st_size, 6);
  ASSERT_EQ(ops.GetAttr(bad, &st), 0);
  EXPECT_EQ(st.st_size, 6);
  std::vector<std::string> names;
  ASSERT_EQ(ops.ReadDir(pkg, 0, /*plus=*/true,
                        [&](const DirEntry& e) {
                          names.emplace_back(e.name);
                          return true;
                        }),
            0);
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "bad.py", "good.py", "other.py"}));
  std::string value;
  EXPECT_EQ(ops.GetXattr(bad, "security.selinux", &value), -ENODATA);  // what ls -l asks
  EXPECT_EQ(log.All(), "") << "nothing read so far";
  EXPECT_EQ(ops.Open(bad, O_RDONLY), -EIO);
  char buf[16];
  EXPECT_EQ(ops.Read(bad, 0, buf), -EIO);
  EXPECT_EQ(ops.Read(bad, 0, buf), -EIO) << "every time";
  EXPECT_NE(log.All().find("Cannot open 'sample/pkg/bad.py': " + archive_ + ": " + reason_),
            std::string::npos)
      << log.All();
  EXPECT_NE(log.All().find("Cannot read 'sample/pkg/bad.py'"), std::string::npos) << log.All();
  const InodeId good = Lookup(ops, pkg, "good.py", &st);
  EXPECT_EQ(ops.Open(good, O_RDONLY), 0);
  ASSERT_EQ(ops.Read(good, 0, buf), 6);
  EXPECT_EQ(std::string(buf, 6), "x = 1\n");
}

TEST_F(DeferredMountTest, ReadWriteViewFailsTheOpenAndTheSaveButNotTheRest) {
  const std::string journal_dir = Journal::DirectoryFor(archive_);
  Journal journal =
      Journal::OpenOrCreate(archive_, *zip_, LazyJournal());
  LoggedErrors log;
  {
    JournalFsOps ops(zip_, journal, FsOptions{getuid(), getgid()});
    struct stat st;
    const InodeId pkg = Lookup(ops, kRootInode, "pkg", &st);
    const InodeId bad = Lookup(ops, pkg, "bad.py", &st);
    EXPECT_EQ(st.st_size, 6);
    uint64_t fh = 0;
    EXPECT_EQ(ops.Open(bad, O_RDONLY, &fh), -EIO);
    EXPECT_EQ(ops.Open(bad, O_RDWR, &fh), -EIO) << "a write would copy it";
    EXPECT_NE(log.All().find("Cannot open 'sample/pkg/bad.py': " + archive_ + ": " + reason_),
              std::string::npos)
        << log.All();
    const InodeId good = Lookup(ops, pkg, "good.py", &st);
    ASSERT_EQ(ops.Open(good, O_RDONLY, &fh), 0);
    char buf[16];
    ASSERT_EQ(ops.Read(fh, 0, buf), 6);
    ops.Release(fh);
    struct stat no;
    EXPECT_NE(::stat(journal_dir.c_str(), &no), 0) << "reads never make the journal";
    ASSERT_EQ(ops.Open(good, O_WRONLY, &fh), 0);
    ASSERT_EQ(ops.Write(fh, 0, std::span<const char>("w", 1)), 1);
    ops.Release(fh);
    EXPECT_EQ(::stat(journal_dir.c_str(), &no), 0) << "the first change made it";
  }
  // The save copies the unchanged records raw, and refuses the bad one.
  try {
    WriteBack(journal, {});
    FAIL() << "saved";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(reason_), std::string::npos) << e.what();
  }
}

TEST_F(DeferredMountTest, ASessionThatChangesNothingNeverMakesTheJournal) {
  const std::string journal_dir = Journal::DirectoryFor(archive_);
  {
    Journal journal =
        Journal::OpenOrCreate(archive_, *zip_, LazyJournal());
    EXPECT_FALSE(journal.dirty());
    EXPECT_TRUE(journal.committed());
    journal.Commit();  // fsyncdir(2) of the mount: nothing to sync
    journal.Drop();
  }
  struct stat st;
  EXPECT_NE(::stat(journal_dir.c_str(), &st), 0);
}

}  // namespace
}  // namespace tpkg::fs
