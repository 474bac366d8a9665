// Records patched in place (tpkg/record_patch.h): merged reads, truncate and
// extend, recovery (clean, SIGKILL, every cut of the manifest a power loss
// could leave), materialization, and a save byte-identical to the one a
// whole copy gives.
#include "tpkg/record_patch.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "file_size_limit.h"
#include "journal_fixture.h"
#include "tpkg/error.h"
#include "tpkg/journal.h"
#include "tpkg/write_back.h"

namespace tpkg {
namespace {

using testing::ReadFd;
using testing::ReadFile;
using testing::WriteFd;
using testing::WriteFile;

constexpr uint64_t kChunk = RecordPatch::kChunkSize;
constexpr uint64_t kBigSize = 5 * kChunk + 1234;  // a partial last chunk
constexpr std::chrono::milliseconds kNever{3600 * 1000};
const char* const kBig = ".data/0.storage";

std::string Pattern(uint64_t size) {
  std::string s(size, '\0');
  for (uint64_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 977) % 26);
  return s;
}

testing::Records BigPackage() {
  testing::Records records = testing::SamplePackage();
  records[0].second = Pattern(kBigSize);
  return records;
}

// The whole content through the patch.
std::string ReadAll(const RecordPatch& patch) {
  std::string out(patch.size(), '\0');
  EXPECT_EQ(patch.Read(0, std::span<char>(out.data(), out.size())), out.size());
  return out;
}

// pwrite(2) on a model string.
void WriteModel(std::string& model, uint64_t offset, const std::string& bytes) {
  if (model.size() < offset + bytes.size()) model.resize(offset + bytes.size(), '\0');
  model.replace(offset, bytes.size(), bytes);
}

void Write(RecordPatch& patch, std::string& model, uint64_t offset, const std::string& bytes) {
  patch.Write(offset, std::span<const char>(bytes.data(), bytes.size()));
  WriteModel(model, offset, bytes);
}

// Every test runs with an eagerly checked reader and with the mount's
// (defer_record_checks: a record's data offset is known only once it is read).
class RecordPatchTest : public testing::JournalTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    archive_ = dir_ / "model.pt";
    testing::MakeArchive(archive_, BigPackage());
    OpenArchive();
  }
  void OpenArchive() {
    zip_.emplace(ZipReader::Open(archive_, {.defer_record_checks = GetParam()}));
  }
  Journal OpenHeld() { return Journal::OpenOrCreate(archive_, *zip_, {.commit_delay = kNever}); }
  uint64_t DataBytesOnDisk(const Journal& j) {
    struct stat st {};
    const std::string data = journal_dir() + "/data/" + std::to_string(j.Stat(kBig)->data_id);
    EXPECT_EQ(::stat(data.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }
};

// A write the disk cuts short reports the bytes that were written (an
// O_APPEND writer retries only the rest); the retry then fails with the reason.
TEST_P(RecordPatchTest, AWriteCutShortReturnsWhatWasWritten) {
  Journal j = Open();
  std::shared_ptr<RecordPatch> patch = j.OpenPatch(kBig);
  ASSERT_TRUE(patch);
  std::string model = Pattern(kBigSize);
  Write(*patch, model, 10, "chunk mapped");  // maps chunk 0 (and syncs the manifest) first
  const std::string tail(300, 'T');
  {
    testing::FileSizeLimit limit(kBigSize + 100);
    EXPECT_EQ(patch->Write(kBigSize, std::span<const char>(tail.data(), tail.size())), 100u);
    try {
      patch->Write(kBigSize + 100, std::span<const char>(tail.data(), 200));
      FAIL() << "a write past the limit";
    } catch (const Error& e) {
      EXPECT_EQ(e.sys_errno(), EFBIG) << e.what();
    }
  }
  WriteModel(model, kBigSize, tail.substr(0, 100));
  EXPECT_EQ(ReadAll(*patch), model);
}

TEST_P(RecordPatchTest, ASmallWriteCopiesOneChunkAndReadsMerge) {
  Journal j = Open();
  std::shared_ptr<RecordPatch> patch = j.OpenPatch(kBig);
  ASSERT_TRUE(patch);
  std::string model = Pattern(kBigSize);
  EXPECT_EQ(ReadAll(*patch), model) << "a patch without writes is the record";
  Write(*patch, model, 3 * kChunk + 10, "WXYZ");
  EXPECT_EQ(ReadAll(*patch), model);
  const std::optional<JournalNode> node = j.Stat(kBig);
  ASSERT_TRUE(node);
  EXPECT_TRUE(node->edited());
  EXPECT_EQ(node->patch_base, zip_->Find(kBig));
  EXPECT_EQ(node->size, kBigSize);
  EXPECT_LE(DataBytesOnDisk(j), 2 * kChunk) << "one chunk, not the record";
  // A write across a chunk boundary, one into the partial last chunk, reads
  // of ranges that start and end inside chunks.
  Write(*patch, model, 2 * kChunk - 3, "123456");
  Write(*patch, model, kBigSize - 2, "ENDS");
  EXPECT_EQ(ReadAll(*patch), model);
  for (uint64_t offset : {uint64_t{0}, 2 * kChunk - 5, 3 * kChunk + 9, kBigSize - 1}) {
    std::string part(kChunk + 17, '\0');
    const size_t n = patch->Read(offset, std::span<char>(part.data(), part.size()));
    EXPECT_EQ(part.substr(0, n), model.substr(offset, part.size())) << offset;
  }
  EXPECT_EQ(j.Stat(kBig)->size, model.size());
  EXPECT_EQ(j.FindPatch(kBig)->data_id(), patch->data_id());
  EXPECT_FALSE(j.FindPatch("pkg/code.py")) << "an original is no patch";
  EXPECT_EQ(testing::ErrnoOf([&] { j.OpenForRead(kBig); }), EINVAL);
}

TEST_P(RecordPatchTest, TruncateAndExtendNeverBringArchiveBytesBack) {
  Journal j = Open();
  std::shared_ptr<RecordPatch> patch = j.OpenPatch(kBig);
  std::string model = Pattern(kBigSize);
  Write(*patch, model, 4 * kChunk + 1, "abc");
  patch->Resize(kChunk + 100);  // cuts inside an unmapped chunk
  model.resize(kChunk + 100);
  EXPECT_EQ(ReadAll(*patch), model);
  patch->Resize(kBigSize);  // extends with zeros, not with the archive's bytes
  model.resize(kBigSize, '\0');
  EXPECT_EQ(ReadAll(*patch), model);
  Write(*patch, model, kChunk + 50, "mid");  // the chunk holding the cut: archive part kept
  Write(*patch, model, 3 * kChunk, "past");  // past the cut: zeros around it
  EXPECT_EQ(ReadAll(*patch), model);
  j.Truncate(kBig, 10);  // truncate(2) by name
  model.resize(10);
  EXPECT_EQ(ReadAll(*patch), model);
  Write(*patch, model, kBigSize + 5, "tail");  // a write past the end extends
  EXPECT_EQ(ReadAll(*patch), model);
}

TEST_P(RecordPatchTest, TruncateAndExtendAreRecovered) {
  std::string model = Pattern(kBigSize);
  {
    Journal j = Open();
    std::shared_ptr<RecordPatch> patch = j.OpenPatch(kBig);
    Write(*patch, model, 4 * kChunk + 1, "abc");
    patch->Resize(kChunk + 100);
    patch->Resize(kBigSize);
    model.resize(kChunk + 100);
    model.resize(kBigSize, '\0');
    Write(*patch, model, kChunk + 50, "mid");
  }
  Journal j = Open();
  EXPECT_EQ(ReadAll(*j.FindPatch(kBig)), model);
}

TEST_P(RecordPatchTest, EditsSurviveReopenAndSigkill) {
  std::string model = Pattern(kBigSize);
  WriteModel(model, 5, "first");
  WriteModel(model, 4 * kChunk, "second");
  model.resize(kBigSize - 100);
  InKilledChild([&] {
    Journal j = Open();
    std::shared_ptr<RecordPatch> patch = j.OpenPatch(kBig);
    patch->Write(5, std::span<const char>("first", 5));
    patch->Write(4 * kChunk, std::span<const char>("second", 6));
    patch->Resize(kBigSize - 100);
  });
  {
    Journal j = Open();
    EXPECT_TRUE(j.recovered());
    ASSERT_TRUE(j.FindPatch(kBig));
    EXPECT_EQ(ReadAll(*j.FindPatch(kBig)), model);
    j.Rename(kBig, ".data/moved.storage");  // a rename keeps the patch
  }
  Journal j = Open();
  EXPECT_FALSE(j.Stat(kBig));
  EXPECT_EQ(ReadAll(*j.FindPatch(".data/moved.storage")), model);
  // Unlinked while open: the patch keeps working, unlogged; recovery drops it.
  std::shared_ptr<RecordPatch> orphan = j.FindPatch(".data/moved.storage");
  j.Unlink(".data/moved.storage");
  orphan->Write(0, std::span<const char>("gone", 4));
  WriteModel(model, 0, "gone");
  EXPECT_EQ(ReadAll(*orphan), model);
}

// Every prefix of the manifest a power loss could keep (the data folder as
// it is: a mapped chunk's archive bytes were synced before its entry) shows
// the record as it was after some prefix of the operations.
TEST_P(RecordPatchTest, EveryCutOfTheManifestRecoversAPrefixOfTheWrites) {
  std::vector<std::string> models{Pattern(kBigSize)};
  uint64_t header_end = 0;  // the header is written whole (manifest_log.h)
  {
    Journal j = OpenHeld();
    header_end = std::filesystem::file_size(journal_dir() + "/manifest");
    std::shared_ptr<RecordPatch> patch = j.OpenPatch(kBig);
    models.push_back(models.back());  // the empty patch
    // Each operation touches chunks no earlier one did, so the bytes the
    // data file holds for later operations are not mapped at earlier cuts.
    const std::vector<std::pair<uint64_t, std::string>> writes = {
        {10, "one"}, {3 * kChunk + 7, "two"}, {2 * kChunk - 2, "three"}};
    for (const auto& [offset, bytes] : writes) {
      Write(*patch, models.emplace_back(models.back()), offset, bytes);
    }
    // A cut inside the unmapped chunk 4, then back to the old size: zeros
    // past the cut once the cut is logged, the archive's bytes before.
    patch->Resize(4 * kChunk + 100);
    patch->Resize(kBigSize);
    models.push_back(models.back());
    models.back().resize(4 * kChunk + 100);
    models.back().resize(kBigSize, '\0');
  }
  const std::string manifest = journal_dir() + "/manifest";
  const std::string full = ReadFile(manifest);
  const std::string image = dir_ / "image";
  std::filesystem::copy(journal_dir(), image, std::filesystem::copy_options::recursive);
  size_t last_seen = 0;
  for (size_t cut = header_end; cut <= full.size(); cut += (cut + 7 < full.size() ? 7 : 1)) {
    std::filesystem::remove_all(journal_dir());
    std::filesystem::copy(image, journal_dir(), std::filesystem::copy_options::recursive);
    WriteFile(manifest, full.substr(0, cut));
    Journal j = Open();
    const std::shared_ptr<RecordPatch> patch = j.FindPatch(kBig);
    std::string seen = patch ? ReadAll(*patch) : zip_->ReadAll(*zip_->Find(kBig));
    if (!patch) {
      // Before the patch's entry: the sparse data file is an orphan.
      EXPECT_EQ(seen, models[0]) << cut;
      continue;
    }
    // The data file's size is its own (not cut with the manifest): compare
    // the bytes below the size each model had.
    size_t matched = models.size();
    for (size_t m = last_seen; m < models.size(); ++m) {
      if (seen.substr(0, models[m].size()) == models[m].substr(0, seen.size())) {
        matched = m;
        break;
      }
    }
    ASSERT_LT(matched, models.size()) << "cut at " << cut << " shows no prefix of the writes";
    EXPECT_GE(matched, last_seen) << cut;
    last_seen = matched;
  }
  EXPECT_EQ(last_seen, models.size() - 1) << "the whole manifest gives the last state";
}

// What a power loss can leave of a patch's data file: no name (it is synced
// with the first mapped chunk), no size (a new patch), or a synced cut whose
// entry was lost.
TEST_P(RecordPatchTest, RecoveryRepairsWhatAPowerLossLeftOfAPatch) {
  const std::string manifest = journal_dir() + "/manifest";
  std::string data;
  {
    Journal j = OpenHeld();
    j.OpenPatch(kBig);
    data = journal_dir() + "/data/" + std::to_string(j.Stat(kBig)->data_id);
    j.Commit();
  }
  std::filesystem::resize_file(data, 0);  // the sparse file's size was lost
  {
    Journal j = Open();
    EXPECT_EQ(ReadAll(*j.FindPatch(kBig)), Pattern(kBigSize));
  }
  std::filesystem::remove(data);  // its name was lost
  {
    Journal j = Open();
    EXPECT_FALSE(j.Stat(kBig)->edited());
    EXPECT_NE(j.recovery_summary().find("dropped 1 unsynced in-place write"), std::string::npos)
        << j.recovery_summary();
    // A mapped chunk, then a cut whose entry a power loss dropped (the data
    // file's truncation was synced before it was logged).
    std::shared_ptr<RecordPatch> patch = j.OpenPatch(kBig);
    patch->Write(3, std::span<const char>("abc", 3));
    j.Commit();
    const uint64_t before_cut = std::filesystem::file_size(manifest);
    patch->Resize(100);
    std::filesystem::resize_file(manifest, before_cut);
  }
  std::string model = Pattern(kBigSize);
  model.replace(3, 3, "abc");
  model.resize(100);
  Journal j = Open();
  std::shared_ptr<RecordPatch> patch = j.FindPatch(kBig);
  EXPECT_EQ(ReadAll(*patch), model);
  patch->Resize(kBigSize);  // the cut holds: zeros, not the archive's bytes
  model.resize(kBigSize, '\0');
  EXPECT_EQ(ReadAll(*patch), model);
}

TEST_P(RecordPatchTest, OpenForWriteMaterializesTheMergedBytes) {
  Journal j = Open();
  std::string model = Pattern(kBigSize);
  Write(*j.OpenPatch(kBig), model, kChunk * 2 + 1, "materialize");
  ScopedFd fd = j.OpenForWrite(kBig, /*truncate=*/false);
  EXPECT_EQ(ReadFd(fd.get()), model);
  EXPECT_FALSE(j.Stat(kBig)->patch_base);
  EXPECT_FALSE(j.FindPatch(kBig));
  EXPECT_FALSE(j.OpenPatch(kBig)) << "a whole journal file is written through its descriptor";
  EXPECT_EQ(ReadFd(j.OpenForRead(kBig).get()), model);
}

// The same edits through a patch and through a whole copy save to the same
// archive, byte for byte.
TEST_P(RecordPatchTest, SaveOfAPatchEqualsSaveOfAWholeCopy) {
  const std::string copy_dir = dir_ / "copy";
  std::filesystem::create_directory(copy_dir);
  const std::string copy = copy_dir + "/model.pt";
  testing::MakeArchive(copy, BigPackage());
  const ZipReader copy_zip = ZipReader::Open(copy);
  const std::vector<std::pair<uint64_t, std::string>> writes = {
      {0, "head"}, {2 * kChunk + 5, "middle"}, {kBigSize - 3, "tail!"}};
  std::string saved_patch, saved_copy;
  {
    Journal j = Open();
    std::shared_ptr<RecordPatch> patch = j.OpenPatch(kBig);
    for (const auto& [offset, bytes] : writes)
      patch->Write(offset, std::span<const char>(bytes.data(), bytes.size()));
    j.SetMtime(kBig, timespec{1700000000, 0});
    const std::string out = dir_ / "patched.pt";
    WriteBackTo(j, out, {});
    saved_patch = ReadFile(out);
  }
  {
    Journal j = Journal::OpenOrCreate(copy, copy_zip);
    ScopedFd fd = j.OpenForWrite(kBig, /*truncate=*/false);
    for (const auto& [offset, bytes] : writes) WriteFd(fd.get(), bytes, offset);
    j.SetMtime(kBig, timespec{1700000000, 0});
    const std::string out = dir_ / "copied.pt";
    WriteBackTo(j, out, {});
    saved_copy = ReadFile(out);
  }
  EXPECT_EQ(saved_patch.size(), saved_copy.size());
  EXPECT_TRUE(saved_patch == saved_copy) << "the saves differ";
  // And WriteBack proper replaces the archive with it.
  Journal j = Open();
  WriteBack(j, {});
  EXPECT_TRUE(ReadFile(archive_) == saved_patch);
}

TEST_P(RecordPatchTest, ACorruptBaseIsNeverSaved) {
  const uint64_t at = zip_->DataOffset(*zip_->Find(kBig)) + 4 * kChunk;  // far from any write
  std::string bytes = ReadFile(archive_);
  bytes[at] ^= 0x55;
  WriteFile(archive_, bytes);
  OpenArchive();
  Journal j = Open();
  std::shared_ptr<RecordPatch> patch = j.OpenPatch(kBig);
  patch->Write(1, std::span<const char>("x", 1));
  EXPECT_THROW(patch->VerifyBase(), Error);
  try {
    WriteBackTo(j, dir_ / "out.pt", {});
    ADD_FAILURE() << "a corrupt base was saved";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CRC"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(EagerAndDeferredReaders, RecordPatchTest, ::testing::Bool());

}  // namespace
}  // namespace tpkg
