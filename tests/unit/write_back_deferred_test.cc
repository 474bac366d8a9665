// Write-back with metadata computed beside the write (write_back.h,
// DeferredMetadata): the same archive, byte for byte, as a save given the
// metadata first; the computation's error is the save's, with the archive
// untouched, the edits kept and no temp file left; a computation that
// returns other records than announced saves nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "tpkg/error.h"
#include "tpkg/write_back.h"
#include "write_back_fixture.h"

namespace tpkg {
namespace {

using testing::PathExists;
using testing::ReadFile;
using testing::WriteBackTest;

DeferredMetadata Deferred(std::string extern_modules, std::thread::id* ran_on = nullptr) {
  return {{".data/extern_modules"}, [extern_modules, ran_on] {
            if (ran_on) *ran_on = std::this_thread::get_id();
            return RegeneratedRecords{{".data/extern_modules", extern_modules}};
          }};
}

// Files in the journal folder's data/ (a temp archive left behind would be there).
size_t SaveFilesLeft(const std::string& journal_dir) {
  size_t n = 0;
  if (!PathExists(journal_dir)) return 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(journal_dir))
    if (e.path().filename().string().find("save") != std::string::npos) ++n;
  return n;
}

class DeferredWriteBackTest : public WriteBackTest {
 protected:
  // Saves EditSession with `metadata` given first, then (on a fresh copy of
  // the sample) computed beside the write; returns both archives' bytes.
  std::pair<std::string, std::string> BothWays(const std::string& extern_modules) {
    const std::filesystem::path plain_dir = dir_ / "plain", deferred_dir = dir_ / "deferred";
    std::filesystem::create_directory(plain_dir);
    std::filesystem::create_directory(deferred_dir);
    UseArchive(plain_dir, testing::SamplePackage());
    Journal a = Open();
    EditSession(a);
    const WriteBackResult plain = WriteBack(a, {{".data/extern_modules", extern_modules}});
    const std::string plain_bytes = ReadFile(archive_);
    UseArchive(deferred_dir, testing::SamplePackage());
    Journal b = Open();
    EditSession(b);
    std::thread::id ran_on;
    const WriteBackResult deferred = WriteBackDeferred(b, Deferred(extern_modules, &ran_on));
    EXPECT_NE(ran_on, std::thread::id());
    EXPECT_NE(ran_on, std::this_thread::get_id()) << "computed beside the write";
    EXPECT_EQ(deferred.raw_copied, plain.raw_copied);
    EXPECT_EQ(deferred.regenerated, plain.regenerated);
    EXPECT_EQ(deferred.from_journal, plain.from_journal);
    EXPECT_EQ(deferred.size, plain.size);
    EXPECT_FALSE(PathExists(journal_dir()));
    return {plain_bytes, ReadFile(archive_)};
  }
};

TEST_F(DeferredWriteBackTest, SameArchiveAsMetadataGivenFirst) {
  const auto [plain, deferred] = BothWays("numpy\n");
  EXPECT_TRUE(plain == deferred);
}

// Unchanged metadata is copied raw, as a plain save does.
TEST_F(DeferredWriteBackTest, UnchangedMetadataIsCopiedRawAsInAPlainSave) {
  const auto [plain, deferred] = BothWays("\n");
  EXPECT_TRUE(plain == deferred);
}

TEST_F(DeferredWriteBackTest, TheComputationsErrorIsTheSavesAndNothingIsSaved) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  DeferredMetadata failing{{".data/extern_modules"}, []() -> RegeneratedRecords {
                             throw Error(Errc::kPolicy, "the package would no longer load");
                           }};
  try {
    WriteBackDeferred(j, std::move(failing));
    FAIL() << "saved";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kPolicy);
    EXPECT_STREQ(e.what(), "the package would no longer load");  // as if it had run first
  }
  ExpectArchiveUnchanged(before);
  EXPECT_TRUE(j.dirty()) << "the edits are kept";
  EXPECT_EQ(SaveFilesLeft(journal_dir()), 0u);
}

// With nothing changed a plain save computes the metadata first too: its
// error still blocks, and the journal is not dropped.
TEST_F(DeferredWriteBackTest, TheComputationsErrorBlocksASaveOfNoChange) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  j.OpenForWrite("pkg/code.py", false);
  ASSERT_TRUE(j.dirty());
  DeferredMetadata failing{{".data/extern_modules"}, []() -> RegeneratedRecords {
                             throw std::runtime_error("analysis failed");
                           }};
  EXPECT_THROW(WriteBackDeferred(j, std::move(failing)), std::runtime_error);
  ExpectArchiveUnchanged(before);
  EXPECT_TRUE(PathExists(journal_dir()));
}

TEST_F(DeferredWriteBackTest, OtherRecordsThanAnnouncedSaveNothing) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  DeferredMetadata wrong{{".data/extern_modules"}, [] {
                           return RegeneratedRecords{{".data/other", "x\n"}};
                         }};
  EXPECT_THROW(WriteBackDeferred(j, std::move(wrong)), Error);
  ExpectArchiveUnchanged(before);
  EXPECT_TRUE(j.dirty());
}

}  // namespace
}  // namespace tpkg
