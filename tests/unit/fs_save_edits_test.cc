// The save at unmount records every outcome in the save log beside the
// archive: saved, nothing changed, failed with every reason and the advice.
#include "save_edits.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include "analysis_warmer.h"
#include "save_advice.h"
#include "scratch_dir.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/save_log.h"

namespace tpkg::fs {
namespace {

using tpkg::testing::MakeArchive;
using tpkg::testing::ReadFile;
using tpkg::testing::SamplePackage;
using tpkg::testing::ScratchDir;

class SaveEditsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    archive_ = dir_ / "model.pt";
    tpkg::testing::Records records = SamplePackage();
    for (auto& [name, bytes] : records) {
      if (name == "model/model.pkl") bytes = std::string("\x80\x03K\x01.", 5);  // the int 1
    }
    MakeArchive(archive_, records);
    ASSERT_EQ(::chmod(archive_.c_str(), 0640), 0);
    zip_.emplace(ZipReader::Open(archive_));
    journal_.emplace(Journal::OpenOrCreate(archive_, *zip_));
  }
  void Edit(const std::string& record, const std::string& text) {
    ScopedFd fd = journal_->OpenForWrite(record, /*truncate=*/true);
    ASSERT_EQ(::pwrite(fd.get(), text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
  }
  std::vector<SaveLogEntry> Log() { return ReadSaveLog(SaveLogPathFor(archive_)); }

  ScratchDir dir_;
  std::string archive_;
  std::optional<ZipReader> zip_;
  std::optional<Journal> journal_;
};

TEST_F(SaveEditsTest, ASavedArchiveIsLoggedWithItsSummary) {
  Edit("pkg/code.py", "x = 2\n");
  EXPECT_EQ(SaveEdits(*journal_), 0);
  const std::vector<SaveLogEntry> log = Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].kind, SaveLogKind::kSaved);
  EXPECT_EQ(log[0].pid, ::getpid());
  EXPECT_EQ(log[0].archive, archive_);
  ASSERT_EQ(log[0].details.size(), 1u);
  EXPECT_TRUE(log[0].details[0].starts_with("saved " + archive_ + ": 1 record from the journal"))
      << log[0].details[0];
  struct stat st;
  ASSERT_EQ(::stat(SaveLogPathFor(archive_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0027, 0u)
      << std::oct << st.st_mode << ": the log is no more open than the 0640 archive";
  EXPECT_FALSE(PendingSaveFailure(archive_));
}

TEST_F(SaveEditsTest, NothingChangedIsLoggedToo) {
  EXPECT_EQ(SaveEdits(*journal_), 0);
  const std::vector<SaveLogEntry> log = Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].kind, SaveLogKind::kUnchanged);
  EXPECT_EQ(log[0].details,
            std::vector<std::string>{"no changes; " + archive_ + " left untouched"});
}

TEST_F(SaveEditsTest, AFailedSaveLogsEveryReasonAndTheAdvice) {
  const std::string before = ReadFile(archive_);
  Edit("pkg/code.py", "x = 1\nfrom .sub import\n");
  EXPECT_EQ(SaveEdits(*journal_), 1);
  EXPECT_EQ(ReadFile(archive_), before);
  const std::vector<SaveLogEntry> log = Log();
  ASSERT_EQ(log.size(), 1u);
  const SaveLogEntry& e = log[0];
  EXPECT_EQ(e.kind, SaveLogKind::kFailed);
  ASSERT_GE(e.details.size(), 3u);
  EXPECT_EQ(e.details[0], "Cannot save " + archive_ + ": the package would no longer load:");
  std::string all;
  for (const std::string& line : e.details) all += line + "\n";
  EXPECT_NE(all.find("pkg.code"), std::string::npos) << all;
  EXPECT_NE(all.find("invalid syntax"), std::string::npos) << all;
  const std::string journal = Journal::DirectoryFor(archive_);
  EXPECT_EQ(e.details.back(), "the edits are kept in " + journal + ": mount " + archive_ +
                                  " again to fix them (the next unmount saves them), or delete " +
                                  journal + " to discard them");
  const std::optional<SaveLogEntry> pending = PendingSaveFailure(archive_);
  ASSERT_TRUE(pending);
  EXPECT_NE(DescribeSaveFailure(*pending).find("invalid syntax"), std::string::npos);
}

// An archive replaced while mounted: the save refuses, and mounting the path
// again would not take the edits (the journal belongs to the other archive),
// so the advice says what does.
class ReplacedArchiveTest : public SaveEditsTest {
 protected:
  // Puts another archive at archive_ by rename, as `mv new.pt model.pt` does.
  void ReplaceArchive() {
    tpkg::testing::Records records = SamplePackage();
    records.emplace_back("notes/extra.txt", "another archive\n");
    MakeArchive(dir_ / "new.pt", records);
    ASSERT_EQ(::rename((dir_ / "new.pt").c_str(), archive_.c_str()), 0);
  }
  std::string Advice() {
    const std::vector<SaveLogEntry> log = Log();
    EXPECT_EQ(log.size(), 1u);
    EXPECT_EQ(log.back().kind, SaveLogKind::kFailed);
    EXPECT_NE(log.back().details[0].find("replaced by another file"), std::string::npos);
    return log.back().details.back();
  }
  std::string Tail(const std::string& put_back) {
    const std::string journal = Journal::DirectoryFor(archive_);
    return "the edits are kept in " + journal + ", but " + archive_ +
           " is now another archive, which a mount shows read-only while they are there; to "
           "keep them, move " +
           archive_ + " aside and put " + put_back + " back at " + archive_ + ", then mount " +
           archive_ + " again (the next unmount saves them); or delete " + journal +
           " to discard them and use " + archive_ + " as it is";
  }
};

TEST_F(ReplacedArchiveTest, NamesWhereTheOriginalIsAndThatAdviceWorks) {
  Edit("pkg/code.py", "x = 2\n");
  ASSERT_EQ(::link(archive_.c_str(), (dir_ / "old.pt").c_str()), 0);
  ReplaceArchive();
  EXPECT_EQ(SaveEdits(*journal_), 1);
  EXPECT_EQ(Advice(), Tail(dir_ / "old.pt" + " (the archive they were made for)"));
  // As the advice says: the original back at the path, and the edits are taken.
  journal_.reset();
  zip_.reset();
  ASSERT_EQ(::rename(archive_.c_str(), (dir_ / "aside.pt").c_str()), 0);
  ASSERT_EQ(::rename((dir_ / "old.pt").c_str(), archive_.c_str()), 0);
  const ZipReader zip = ZipReader::Open(archive_);
  Journal journal = Journal::OpenOrCreate(archive_, zip);
  EXPECT_TRUE(journal.dirty());
  EXPECT_EQ(SaveEdits(journal), 0);
  const ZipReader saved = ZipReader::Open(archive_);
  EXPECT_EQ(saved.ReadAll(*saved.Find("pkg/code.py")), "x = 2\n");
}

TEST_F(ReplacedArchiveTest, AnOriginalOnlyTheDaemonStillHasIsWrittenBesideAndNamed) {
  // `mv new.pt model.pt`: the original has no name left, and would go with
  // the daemon's file; the failed save writes it beside the new file.
  const std::string original = ReadFile(archive_);
  Edit("pkg/code.py", "x = 2\n");
  ReplaceArchive();
  EXPECT_EQ(SaveEdits(*journal_), 1);
  const std::string kept = archive_ + ".tpkgfs-original";
  EXPECT_EQ(Advice(), Tail(kept + " (the archive they were made for, written there when the save "
                                  "failed)"));
  EXPECT_TRUE(ReadFile(kept) == original);
  const std::vector<SaveLogEntry> log = Log();
  EXPECT_NE(std::find(log.back().details.begin(), log.back().details.end(),
                      "'" + archive_ +
                          "' was deleted while it was mounted; the archive as it was "
                          "is now at " +
                          kept),
            log.back().details.end());
}

TEST_F(ReplacedArchiveTest, AnOriginalWithANameElsewhereIsNamedByItsInode) {
  Edit("pkg/code.py", "x = 2\n");
  ScratchDir elsewhere;
  ASSERT_EQ(::link(archive_.c_str(), (elsewhere / "kept.pt").c_str()), 0);
  struct stat st;
  ASSERT_EQ(::stat(archive_.c_str(), &st), 0);
  ReplaceArchive();
  EXPECT_EQ(SaveEdits(*journal_), 1);
  EXPECT_EQ(Advice(), Tail("the archive they were made for (it has another name now, inode " +
                           std::to_string(st.st_ino) + ")"));
}

TEST_F(ReplacedArchiveTest, TheSameBytesAgainAreNoChange) {
  // A copy of the same archive (new inode and time): the journal still fits
  // it, and the save replaces it, as a mount of it would take the edits.
  Edit("pkg/code.py", "x = 2\n");
  const std::string bytes = ReadFile(archive_);
  tpkg::testing::WriteFile(dir_ / "copy.pt", bytes);
  ASSERT_EQ(::rename((dir_ / "copy.pt").c_str(), archive_.c_str()), 0);
  EXPECT_EQ(SaveEdits(*journal_), 0);
  const std::vector<SaveLogEntry> log = Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].kind, SaveLogKind::kSaved);
  EXPECT_NE(ReadFile(archive_).find("x = 2\n"), std::string::npos);
}

TEST_F(ReplacedArchiveTest, AnArchiveRenamedAwaySaysWhereItIsAndToPutItBack) {
  Edit("pkg/code.py", "x = 2\n");
  ASSERT_EQ(::rename(archive_.c_str(), (dir_ / "old.pt").c_str()), 0);  // mv model.pt old.pt
  EXPECT_EQ(journal_->JudgeArchiveNow(), Journal::ArchiveNow::kMissing);
  EXPECT_EQ(SaveEdits(*journal_), 1);
  const std::vector<SaveLogEntry> log = Log();
  ASSERT_EQ(log.size(), 1u);
  const std::string journal = Journal::DirectoryFor(archive_);
  EXPECT_EQ(log.back().details.back(),
            "the edits are kept in " + journal + ", but there is no " + archive_ +
                " any more; to keep them, put " + (dir_ / "old.pt") +
                " (the archive they were made for) back at " + archive_ + ", then mount " +
                archive_ + " again (the next unmount saves them); or delete " + journal +
                " to discard them");
  // As the advice says.
  journal_.reset();
  zip_.reset();
  ASSERT_EQ(::rename((dir_ / "old.pt").c_str(), archive_.c_str()), 0);
  const ZipReader zip = ZipReader::Open(archive_);
  EXPECT_TRUE(Journal::OpenOrCreate(archive_, zip).dirty());
}

// A step after the rename failed (the directory's fsync, say): the archive in
// place is the saved one, and the next mount drops the journal as done.
TEST_F(ReplacedArchiveTest, AfterTheRenameTheAdviceSaysTheSaveIsDone) {
  Edit("pkg/code.py", "x = 2\n");
  tpkg::testing::Records records = SamplePackage();
  records.emplace_back("notes/extra.txt", "the saved archive\n");
  MakeArchive(dir_ / "saved.pt", records);
  journal_->MarkCommitting(ZipReader::Open(dir_ / "saved.pt"));
  ASSERT_EQ(::rename((dir_ / "saved.pt").c_str(), archive_.c_str()), 0);
  EXPECT_EQ(journal_->JudgeArchiveNow(), Journal::ArchiveNow::kSaveCompleted);
  const std::string journal = Journal::DirectoryFor(archive_);
  EXPECT_EQ(KeptEditsAdvice(*journal_),
            archive_ +
                " is the saved archive (the step that failed came after it was in "
                "place): the next mount of it removes " +
                journal);
  // The file the journal opened has no name left here either, yet it is no
  // deleted archive to write back: the failed save leaves nothing beside.
  EXPECT_EQ(SaveEdits(*journal_), 1);
  EXPECT_FALSE(tpkg::testing::PathExists(archive_ + ".tpkgfs-original"));
  journal_.reset();
  zip_.reset();
  const ZipReader zip = ZipReader::Open(archive_);
  EXPECT_FALSE(Journal::OpenOrCreate(archive_, zip).dirty());  // the edits went with it
}

// The mount's analysis cache (filled by the background analysis after the
// first change) changes what the save scans, never what it writes.
TEST_F(SaveEditsTest, ASaveWithTheMountsAnalysisCacheWritesTheSameArchive) {
  const std::string plain_copy = dir_ / "copy.pt";  // saved without a cache
  tpkg::testing::WriteFile(plain_copy, ReadFile(archive_));
  ZipReader copy_zip = ZipReader::Open(plain_copy);
  Journal copy_journal = Journal::OpenOrCreate(plain_copy, copy_zip);

  const auto cache = std::make_shared<RecordAnalysisCache>();
  {
    AnalysisWarmer warmer(journal_->original(), cache);
    warmer.Start();
    warmer.Start();  // once
  }  // joined: stopped at once or done, the save is the same either way
  const std::atomic<bool> stop{false};
  WarmAnalysisCache(journal_->original(), *cache, stop);  // whatever the thread had not reached
  ASSERT_EQ(cache->size(), 5u);  // the pickle, the three sources, notes/readme.txt
  const std::string text = "import pkg.sub.deep\nimport json\n";
  Edit("pkg/code.py", text);
  {
    ScopedFd fd = copy_journal.OpenForWrite("pkg/code.py", /*truncate=*/true);
    ASSERT_EQ(::pwrite(fd.get(), text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
  }
  const uint64_t hits = cache->hits();
  EXPECT_EQ(SaveEdits(*journal_, cache), 0);
  EXPECT_EQ(cache->hits() - hits, 4u);  // every record but the edited one
  EXPECT_EQ(SaveEdits(copy_journal), 0);
  const std::string saved = ReadFile(archive_);
  EXPECT_EQ(saved, ReadFile(plain_copy));
  EXPECT_NE(saved.find("json"), std::string::npos);  // the new extern is in the metadata
}

}  // namespace
}  // namespace tpkg::fs
