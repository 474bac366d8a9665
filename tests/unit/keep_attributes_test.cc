// What an archive keeps besides record bytes (issue: "nothing accepted is
// dropped"): permission bits, mtimes and folder entries, written by
// ZipWriter, read back by ZipReader, kept by the journal with POSIX times
// and saved by WriteBack, while records nobody touched keep torch's headers.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <string>
#include <vector>

#include "scratch_dir.h"
#include "tpkg/error.h"
#include "tpkg/journal.h"
#include "tpkg/write_back.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"
#include "zip/zip_format.h"

namespace tpkg {
namespace {

using namespace tpkg::testing;

constexpr int64_t kFuture = 1900000000;  // 2030, as `touch -d @1900000000`

int ErrnoOf(const std::function<void()>& op) {
  try {
    op();
  } catch (const Error& e) {
    return e.sys_errno() ? e.sys_errno() : ToErrno(e);
  }
  return 0;
}

// The central-directory header of `full_name` in `bytes` (nullptr if absent).
const char* CentralHeader(const std::string& bytes, const std::string& full_name) {
  for (size_t at = bytes.find("PK\1\2"); at != std::string::npos;
       at = bytes.find("PK\1\2", at + 1)) {
    const size_t len = zipfmt::Load16(bytes.data() + at + zipfmt::central::kNameLength);
    if (bytes.compare(at + zipfmt::kCentralHeaderSize, len, full_name) == 0)
      return bytes.data() + at;
  }
  return nullptr;
}

// ---------------------------------------------------------------- the writer

TEST(ZipAttributesTest, ModeAndTimeRoundTripAndDataStaysAligned) {
  ScratchDir dir;
  const std::string path = dir / "model.pt";
  {
    ZipWriter w = ZipWriter::Create(path, "model");
    w.AddRecord("plain.txt", "torch's headers\n");
    w.AddRecord("secret.txt", "0600\n", RecordAttributes{0600, kFuture});
    w.AddDirectory("empty", RecordAttributes{0700, 1000000000});
    w.AddDirectory("bare");
    w.AddRecord(".data/version", "6\n", RecordAttributes{std::nullopt, 86400});
    w.Finish();
  }
  const ZipReader zip = ZipReader::Open(path);  // strict
  const ZipEntry* plain = zip.Find("plain.txt");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->mode, std::nullopt);
  EXPECT_EQ(plain->mtime, std::nullopt);
  const ZipEntry* secret = zip.Find("secret.txt");
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ(secret->mode, 0600u);
  EXPECT_EQ(secret->mtime, kFuture);
  EXPECT_EQ(zip.ReadAll(*secret), "0600\n");
  const ZipEntry* empty = zip.Find("empty/");
  ASSERT_NE(empty, nullptr);
  EXPECT_TRUE(empty->is_directory());
  EXPECT_EQ(empty->mode, 0700u);
  EXPECT_EQ(empty->mtime, 1000000000);
  ASSERT_NE(zip.Find("bare/"), nullptr);
  EXPECT_EQ(zip.Find("bare/")->mode, std::nullopt);
  EXPECT_EQ(zip.Find(".data/version")->mtime, 86400);
  for (const ZipEntry& e : zip.entries()) EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
  // Unix "made by", the mode in the high half of the external attributes.
  const std::string bytes = ReadFile(path);
  const char* h = CentralHeader(bytes, "model/secret.txt");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(zipfmt::Load16(h + zipfmt::central::kVersionMadeBy) >> 8, 3);
  EXPECT_EQ(zipfmt::Load32(h + zipfmt::central::kExternalAttributes) >> 16, S_IFREG | 0600u);
  const char* p = CentralHeader(bytes, "model/plain.txt");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(zipfmt::Load16(p + zipfmt::central::kVersionMadeBy), 0);
  EXPECT_EQ(zipfmt::Load32(p + zipfmt::central::kExternalAttributes), 0u);
  EXPECT_EQ(zipfmt::Load32(p + zipfmt::central::kDosTime), 0u);
}

TEST(ZipAttributesTest, FolderEntriesAreRefusedWhereTheReaderWouldBe) {
  ScratchDir dir;
  ZipWriter w = ZipWriter::Create(dir / "model.pt", "model");
  w.AddRecord("a/b.py", "x\n");
  w.AddDirectory("a");  // a folder that has files may have its entry too
  EXPECT_EQ(ErrnoOf([&] { w.AddDirectory("a"); }), EEXIST);
  EXPECT_EQ(ErrnoOf([&] { w.AddDirectory("a/b.py"); }), EEXIST);    // a file
  EXPECT_EQ(ErrnoOf([&] { w.AddDirectory("a/b.py/c"); }), EEXIST);  // under a file
  EXPECT_EQ(ErrnoOf([&] { w.AddDirectory("x/"); }), EINVAL);
  EXPECT_EQ(ErrnoOf([&] { w.AddDirectory("../x"); }), EINVAL);
  EXPECT_EQ(ErrnoOf([&] { w.AddRecord("t", "", RecordAttributes{std::nullopt, -1}); }), EOVERFLOW);
  EXPECT_EQ(ErrnoOf([&] {
              w.AddRecord("t", "", RecordAttributes{std::nullopt, kMaxZipTime + 1});
            }),
            EOVERFLOW);
  w.AddDirectory("c/d");
  EXPECT_EQ(ErrnoOf([&] { w.AddRecord("c/d", "x"); }), EEXIST);
  w.Finish();
  const ZipReader zip = ZipReader::Open(dir / "model.pt");  // strict: all accepted
  EXPECT_NE(zip.Find("c/d/"), nullptr);
}

// ---------------------------------------------------------------- the journal

class KeepAttributesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    archive_ = dir_ / "model.pt";
    MakeArchive(archive_, SamplePackage());
    zip_.emplace(ZipReader::Open(archive_));
  }
  Journal Open() { return Journal::OpenOrCreate(archive_, *zip_); }

  static struct timespec Now() {
    struct timespec now {};
    clock_gettime(CLOCK_REALTIME, &now);
    return now;
  }
  static bool NotBefore(const struct timespec& a, const struct timespec& b) {
    return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec >= b.tv_nsec;
  }

  ScratchDir dir_;
  std::string archive_;
  std::optional<ZipReader> zip_;
};

TEST_F(KeepAttributesTest, NamespaceChangesStampTheFoldersWhoseListingChanged) {
  Journal j = Open();
  const struct timespec before = Now();
  j.Create("pkg/new.py");
  const JournalNode pkg = *j.Stat("pkg");
  ASSERT_TRUE(pkg.mtime && pkg.ctime);
  EXPECT_TRUE(NotBefore(*pkg.mtime, before));
  EXPECT_FALSE(j.Stat("notes")->mtime);  // untouched folders keep the archive's (none)
  j.Rename("notes/readme.txt", "pkg/sub/readme.txt");
  EXPECT_TRUE(j.Stat("notes")->mtime && j.Stat("pkg/sub")->mtime);
  EXPECT_TRUE(j.Stat("pkg/sub/readme.txt")->ctime);  // a rename changes the file's ctime
  j.Mkdir("fresh", 0750u);
  const JournalNode fresh = *j.Stat("fresh");
  ASSERT_TRUE(fresh.mtime);  // a new folder gets the current time, not the archive's
  EXPECT_TRUE(NotBefore(*fresh.mtime, before));
  EXPECT_EQ(fresh.mode, 0750u);
  EXPECT_TRUE(j.Stat("")->mtime);      // the root's listing changed too
  EXPECT_EQ(j.Stat("")->subdirs, 5u);  // .data fresh model notes pkg
  EXPECT_EQ(j.Stat("pkg")->subdirs, 1u);
}

TEST_F(KeepAttributesTest, ChmodSetsTheCtimeAndAtimeIsKeptApart) {
  Journal j = Open();
  const struct timespec before = Now();
  j.SetMode("pkg/code.py", 0600);
  ASSERT_TRUE(j.Stat("pkg/code.py")->ctime);
  EXPECT_TRUE(NotBefore(*j.Stat("pkg/code.py")->ctime, before));
  EXPECT_TRUE(j.dirty());  // a mode is saved now
  j.SetAtime("pkg/code.py", {1900000000, 5});
  j.SetMtime("pkg/code.py", {1000000000, 0});
  const JournalNode n = *j.Stat("pkg/code.py");
  EXPECT_EQ(n.atime->tv_sec, 1900000000);
  EXPECT_EQ(n.atime->tv_nsec, 5);
  EXPECT_EQ(n.mtime->tv_sec, 1000000000);
  EXPECT_EQ(n.mode, 0600u);
  // A time a ZIP cannot hold fails at once instead of vanishing at the save.
  EXPECT_EQ(ErrnoOf([&] { j.SetMtime("pkg/code.py", {-1, 0}); }), EOVERFLOW);
  EXPECT_EQ(ErrnoOf([&] { j.SetMtime("pkg/code.py", {kMaxZipTime + 1, 0}); }), EOVERFLOW);
}

TEST_F(KeepAttributesTest, TimesAndOwnersReplayAsTheyWereLive) {
  JournalNode live_file, live_dir, live_parent;
  {
    Journal j = Open();
    j.Create("pkg/mine.py", 0640u, JournalOwner{1234, 5678});
    j.Mkdir("theirs", 0700u, JournalOwner{1234, 5678});
    j.SetAtime("pkg/code.py", {1900000000, 0});
    j.Unlink("notes/readme.txt");
    live_file = *j.Stat("pkg/mine.py");
    live_dir = *j.Stat("theirs");
    live_parent = *j.Stat("notes");
  }
  Journal j = Open();  // recovery replays the manifest
  EXPECT_TRUE(j.recovered());
  const JournalNode file = *j.Stat("pkg/mine.py"), dir = *j.Stat("theirs");
  EXPECT_EQ(file.uid, 1234u);
  EXPECT_EQ(file.gid, 5678u);
  EXPECT_EQ(dir.uid, 1234u);
  EXPECT_EQ(file.ctime->tv_sec, live_file.ctime->tv_sec);
  EXPECT_EQ(file.ctime->tv_nsec, live_file.ctime->tv_nsec);
  EXPECT_EQ(dir.mtime->tv_nsec, live_dir.mtime->tv_nsec);
  EXPECT_EQ(j.Stat("notes")->mtime->tv_nsec, live_parent.mtime->tv_nsec);
  EXPECT_EQ(j.Stat("pkg/code.py")->atime->tv_sec, 1900000000);
}

// ---------------------------------------------------------------- the save

TEST_F(KeepAttributesTest, ASaveKeepsModesTimesAndEmptyFoldersAndLeavesTheRestAsTorchWroteIt) {
  {
    Journal j = Open();
    j.SetMode("pkg/code.py", 0600);
    j.SetMtime("pkg/code.py", {kFuture, 123});
    j.Mkdir("empty", 0700u);
    j.Mkdir("parent", 0755u);
    j.Mkdir("parent/child");
    j.Unlink("notes/readme.txt");  // `notes` was implied by its file: it goes with it
    j.SetMtime("pkg/sub", {1000000000, 0});
    j.SetAtime("pkg/__init__.py", {5, 0});  // atimes are not saved
    const WriteBackResult r = WriteBack(j, {});
    EXPECT_TRUE(r.written) << r.summary;
    // ... and the save says so.
    EXPECT_EQ(r.warnings, std::vector<std::string>{
                              "left out 1 emptied folder the archive's files implied, as torch's "
                              "exporter writes no folders: 'notes' (mkdir one again to keep it)"});
  }
  const ZipReader saved = ZipReader::Open(archive_);
  const ZipEntry* code = saved.Find("pkg/code.py");
  ASSERT_NE(code, nullptr);
  EXPECT_EQ(code->mode, 0600u);
  EXPECT_EQ(code->mtime, kFuture);  // whole seconds
  for (const char* folder : {"empty/", "parent/child/", "pkg/sub/"})
    EXPECT_NE(saved.Find(folder), nullptr) << folder;
  EXPECT_EQ(saved.Find("notes/"), nullptr);
  EXPECT_EQ(saved.Find("empty/")->mode, 0700u);
  EXPECT_EQ(saved.Find("empty/")->mtime, std::nullopt);  // its creation time is incidental
  EXPECT_EQ(saved.Find("pkg/sub/")->mtime, 1000000000);
  // Neither a folder with files, the default mode and no chosen time, nor one
  // whose listing merely changed, needs an entry.
  EXPECT_EQ(saved.Find("parent/"), nullptr);
  EXPECT_EQ(saved.Find("pkg/"), nullptr);
  // Records nobody touched: torch's headers, the same bytes.
  for (const char* name : {"pkg/__init__.py", ".data/0.storage", "model/model.pkl"}) {
    const ZipEntry* e = saved.Find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->mode, std::nullopt) << name;
    EXPECT_EQ(e->mtime, std::nullopt) << name;
    EXPECT_EQ(saved.ReadAll(*e), zip_->ReadAll(*zip_->Find(name))) << name;
    EXPECT_EQ(e->crc32, zip_->Find(name)->crc32);
  }
  // The next mount shows what the archive holds.
  Journal again = Journal::OpenOrCreate(archive_, saved);
  EXPECT_EQ(again.Stat("pkg/code.py")->mode, 0600u);
  EXPECT_EQ(again.Stat("pkg/code.py")->mtime->tv_sec, kFuture);
  EXPECT_TRUE(again.Stat("empty")->is_dir);
  EXPECT_EQ(again.Stat("empty")->mode, 0700u);
  EXPECT_TRUE(again.Stat("parent/child")->is_dir);
  EXPECT_FALSE(again.dirty());
  EXPECT_FALSE(WriteBack(again, {}).written);  // nothing changed: untouched
}

TEST_F(KeepAttributesTest, AnEditKeepsTorchsHeadersUnlessATimeOrModeWasChosen) {
  {
    Journal j = Open();
    WriteFd(j.OpenForWrite("pkg/code.py", true).get(), "x = 2\n");  // an editor's save
    j.SetMode("pkg/code.py", kDefaultFileMode);                     // sed -i's fchmod
    WriteFd(j.Create("pkg/new.py", kDefaultFileMode).get(), "y = 1\n");
    WriteFd(j.Create("pkg/touched.py").get(), "z = 1\n");
    j.SetMtime("pkg/touched.py", {kFuture, 0});  // touch -d after the write
    WriteFd(j.OpenForWrite(".data/0.storage", false).get(), "\x02", 0);
    j.SetMtime(".data/0.storage", {kFuture, 0});
    WriteFd(j.OpenForWrite(".data/0.storage", false).get(), "\x03", 1);  // a write after it
    EXPECT_TRUE(WriteBack(j, {}).written);
  }
  const ZipReader saved = ZipReader::Open(archive_);
  for (const char* name : {"pkg/code.py", "pkg/new.py", ".data/0.storage"}) {
    EXPECT_EQ(saved.Find(name)->mode, std::nullopt) << name;
    EXPECT_EQ(saved.Find(name)->mtime, std::nullopt) << name;
  }
  EXPECT_EQ(saved.Find("pkg/touched.py")->mtime, kFuture);
}

TEST_F(KeepAttributesTest, AnAttributeChangeAloneIsSavedAndUndoingItIsNoChange) {
  {
    Journal j = Open();
    j.SetMode("pkg/code.py", 0600);
    EXPECT_TRUE(PlanWriteBack(j, {}).changed);
    EXPECT_TRUE(WriteBack(j, {}).written);
  }
  const std::string saved = ReadFile(archive_);
  zip_.emplace(ZipReader::Open(archive_));
  Journal j = Open();
  j.SetMode("pkg/code.py", 0600);  // the mode it already has
  j.Mkdir("tmp");
  j.Rmdir("tmp");
  EXPECT_FALSE(PlanWriteBack(j, {}).changed);
  EXPECT_FALSE(WriteBack(j, {}).written);
  EXPECT_EQ(ReadFile(archive_), saved);
}

TEST_F(KeepAttributesTest, FolderEntriesStayOutOfTheSerializationIdAndTheRecordList) {
  Journal j = Open();
  j.Mkdir("empty");
  const std::vector<std::string> order = WriteBackOrder(j);
  EXPECT_NE(std::find(order.begin(), order.end(), "empty/"), order.end());
  // New names go before the metadata, sorted, folders as "dir/".
  const auto at = std::find(order.begin(), order.end(), "empty/");
  const auto externs = std::find(order.begin(), order.end(), ".data/extern_modules");
  EXPECT_LT(at, externs);
}

// New folder entries are sorted in among the new files, as one list.
TEST_F(KeepAttributesTest, NewFolderEntriesAreSortedAmongTheNewFiles) {
  Journal j = Open();
  WriteFd(j.Create("pkg/zz.py").get(), "z = 1\n");
  j.Mkdir("pkg/mm");
  j.Mkdir("aa");
  WriteFd(j.Create("pkg/aa.py").get(), "a = 1\n");
  const std::vector<std::string> order = WriteBackOrder(j);
  const auto at = std::find(order.begin(), order.end(), "aa/");
  ASSERT_NE(at, order.end());
  EXPECT_EQ(std::vector<std::string>(at, at + 4),
            (std::vector<std::string>{"aa/", "pkg/aa.py", "pkg/mm/", "pkg/zz.py"}));
}

}  // namespace
}  // namespace tpkg
