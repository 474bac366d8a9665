// write_back_fixture.h: what the write-back tests share: an archive shaped
// like PackageExporter's output (SamplePackage) with its journal, a typical
// editing session and what that session must save.
//
// Thread safety: test code, single-threaded.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <optional>
#include <string>

#include "scratch_dir.h"
#include "tpkg/journal.h"
#include "tpkg/write_back.h"
#include "tpkg/zip_reader.h"

namespace tpkg::testing {

class WriteBackTest : public ::testing::Test {
 protected:
  void SetUp() override { UseArchive(dir_.path(), SamplePackage()); }

  void UseArchive(const std::string& directory, const Records& records) {
    archive_ = directory + "/model.pt";
    MakeArchive(archive_, records);
    zip_.emplace(ZipReader::Open(archive_));
  }

  Journal Open() { return Journal::OpenOrCreate(archive_, *zip_); }
  std::string journal_dir() const { return Journal::DirectoryFor(archive_); }

  // The edits of a typical session: edit, create, delete, rename.
  static void EditSession(Journal& j) {
    ScopedFd code = j.OpenForWrite("pkg/code.py", /*truncate=*/true);
    WriteFd(code.get(), "x = 2\n");
    WriteFd(j.Create("pkg/new.py").get(), "import numpy\n");
    j.Unlink("notes/readme.txt");
    j.Rename("model/model.pkl", "model/renamed.pkl");
  }

  // What EditSession + {extern_modules = "numpy\n"} must produce, in order.
  static Records ExpectedAfterEditSession() {
    return {
        {".data/0.storage", std::string(200, '\x01')},
        {"pkg/__init__.py", ""},
        {"pkg/code.py", "x = 2\n"},
        {"pkg/sub/deep.py", "import pkg.code\n"},
        {"model/renamed.pkl", "\x80\x03pickle-bytes."},
        {"pkg/new.py", "import numpy\n"},
        {".data/extern_modules", "numpy\n"},
        {".data/python_version", "3.11"},
        {".data/version", "6\n"},
    };
  }

  // Asserts the archive still has exactly the bytes it had.
  void ExpectArchiveUnchanged(const std::string& before) {
    const std::string now = ReadFile(archive_);
    EXPECT_TRUE(now == before) << archive_ << " changed: " << before.size() << " -> " << now.size()
                               << " bytes";
  }

  ScratchDir dir_;
  std::string archive_;
  std::optional<ZipReader> zip_;
};

}  // namespace tpkg::testing
