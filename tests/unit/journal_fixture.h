// journal_fixture.h: what the journal tests share: an archive shaped like
// PackageExporter's output (SamplePackage), the reader of a file's current
// bytes, a child process killed with SIGKILL, and one edit of each kind.
//
// Thread safety: test code, single-threaded (children are forked).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <string>

#include "scratch_dir.h"
#include "tpkg/error.h"
#include "tpkg/journal.h"
#include "tpkg/zip_reader.h"

namespace tpkg::testing {

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

inline int ErrnoOf(const std::function<void()>& op) {
  try {
    op();
  } catch (const Error& e) {
    return ToErrno(e);
  }
  return 0;
}

// Performs one edit of each kind; VerifyEdits() checks them all.
inline void MakeEdits(Journal& j) {
  WriteFd(j.OpenForWrite("pkg/code.py", false).get(), "z", 0);   // copy-on-write
  WriteFd(j.Create("pkg/new.py", 0640u).get(), "import pkg\n");  // create
  j.Unlink("notes/readme.txt");                                  // unlink
  j.Rename("pkg/sub", "pkg/moved");                              // directory rename
  j.Mkdir("assets", 0700u);                                      // empty directory
  j.SetMode("pkg/moved/deep.py", 0600u);                         // chmod
  j.SetMtime(".data/version", timespec{1000, 7});                // utimens
  j.Rename("model/model.pkl", "model/renamed.pkl");              // file rename
}

inline void VerifyEdits(const Journal& j, const ZipReader& zip) {
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

}  // namespace tpkg::testing
