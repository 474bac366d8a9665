// JournalFsOps over records patched in place (tpkg/record_patch.h): a small
// write into a large stored record costs a chunk, reads merge, appends and
// ftruncate work, open files keep their patch when the name goes, and the
// archive's CRC verdict still guards every byte served.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "journal_fs_ops.h"
#include "scratch_dir.h"
#include "tpkg/record_patch.h"

namespace tpkg::fs {
namespace {

constexpr uint64_t kChunk = RecordPatch::kChunkSize;
constexpr uint64_t kBigSize = 2 * 1024 * 1024 + 77;

std::string Pattern(uint64_t size) {
  std::string s(size, '\0');
  for (uint64_t i = 0; i < size; ++i) s[i] = static_cast<char>(i * 13 + i / 4099);
  return s;
}

class PatchedWritesTest : public ::testing::Test {
 protected:
  void SetUp() override { MakeAndOpen(false); }

  void MakeAndOpen(bool corrupt, uint64_t size = kBigSize) {
    ops_.reset();
    journal_.reset();
    tpkg::testing::Records records = tpkg::testing::SamplePackage();
    records[0].second = Pattern(size);  // .data/0.storage
    tpkg::testing::MakeArchive(archive_, records);
    if (corrupt) {
      std::string bytes = tpkg::testing::ReadFile(archive_);
      bytes[ZipReader::Open(archive_).Find(".data/0.storage")->data_offset + kBigSize - 9] ^= 1;
      tpkg::testing::WriteFile(archive_, bytes);
    }
    zip_ = std::make_shared<const ZipReader>(ZipReader::Open(archive_));
    journal_.emplace(Journal::OpenOrCreate(archive_, *zip_));
    ops_.emplace(zip_, *journal_, FsOptions{getuid(), getgid()});
    struct stat st;
    InodeId data = 0;
    EXPECT_EQ(ops_->Lookup(kRootInode, ".data", &st), 0);
    data = st.st_ino;
    EXPECT_EQ(ops_->Lookup(data, "0.storage", &st), 0);
    big_ = st.st_ino;
    data_dir_ = data;
  }

  std::string ReadAll(uint64_t fh, int* rc = nullptr) {
    std::string out, buf(300 * 1024, '\0');  // reads that straddle chunks
    for (;;) {
      const ssize_t n = ops_->Read(fh, out.size(), std::span(buf.data(), buf.size()));
      if (n < 0 && rc) *rc = static_cast<int>(n);
      if (n <= 0) break;
      out.append(buf.data(), static_cast<size_t>(n));
    }
    return out;
  }

  void Write(uint64_t fh, uint64_t offset, const std::string& s) {
    ASSERT_EQ(ops_->Write(fh, offset, std::span(s.data(), s.size())),
              static_cast<ssize_t>(s.size()));
  }

  // Bytes the journal's data files occupy on disk.
  uint64_t JournalDataBytes() {
    uint64_t total = 0;
    for (const auto& e : std::filesystem::directory_iterator(journal_->directory() + "/data")) {
      struct stat st {};
      if (::stat(e.path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
    return total;
  }

  tpkg::testing::ScratchDir dir_;
  std::string archive_ = dir_ / "big.pt";
  std::shared_ptr<const ZipReader> zip_;
  std::optional<Journal> journal_;
  std::optional<JournalFsOps> ops_;
  InodeId big_ = 0, data_dir_ = 0;
};

TEST_F(PatchedWritesTest, AFourByteWriteCostsAChunkNotTheRecord) {
  uint64_t fh;
  ASSERT_EQ(ops_->Open(big_, O_RDWR, &fh), 0);
  std::string model = Pattern(kBigSize);
  Write(fh, kBigSize / 2, "ABCD");
  model.replace(kBigSize / 2, 4, "ABCD");
  EXPECT_LE(JournalDataBytes(), 2 * kChunk);
  EXPECT_TRUE(journal_->Stat(".data/0.storage")->patch_base);
  EXPECT_TRUE(ReadAll(fh) == model);
  EXPECT_EQ(ops_->Fsync(fh), 0);
  ops_->Release(fh);
  // O_APPEND writes at the end; ftruncate through the handle.
  ASSERT_EQ(ops_->Open(big_, O_WRONLY | O_APPEND, &fh), 0);
  Write(fh, 0, "tail");
  model += "tail";
  struct stat want {}, out {};
  want.st_size = static_cast<off_t>(kChunk + 5);
  ASSERT_EQ(ops_->SetAttr(big_, want, kSetSize, fh, &out), 0);
  EXPECT_EQ(out.st_size, want.st_size);
  model.resize(kChunk + 5);
  ops_->Release(fh);
  ASSERT_EQ(ops_->Open(big_, O_RDONLY, &fh), 0);
  EXPECT_TRUE(ReadAll(fh) == model);
  ops_->Release(fh);
  EXPECT_LE(JournalDataBytes(), 3 * kChunk);
}

TEST_F(PatchedWritesTest, AnOpenFileKeepsItsPatchWhenItsNameGoes) {
  uint64_t fh;
  ASSERT_EQ(ops_->Open(big_, O_RDWR, &fh), 0);
  Write(fh, 1, "x");
  ASSERT_EQ(ops_->Unlink(data_dir_, "0.storage"), 0);
  Write(fh, 3 * kChunk, "after");
  std::string model = Pattern(kBigSize);
  model.replace(1, 1, "x");
  model.replace(3 * kChunk, 5, "after");
  EXPECT_TRUE(ReadAll(fh) == model);
  struct stat st;
  ASSERT_EQ(ops_->GetAttr(big_, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kBigSize);
  ops_->Release(fh);
}

TEST_F(PatchedWritesTest, ACorruptRecordIsWrittenButNeverServed) {
  MakeAndOpen(/*corrupt=*/true);
  uint64_t fh;
  ASSERT_EQ(ops_->Open(big_, O_RDWR, &fh), 0);
  Write(fh, 0, "fine");  // writing serves nothing
  int rc = 0;
  EXPECT_EQ(ReadAll(fh, &rc), "");
  EXPECT_EQ(rc, -EIO) << "not even the written chunk: it holds archive bytes too";
  ops_->Release(fh);
}

TEST_F(PatchedWritesTest, ALargeRewriteBecomesAWholeCopy) {
  const uint64_t size = RecordPatch::kWholeCopyBytes + 3 * kChunk + 11;
  MakeAndOpen(false, size);
  uint64_t fh;
  ASSERT_EQ(ops_->Open(big_, O_RDWR, &fh), 0);
  std::string model = Pattern(size);
  const std::string block(1024 * 1024 + 3, 'w');
  for (uint64_t offset = 5; offset < RecordPatch::kWholeCopyBytes; offset += block.size()) {
    Write(fh, offset, block);
    model.replace(offset, block.size(), block);
    EXPECT_TRUE(journal_->Stat(".data/0.storage")->patch_base) << offset;
  }
  Write(fh, size - 2, "zz");  // past the threshold: copied whole, then written
  model.replace(size - 2, 2, "zz");
  EXPECT_FALSE(journal_->Stat(".data/0.storage")->patch_base);
  EXPECT_TRUE(journal_->Stat(".data/0.storage")->edited());
  EXPECT_TRUE(ReadAll(fh) == model);
  ops_->Release(fh);
}

}  // namespace
}  // namespace tpkg::fs
