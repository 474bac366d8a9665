// The journal's group commit (tpkg/journal.h "Durability"): changes reach the
// page cache at once and the disk by a shared fdatasync; Fsync/Commit wait
// for it; a machine crash before a commit replays a prefix of the changes,
// with the data files they name still there.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "journal_fixture.h"

namespace tpkg::testing {
namespace {

constexpr std::chrono::milliseconds kNever{3600 * 1000};  // no commit but Commit()/Fsync()

class JournalCommitTest : public JournalTest {
 protected:
  Journal OpenHeld() { return Journal::OpenOrCreate(archive_, *zip_, {.commit_delay = kNever}); }
  std::string manifest() const { return journal_dir() + "/manifest"; }
  uint64_t ManifestSize() const { return std::filesystem::file_size(manifest()); }

  // What a power loss would leave: the journal folder as it is, with the
  // manifest cut back to `committed` bytes (its unsynced entries lost).
  std::string CrashImage(uint64_t committed) {
    const std::string image = dir_ / "crash-image";
    std::filesystem::copy(journal_dir(), image, std::filesystem::copy_options::recursive);
    std::filesystem::resize_file(image + "/manifest", committed);
    return image;
  }
  // Replaces the journal folder by `image` (once the Journal that used it is gone).
  void Restore(const std::string& image) {
    std::filesystem::remove_all(journal_dir());
    std::filesystem::rename(image, journal_dir());
  }
};

TEST_F(JournalCommitTest, ACreateIsCommittedWithoutAnyCall) {
  Journal j = Open();
  j.Create("new.txt");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!j.committed() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_TRUE(j.committed());
}

TEST_F(JournalCommitTest, FsyncAndCommitMakeEveryEarlierChangeDurable) {
  Journal j = OpenHeld();
  j.Create("a.txt");
  j.Mkdir("d");
  EXPECT_FALSE(j.committed());
  j.Fsync("a.txt");
  EXPECT_TRUE(j.committed());
  j.Rename("a.txt", "d/a.txt");
  EXPECT_FALSE(j.committed());
  j.Commit();
  EXPECT_TRUE(j.committed());
}

// Deleted only once the unlink is durable: a crash that loses the unlink must
// find the file's bytes.
TEST_F(JournalCommitTest, UnlinkedDataIsDeletedOnceTheUnlinkIsCommitted) {
  Journal j = OpenHeld();
  WriteFd(j.Create("tmp.txt").get(), "bytes");
  j.Fsync("tmp.txt");
  const std::string data = journal_dir() + "/data/" + std::to_string(j.Stat("tmp.txt")->data_id);
  j.Unlink("tmp.txt");
  EXPECT_TRUE(PathExists(data));
  j.Commit();
  EXPECT_FALSE(PathExists(data));
}

TEST_F(JournalCommitTest, AMachineCrashBeforeTheCommitReplaysWhatWasFsynced) {
  std::string image;
  {
    Journal j = OpenHeld();
    WriteFd(j.Create("kept.txt").get(), "fsynced bytes");
    j.Fsync("kept.txt");
    const uint64_t committed = ManifestSize();
    WriteFd(j.Create("pkg/lost.py").get(), "x = 1\n");
    j.Unlink("kept.txt");                 // its data file stays until committed
    WriteFd(j.OpenForWrite("pkg/code.py", false).get(), "z", 0);
    j.Rename("model/model.pkl", "model/other.pkl");
    EXPECT_FALSE(j.committed());
    EXPECT_GT(ManifestSize(), committed);  // in the page cache: a killed daemon keeps it
    image = CrashImage(committed);
  }
  Restore(image);
  Journal j = Open();
  EXPECT_EQ(Content(j, "kept.txt"), "fsynced bytes");
  EXPECT_FALSE(j.Stat("pkg/lost.py"));
  EXPECT_EQ(Content(j, "pkg/code.py"), zip_->ReadAll(*zip_->Find("pkg/code.py")));
  EXPECT_TRUE(j.Stat("model/model.pkl"));
  EXPECT_FALSE(j.Stat("model/other.pkl"));
}

// The daemon's end (unmount with a failed save, or any exit) commits what is left.
TEST_F(JournalCommitTest, ClosingTheJournalCommitsEverything) {
  uint64_t written = 0;
  {
    Journal j = OpenHeld();
    MakeEdits(j);
    EXPECT_FALSE(j.committed());
    written = ManifestSize();
  }
  Restore(CrashImage(written));  // the whole manifest: nothing was left unsynced
  Journal j = Open();
  VerifyEdits(j, *zip_);
}

}  // namespace
}  // namespace tpkg::testing
