// Write-back with the metadata still being computed (PendingMetadata): the
// records before the metadata are written while the analysis runs, the
// archive is the one the computed metadata gives, and the analysis's error
// wins. (The plan's rules: write_back_test.cc.)
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "tpkg/error.h"
#include "tpkg/journal_records.h"
#include "tpkg/write_back.h"
#include "write_back_fixture.h"

namespace tpkg {
namespace {

using testing::MakeArchive;
using testing::PathExists;
using testing::ReadFile;
using testing::SamplePackage;
using testing::WriteBackTest;

class WriteBackPendingTest : public WriteBackTest {
 protected:
  using Edits = void (*)(Journal&);

  // The archive WriteBack(metadata) saves from `edits` on a copy of the
  // sample package (same prefix folder).
  std::string SavedWithKnownMetadata(const RegeneratedRecords& metadata,
                                     Edits edits = EditSession) {
    const std::string twin_dir = dir_ / "twin";
    EXPECT_EQ(mkdir(twin_dir.c_str(), 0755), 0);
    const std::string twin = twin_dir + "/model.pt";
    MakeArchive(twin, SamplePackage());
    const ZipReader zip = ZipReader::Open(twin);
    Journal j = Journal::OpenOrCreate(twin, zip);
    edits(j);
    EXPECT_TRUE(WriteBack(j, metadata).written);
    return ReadFile(twin);
  }

  // Saves `edits` with `computed` as what the analysis returns, after
  // planning with `expected`.
  WriteBackResult SaveWithPending(const RegeneratedRecords& expected,
                                  const RegeneratedRecords& computed, Edits edits = EditSession) {
    Journal j = Open();
    edits(j);
    return WriteBackPending(j,
                            {.expected = expected, .regenerate = [computed] { return computed; }});
  }
};

TEST_F(WriteBackPendingTest, TheExpectedMetadataGivesTheArchiveWriteBackGives) {
  const RegeneratedRecords metadata{{".data/extern_modules", "\n"}};
  const std::string expected = SavedWithKnownMetadata(metadata);
  EXPECT_TRUE(SaveWithPending(metadata, metadata).written);
  EXPECT_EQ(ReadFile(archive_), expected);
}

TEST_F(WriteBackPendingTest, OtherMetadataThanExpectedIsWhatIsSaved) {
  const RegeneratedRecords computed{{".data/extern_modules", "numpy\n"}};
  const std::string expected = SavedWithKnownMetadata(computed);
  const WriteBackResult r = SaveWithPending({{".data/extern_modules", "\n"}}, computed);
  EXPECT_EQ(r.regenerated, 1);
  EXPECT_EQ(r.raw_copied, 6);
  EXPECT_EQ(ReadFile(archive_), expected);
}

TEST_F(WriteBackPendingTest, MetadataChangingARecordAlreadyWrittenRewritesFromTheStart) {
  // The first record is not among the expected names, so it is written
  // before the analysis ends; the metadata then replaces it.
  const RegeneratedRecords computed{{".data/0.storage", "replaced"},
                                    {".data/extern_modules", "numpy\n"}};
  const std::string expected = SavedWithKnownMetadata(computed);
  const WriteBackResult r = SaveWithPending({{".data/extern_modules", "\n"}}, computed);
  EXPECT_EQ(r.regenerated, 2);
  EXPECT_EQ(r.raw_copied, 5) << "counted once, not for the discarded start as well";
  EXPECT_EQ(ReadFile(archive_), expected);
  EXPECT_EQ(ZipReader::Open(archive_).ReadAll(*ZipReader::Open(archive_).Find(".data/0.storage")),
            "replaced");
}

TEST_F(WriteBackPendingTest, TheRecordsBeforeTheMetadataAreWrittenWhileItIsComputed) {
  Journal j = Open();
  EditSession(j);
  const std::string temp = j.directory() + "/save.tmp";
  std::atomic<bool> seen_written{false};
  const RegeneratedRecords metadata{{".data/extern_modules", "numpy\n"}};
  const WriteBackResult r = WriteBackPending(
      j, {.expected = metadata, .regenerate = [&] {
            // Waits (10 s at most) for the temp archive to hold the records
            // that come before .data/extern_modules.
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            struct stat st {};
            while (std::chrono::steady_clock::now() < deadline) {
              if (stat(temp.c_str(), &st) == 0 && st.st_size > 200) {
                seen_written = true;
                break;
              }
              std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
            return metadata;
          }});
  EXPECT_TRUE(r.written);
  EXPECT_TRUE(seen_written) << "the analysis ran after the copy, not beside it";
}

TEST_F(WriteBackPendingTest, TheAnalysisErrorIsThrownAsItIsAndNothingIsSaved) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  const std::string why = "Cannot save " + archive_ + ": the package would no longer load:\nx";
  try {
    WriteBackPending(j, {.expected = {{".data/extern_modules", "\n"}}, .regenerate = [&] {
                           throw Error(Errc::kPolicy, why);
                           return RegeneratedRecords{};
                         }});
    FAIL() << "saved despite the failed analysis";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), why);
    EXPECT_EQ(e.code(), Errc::kPolicy);
  }
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(j.directory() + "/save.tmp"));
  EXPECT_EQ(j.PendingEdits().size(), 4u) << "the edits stay in the journal";
}

TEST_F(WriteBackPendingTest, AFailedAnalysisRefusesASaveThatChangesNothingToo) {
  Journal j = Open();
  j.OpenForWrite("pkg/code.py", false);  // dirty, no record changed
  ASSERT_TRUE(j.dirty());
  EXPECT_THROW(WriteBackPending(j, {.expected = {},
                                    .regenerate = []() -> RegeneratedRecords {
                                      throw Error(Errc::kPolicy, "would not load");
                                    }}),
               Error);
  EXPECT_TRUE(PathExists(journal_dir()));
}

TEST_F(WriteBackPendingTest, MetadataReplacingARemovedRecordIsAChangeThoughTheGuessSawNone) {
  // With the archive's own list expected, the plan copies it back and sees
  // no change; the computed list differs, and its plan saves it.
  const RegeneratedRecords computed{{".data/extern_modules", "numpy\n"}};
  const Edits remove_list = [](Journal& j) { j.Unlink(".data/extern_modules"); };
  const std::string expected = SavedWithKnownMetadata(computed, remove_list);
  EXPECT_TRUE(SaveWithPending({{".data/extern_modules", "\n"}}, computed, remove_list).written);
  EXPECT_EQ(ReadFile(archive_), expected);
}

TEST_F(WriteBackPendingTest, AnyExceptionOfTheAnalysisLeavesEverythingAsItWas) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  EXPECT_THROW(WriteBackPending(j, {.expected = {},
                                    .regenerate = []() -> RegeneratedRecords {
                                      throw std::runtime_error("out of something");
                                    }}),
               std::runtime_error);
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(j.directory() + "/save.tmp"));
  EXPECT_EQ(j.PendingEdits().size(), 4u);
}

TEST_F(WriteBackPendingTest, TheExpectedSaveMetadataIsTheArchivesOwn) {
  Journal j = Open();
  EXPECT_EQ(ExpectedSaveMetadata(j), (RegeneratedRecords{{".data/extern_modules", "\n"}}));
}

}  // namespace
}  // namespace tpkg
