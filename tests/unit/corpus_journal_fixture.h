// A fixture for analysis tests: a writable copy of the corpus package
// pkg_model_numpy.pt (four sources, one pickle) opened with a journal, Put()
// to write a record through that journal as a mount would, and
// ExpectSameAsFull() to compare an analysis with a full one of the journal.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

#include "scratch_dir.h"
#include "tpkg/journal.h"
#include "tpkg/journal_records.h"
#include "tpkg/metadata.h"
#include "tpkg/zip_reader.h"

namespace tpkg::testing {

class CorpusJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    archive_ = dir_ / "model.pt";
    std::filesystem::copy_file(std::string(TPKG_CORPUS_DIR) + "/pkg_model_numpy.pt", archive_);
    std::filesystem::permissions(archive_, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    zip_.emplace(ZipReader::Open(archive_));
    journal_.emplace(Journal::OpenOrCreate(archive_, *zip_));
  }

  // Writes `text` as the whole of `record`, creating it if needed.
  void Put(const std::string& record, const std::string& text) {
    const std::optional<JournalNode> node = journal_->Stat(record);
    ScopedFd fd = node ? journal_->OpenForWrite(record, /*truncate=*/true) : journal_->Create(record);
    WriteFd(fd.get(), text);
  }

  // Checks `got` field by field against a full analysis of the journal.
  void ExpectSameAsFull(const Metadata& got, const std::string& after) const {
    const Metadata full =
        RegenerateMetadata(JournalRecords(*journal_), SaveCheckOptions(*journal_));
    EXPECT_EQ(got.extern_modules_text, full.extern_modules_text) << after;
    EXPECT_EQ(got.deps_dot, full.deps_dot) << after;
    EXPECT_EQ(got.problems, full.problems) << after;
    EXPECT_EQ(got.new_externs, full.new_externs) << after;
    EXPECT_EQ(got.interned, full.interned) << after;
    EXPECT_EQ(got.mocked, full.mocked) << after;
    EXPECT_EQ(got.externs, full.externs) << after;
  }

  ScratchDir dir_;
  std::string archive_;
  std::optional<ZipReader> zip_;
  std::optional<Journal> journal_;
};

}  // namespace tpkg::testing
