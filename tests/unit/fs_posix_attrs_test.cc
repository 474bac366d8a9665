// The POSIX details of both mounts, driven without a kernel: folders count
// their subfolders in st_nlink, namespace changes stamp the parent folder,
// chmod the ctime, atimes are kept apart from mtimes, a creator owns what it
// creates, and both views show the modes and times the archive holds.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "fs_ops.h"
#include "journal_fs_ops.h"
#include "scratch_dir.h"
#include "tpkg/zip_writer.h"

namespace tpkg::fs {
namespace {

using tpkg::testing::ScratchDir;

// An archive with one record and one folder entry that carry attributes.
void MakeArchiveWithAttributes(const std::string& path) {
  ZipWriter w = ZipWriter::Create(path, "model", /*overwrite=*/true);
  w.AddRecord("pkg/__init__.py", "");
  w.AddRecord("pkg/secret.py", "x = 1\n", RecordAttributes{0600, 1900000000});
  w.AddDirectory("pkg/sub", RecordAttributes{0700, 1000000000});
  w.AddDirectory("empty");
  w.AddRecord(".data/version", "6\n");
  w.Finish();
}

bool Later(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

class PosixAttrsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeArchiveWithAttributes(archive_);
    zip_ = std::make_shared<const ZipReader>(ZipReader::Open(archive_));
  }
  void MountReadWrite() {
    journal_.emplace(Journal::OpenOrCreate(archive_, *zip_));
    ops_.emplace(zip_, *journal_, FsOptions{getuid(), getgid()});
  }
  struct stat Attr(InodeId parent, const std::string& name) {
    struct stat st {};
    EXPECT_EQ(ops_->Lookup(parent, name, &st), 0) << name;
    return st;
  }

  ScratchDir dir_;
  std::string archive_ = dir_ / "model.pt";
  std::shared_ptr<const ZipReader> zip_;
  std::optional<Journal> journal_;
  std::optional<JournalFsOps> ops_;
};

TEST_F(PosixAttrsTest, TheReadOnlyViewShowsTheArchivesModesAndTimes) {
  FsOps ro(zip_, FsOptions{getuid(), getgid()});
  struct stat pkg, secret, sub, init, root;
  ASSERT_EQ(ro.Lookup(kRootInode, "pkg", &pkg), 0);
  ASSERT_EQ(ro.Lookup(pkg.st_ino, "secret.py", &secret), 0);
  ASSERT_EQ(ro.Lookup(pkg.st_ino, "sub", &sub), 0);
  ASSERT_EQ(ro.Lookup(pkg.st_ino, "__init__.py", &init), 0);
  ASSERT_EQ(ro.GetAttr(kRootInode, &root), 0);
  EXPECT_EQ(secret.st_mode, S_IFREG | 0600u);
  EXPECT_EQ(secret.st_mtim.tv_sec, 1900000000);
  EXPECT_EQ(sub.st_mode, S_IFDIR | 0700u);
  EXPECT_EQ(sub.st_mtim.tv_sec, 1000000000);
  EXPECT_EQ(init.st_mode, S_IFREG | 0444u);  // none in the archive: the defaults
  EXPECT_EQ(pkg.st_nlink, 3u);               // 2 + sub
  EXPECT_EQ(root.st_nlink, 5u);              // 2 + .data, empty, pkg
}

TEST_F(PosixAttrsTest, TheReadWriteViewShowsTheSameAndCountsSubfolders) {
  MountReadWrite();
  const struct stat pkg = Attr(kRootInode, "pkg");
  EXPECT_EQ(Attr(pkg.st_ino, "secret.py").st_mode, S_IFREG | 0600u);
  EXPECT_EQ(Attr(pkg.st_ino, "secret.py").st_mtim.tv_sec, 1900000000);
  EXPECT_EQ(Attr(pkg.st_ino, "sub").st_mode, S_IFDIR | 0700u);
  EXPECT_EQ(Attr(kRootInode, "empty").st_nlink, 2u);
  EXPECT_EQ(pkg.st_nlink, 3u);
  struct stat st;
  ASSERT_EQ(ops_->Mkdir(pkg.st_ino, "more", 0755, &st), 0);
  EXPECT_EQ(Attr(kRootInode, "pkg").st_nlink, 4u);
}

TEST_F(PosixAttrsTest, CreateAndRemoveStampTheParentAndChmodTheCtime) {
  MountReadWrite();
  const struct stat before = Attr(kRootInode, "pkg");
  struct stat st;
  uint64_t fh;
  ASSERT_EQ(ops_->Create(before.st_ino, "new.py", 0644, O_WRONLY, &st, &fh), 0);
  ops_->Release(fh);
  const struct stat after_create = Attr(kRootInode, "pkg");
  EXPECT_TRUE(Later(after_create.st_mtim, before.st_mtim));
  EXPECT_TRUE(Later(after_create.st_ctim, before.st_ctim));
  ASSERT_EQ(ops_->Unlink(before.st_ino, "new.py"), 0);
  EXPECT_TRUE(Later(Attr(kRootInode, "pkg").st_mtim, after_create.st_mtim));
  ASSERT_EQ(ops_->Mkdir(kRootInode, "fresh", 0755, &st), 0);
  EXPECT_TRUE(Later(st.st_mtim, before.st_mtim));  // the current time, not the archive's
  // chmod: ctime moves, mtime does not.
  const struct stat init = Attr(before.st_ino, "__init__.py");
  struct stat want = init, out;
  want.st_mode = 0600;
  ASSERT_EQ(ops_->SetAttr(init.st_ino, want, kSetMode, std::nullopt, &out), 0);
  EXPECT_EQ(out.st_mode, S_IFREG | 0600u);
  EXPECT_TRUE(Later(out.st_ctim, init.st_ctim));
  EXPECT_EQ(out.st_mtim.tv_sec, init.st_mtim.tv_sec);
  EXPECT_EQ(out.st_mtim.tv_nsec, init.st_mtim.tv_nsec);
}

TEST_F(PosixAttrsTest, AtimeIsKeptApartFromMtime) {
  MountReadWrite();
  const struct stat init = Attr(Attr(kRootInode, "pkg").st_ino, "__init__.py");
  struct stat want = init, out;
  want.st_atim = {1900000000, 0};
  ASSERT_EQ(ops_->SetAttr(init.st_ino, want, kSetAtime, std::nullopt, &out), 0);
  EXPECT_EQ(out.st_atim.tv_sec, 1900000000);
  EXPECT_EQ(out.st_mtim.tv_sec, init.st_mtim.tv_sec);
  want.st_mtim = {1000000000, 0};
  ASSERT_EQ(ops_->SetAttr(init.st_ino, want, kSetMtime, std::nullopt, &out), 0);
  EXPECT_EQ(out.st_atim.tv_sec, 1900000000);
  EXPECT_EQ(out.st_mtim.tv_sec, 1000000000);
  want.st_mtim = {-5, 0};  // before 1970: a ZIP cannot hold it
  EXPECT_EQ(ops_->SetAttr(init.st_ino, want, kSetMtime, std::nullopt, &out), -EOVERFLOW);
}

TEST_F(PosixAttrsTest, TheCreatorOwnsWhatItCreates) {
  MountReadWrite();
  const InodeId pkg = Attr(kRootInode, "pkg").st_ino;
  const Caller other{getuid() + 1000, getgid() + 1000};
  struct stat st;
  uint64_t fh;
  ASSERT_EQ(ops_->Create(pkg, "theirs.py", 0644, O_WRONLY, &st, &fh, other), 0);
  ops_->Release(fh);
  EXPECT_EQ(st.st_uid, other.uid);
  EXPECT_EQ(st.st_gid, other.gid);
  ASSERT_EQ(ops_->Mkdir(pkg, "their_dir", 0755, &st, other), 0);
  EXPECT_EQ(st.st_uid, other.uid);
  ASSERT_EQ(ops_->Create(pkg, "mine.py", 0644, O_WRONLY, &st, &fh, Caller{getuid(), getgid()}), 0);
  ops_->Release(fh);
  EXPECT_EQ(st.st_uid, getuid());
  // chown: the kernel checked the caller's right to it (default_permissions);
  // the new owner is kept while mounted, the mount's owner as no owner of its own.
  const struct stat theirs = Attr(pkg, "theirs.py");
  struct stat out;
  EXPECT_EQ(ops_->SetAttr(theirs.st_ino, theirs, kSetOwner, std::nullopt, &out), 0);
  struct stat mine = theirs;
  mine.st_uid = getuid();
  mine.st_gid = getgid();
  EXPECT_EQ(ops_->SetAttr(theirs.st_ino, mine, kSetOwner, std::nullopt, &out), 0);
  EXPECT_EQ(out.st_uid, getuid());
  EXPECT_EQ(Attr(pkg, "theirs.py").st_gid, getgid());
  struct stat given = Attr(pkg, "mine.py");
  given.st_uid = 4321;
  given.st_gid = 8765;
  EXPECT_EQ(ops_->SetAttr(given.st_ino, given, kSetOwner, std::nullopt, &out), 0);
  EXPECT_EQ(Attr(pkg, "mine.py").st_uid, 4321u);
  EXPECT_EQ(Attr(pkg, "mine.py").st_gid, 8765u);
  // Generated files have no owner of their own to keep.
  struct stat generated = Attr(Attr(kRootInode, ".data").st_ino, "deps.dot");
  generated.st_uid = 4321;
  EXPECT_EQ(ops_->SetAttr(generated.st_ino, generated, kSetOwner, std::nullopt, &out), -EPERM);
}

}  // namespace
}  // namespace tpkg::fs
