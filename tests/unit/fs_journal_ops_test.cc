// JournalFsOps: the read/write file system driven without a kernel, over a
// real Journal beside a real archive (ZipWriter), and InodeTable.
#include "journal_fs_ops.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "inode_table.h"
#include "save_edits.h"
#include "scratch_dir.h"
#include "tpkg/metadata.h"
#include "tpkg/write_back.h"
#include "virtual_files.h"

namespace tpkg::fs {
namespace {

using tpkg::testing::MakeArchive;
using tpkg::testing::SamplePackage;
using tpkg::testing::ScratchDir;

TEST(InodeTableTest, RenameMovesADirectoryWithEveryNameBelowIt) {
  InodeTable t;
  const InodeId a = t.Intern("a");
  const InodeId ab = t.Intern("a/b.py");
  const InodeId ax = t.Intern("ax");  // shares the prefix, not a child
  const InodeId c = t.Intern("c");
  t.Rename("a", "c");
  EXPECT_EQ(t.PathOf(a), "c");
  EXPECT_EQ(t.PathOf(ab), "c/b.py");
  EXPECT_EQ(t.PathOf(ax), "ax");
  EXPECT_EQ(t.PathOf(c), std::nullopt);  // replaced
  EXPECT_EQ(t.Find("a/b.py"), std::nullopt);
  EXPECT_EQ(t.Intern("c/b.py"), ab);
  t.Forget("c");
  EXPECT_EQ(t.PathOf(ab), std::nullopt);
  EXPECT_EQ(t.PathOf(kRootInode), "");
  EXPECT_NE(t.Intern("c"), c);  // numbers are never reused
}

class JournalOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tpkg::testing::Records records = SamplePackage();
    for (auto& [name, bytes] : records) {
      if (name == "model/model.pkl") bytes = std::string("\x80\x03K\x01.", 5);  // the int 1
    }
    MakeArchive(archive_, records);
    zip_ = std::make_shared<const ZipReader>(ZipReader::Open(archive_));
    journal_.emplace(Journal::OpenOrCreate(archive_, *zip_));
    ops_.emplace(zip_, *journal_, FsOptions{getuid(), getgid()});
  }

  InodeId Resolve(const std::string& path, int* rc = nullptr) {
    InodeId ino = kRootInode;
    size_t start = 0;
    while (start < path.size()) {
      const size_t slash = std::min(path.find('/', start), path.size());
      struct stat st;
      const int r = ops_->Lookup(ino, path.substr(start, slash - start), &st);
      if (rc) *rc = r;
      if (r != 0) return 0;
      ino = st.st_ino;
      start = slash + 1;
    }
    return ino;
  }

  std::string ReadAll(InodeId ino) {
    uint64_t fh;
    EXPECT_EQ(ops_->Open(ino, O_RDONLY, &fh), 0);
    std::string out, buf(7, '\0');  // odd chunks: several reads
    for (ssize_t n; (n = ops_->Read(fh, out.size(), std::span(buf.data(), buf.size()))) > 0;)
      out.append(buf.data(), static_cast<size_t>(n));
    ops_->Release(fh);
    return out;
  }

  void Write(uint64_t fh, uint64_t offset, const std::string& s) {
    ASSERT_EQ(ops_->Write(fh, offset, std::span(s.data(), s.size())),
              static_cast<ssize_t>(s.size()));
  }

  ScratchDir dir_;
  std::string archive_ = dir_ / "sample.pt";
  std::shared_ptr<const ZipReader> zip_;
  std::optional<Journal> journal_;
  std::optional<JournalFsOps> ops_;
};

TEST_F(JournalOpsTest, WritesAreReadBackAndSurviveReopening) {
  const InodeId code = Resolve("pkg/code.py");
  uint64_t fh;
  ASSERT_EQ(ops_->Open(code, O_RDWR, &fh), 0);
  Write(fh, 4, "2");
  ops_->Release(fh);
  EXPECT_EQ(ReadAll(code), "x = 2\n");
  ASSERT_EQ(ops_->Open(code, O_WRONLY | O_APPEND, &fh), 0);
  Write(fh, 0, "y = 3\n");  // O_APPEND: the offset is the end
  ops_->Release(fh);
  ASSERT_EQ(ops_->Open(code, O_WRONLY | O_TRUNC, &fh), 0);
  Write(fh, 0, "z\n");
  ops_->Release(fh);
  EXPECT_EQ(ReadAll(code), "z\n");
  struct stat st;
  ASSERT_EQ(ops_->GetAttr(code, &st), 0);
  EXPECT_EQ(st.st_size, 2);
}

TEST_F(JournalOpsTest, AMappingsPagesAreWrittenAtTheirOffsetEvenThroughAnAppendHandle) {
  // The kernel writes a shared mapping's dirty pages back through any writable handle of
  // the file, O_APPEND ones too: they belong where they were mapped, not at the end.
  const InodeId code = Resolve("pkg/code.py");
  uint64_t fh;
  ASSERT_EQ(ops_->Open(code, O_WRONLY | O_APPEND, &fh), 0);
  const std::string page = "y";
  ASSERT_EQ(ops_->Write(fh, 0, std::span(page.data(), page.size()), /*page_cache_write=*/true), 1);
  Write(fh, 0, "z\n");  // write(2) through the same handle still appends
  ops_->Release(fh);
  EXPECT_EQ(ReadAll(code), "y = 1\nz\n");
}

TEST_F(JournalOpsTest, LogLinesNameTheArchivePathWithThePrefixFolder) {
  const std::string prefix = zip_->prefix();
  ASSERT_FALSE(prefix.empty());
  EXPECT_EQ(ops_->PathForLog(Resolve("pkg/code.py")), prefix + "/pkg/code.py");
  EXPECT_EQ(ops_->PathForLog(Resolve("pkg"), "new.py"), prefix + "/pkg/new.py");
  EXPECT_EQ(ops_->PathForLog(kRootInode), prefix);
}

TEST_F(JournalOpsTest, ErrnoTable) {
  struct stat st;
  uint64_t fh;
  const InodeId pkg = Resolve("pkg");
  const std::string long_name(256, 'n');
  EXPECT_EQ(ops_->Lookup(pkg, long_name, &st), -ENAMETOOLONG);
  EXPECT_EQ(ops_->Create(pkg, long_name, 0644, O_WRONLY, &st, &fh), -ENAMETOOLONG);
  EXPECT_EQ(ops_->Mkdir(pkg, long_name, 0755, &st), -ENAMETOOLONG);
  EXPECT_EQ(ops_->Create(pkg, "code.py", 0644, O_WRONLY, &st, &fh), -EEXIST);
  EXPECT_EQ(ops_->Rmdir(kRootInode, "pkg"), -ENOTEMPTY);
  EXPECT_EQ(ops_->Unlink(kRootInode, "pkg"), -EISDIR);
  EXPECT_EQ(ops_->Rmdir(pkg, "code.py"), -ENOTDIR);
  EXPECT_EQ(ops_->Unlink(pkg, "missing.py"), -ENOENT);
  EXPECT_EQ(ops_->Rename(pkg, "code.py", pkg, "__init__.py", /*no_replace=*/true, false), -EEXIST);
  EXPECT_EQ(ops_->Rename(pkg, "code.py", pkg, "x.py", false, /*exchange=*/true), -EINVAL);
  EXPECT_EQ(ops_->RefuseSpecialFile("symbolic link", pkg, "l"), -EPERM);
  // The fuse-zip crash sequence: mkdir a b; touch b/f; mv -T a b; rm b/f.
  ASSERT_EQ(ops_->Mkdir(kRootInode, "a", 0755, &st), 0);
  ASSERT_EQ(ops_->Mkdir(kRootInode, "b", 0755, &st), 0);
  const InodeId b = st.st_ino;
  ASSERT_EQ(ops_->Create(b, "f", 0644, O_WRONLY, &st, &fh), 0);
  ops_->Release(fh);
  EXPECT_EQ(ops_->Rename(kRootInode, "a", kRootInode, "b", false, false), -ENOTEMPTY);
  EXPECT_EQ(ops_->Unlink(b, "f"), 0);
  EXPECT_EQ(ops_->Rename(kRootInode, "a", kRootInode, "b", false, false), 0);
}

TEST_F(JournalOpsTest, GeneratedFilesAreReadOnlyAndFollowEdits) {
  const InodeId externs = Resolve(".data/extern_modules");
  ASSERT_NE(externs, 0u);
  EXPECT_TRUE(ops_->IsVirtual(externs));
  EXPECT_EQ(ReadAll(externs), "\n");
  uint64_t fh;
  EXPECT_EQ(ops_->Open(externs, O_WRONLY, &fh), -EACCES);
  EXPECT_EQ(ops_->Unlink(Resolve(".data"), "extern_modules"), -EACCES);
  ASSERT_EQ(ops_->Open(Resolve("pkg/code.py"), O_WRONLY | O_APPEND, &fh), 0);
  Write(fh, 0, "import numpy\n");
  ops_->Release(fh);
  EXPECT_EQ(ReadAll(externs), "numpy\n");
  EXPECT_NE(ReadAll(Resolve(".data/deps.dot")).find("numpy"), std::string::npos);
}

TEST_F(JournalOpsTest, AnOpenFileKeepsItsBytesWhenAnotherIsRenamedOverIt) {
  const InodeId code = Resolve("pkg/code.py");
  uint64_t reader, writer;
  ASSERT_EQ(ops_->Open(code, O_RDONLY, &reader), 0);
  struct stat st;
  ASSERT_EQ(ops_->Create(Resolve("pkg"), "code.py.tmp", 0644, O_WRONLY, &st, &writer), 0);
  Write(writer, 0, "new = 1\n");
  ASSERT_EQ(ops_->Fsync(writer), 0);
  ops_->Release(writer);
  const InodeId pkg = Resolve("pkg");
  ASSERT_EQ(ops_->Rename(pkg, "code.py.tmp", pkg, "code.py", false, false), 0);
  std::string buf(64, '\0');
  const ssize_t n = ops_->Read(reader, 0, std::span(buf.data(), buf.size()));
  EXPECT_EQ(std::string(buf.data(), static_cast<size_t>(std::max<ssize_t>(n, 0))), "x = 1\n");
  ASSERT_EQ(ops_->GetAttr(code, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  ops_->Release(reader);
  EXPECT_EQ(ReadAll(Resolve("pkg/code.py")), "new = 1\n");
  EXPECT_EQ(Resolve("pkg/code.py.tmp"), 0u);
}

TEST_F(JournalOpsTest, SaveWritesTheEditAndRegeneratedMetadata) {
  uint64_t fh;
  ASSERT_EQ(ops_->Open(Resolve("pkg/code.py"), O_WRONLY | O_TRUNC, &fh), 0);
  Write(fh, 0, "import numpy\n");
  ops_->Release(fh);
  ops_.reset();
  EXPECT_EQ(SaveEdits(*journal_), 0);
  const ZipReader saved = ZipReader::Open(archive_);
  EXPECT_EQ(saved.ReadAll(*saved.Find("pkg/code.py")), "import numpy\n");
  EXPECT_EQ(saved.ReadAll(*saved.Find(".data/extern_modules")), "numpy\n");
  for (const ZipEntry& e : saved.entries()) EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
}

TEST_F(JournalOpsTest, APackageThatWouldNotLoadIsNotSaved) {
  const std::string before = tpkg::testing::ReadFile(archive_);
  uint64_t fh;
  ASSERT_EQ(ops_->Open(Resolve("pkg/code.py"), O_WRONLY | O_TRUNC, &fh), 0);
  Write(fh, 0, "def broken(:\n");
  ops_->Release(fh);
  ops_.reset();
  EXPECT_EQ(SaveEdits(*journal_), 1);
  EXPECT_EQ(tpkg::testing::ReadFile(archive_), before);
  EXPECT_TRUE(journal_->dirty());  // the edits are kept
}

// fsync(2) and fsyncdir(2) return once every change is committed (group commit:
// with a committer that never runs on its own, only they commit).
TEST_F(JournalOpsTest, FsyncAndFsyncDirCommitTheJournal) {
  ops_.reset();
  journal_.reset();
  JournalOptions delayed;  // (set field by field: GCC 12 warns on designated initializers)
  delayed.commit_delay = std::chrono::hours(1);
  journal_.emplace(Journal::OpenOrCreate(archive_, *zip_, delayed));
  ops_.emplace(zip_, *journal_, FsOptions{getuid(), getgid()});
  struct stat st;
  uint64_t fh;
  ASSERT_EQ(ops_->Create(kRootInode, "new.txt", 0644, O_WRONLY, &st, &fh), 0);
  Write(fh, 0, "bytes");
  EXPECT_FALSE(journal_->committed());
  EXPECT_EQ(ops_->Fsync(fh), 0);
  EXPECT_TRUE(journal_->committed());
  ops_->Release(fh);
  ASSERT_EQ(ops_->Mkdir(kRootInode, "d", 0755, &st), 0);
  EXPECT_FALSE(journal_->committed());
  EXPECT_EQ(ops_->FsyncDir(), 0);
  EXPECT_TRUE(journal_->committed());
}

// A fresh mount's journal is made by its first change; statfs (df, and find's
// fstatfs of every folder) must answer before that, from the folder the
// journal will be made in, without making it.
TEST_F(JournalOpsTest, StatFsAnswersBeforeTheJournalIsMade) {
  ops_.reset();
  journal_.reset();
  std::filesystem::remove_all(Journal::DirectoryFor(archive_));  // the fixture's, unchanged
  JournalOptions lazy;
  lazy.create_at_first_change = true;
  journal_.emplace(Journal::OpenOrCreate(archive_, *zip_, lazy));
  ops_.emplace(zip_, *journal_, FsOptions{getuid(), getgid()});
  ASSERT_FALSE(std::filesystem::exists(journal_->directory()));
  struct statvfs st {};
  ASSERT_EQ(ops_->StatFs(&st), 0);
  EXPECT_EQ(st.f_flag & ST_RDONLY, 0u);
  EXPECT_GT(st.f_blocks, 0u);
  EXPECT_FALSE(std::filesystem::exists(journal_->directory()));
  struct stat attr;
  uint64_t fh;
  ASSERT_EQ(ops_->Create(kRootInode, "new.txt", 0644, O_WRONLY, &attr, &fh), 0);
  ops_->Release(fh);
  ASSERT_TRUE(std::filesystem::exists(journal_->directory()));
  EXPECT_EQ(ops_->StatFs(&st), 0);
}

// The metadata options (the original record names: a string per record) are
// gathered by the first analysis, not by the mount, and only once.
TEST(VirtualFilesTest, TheAnalysisOptionsAreMadeByTheFirstAnalysisOnly) {
  ScratchDir dir;
  const std::string archive = dir / "sample.pt";
  MakeArchive(archive, SamplePackage());
  const auto zip = std::make_shared<const ZipReader>(ZipReader::Open(archive));
  int made = 0;
  VirtualFiles files(zip, std::make_shared<ZipRecordSource>(*zip),
                     [&made] {
                       ++made;
                       return MetadataOptions{};
                     },
                     [] { return false; });
  ASSERT_GT(files.size(), 0u);
  EXPECT_EQ(made, 0);
  const std::shared_ptr<const std::string> first = files.Content(0);
  EXPECT_EQ(made, 1);
  files.Invalidate();
  EXPECT_EQ(*files.Content(0), *first);
  EXPECT_EQ(made, 1);
}

}  // namespace
}  // namespace tpkg::fs
