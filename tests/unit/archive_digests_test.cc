// Digests by position (package/archive_digests.h, analysis_store.h): a
// second process analysing the same, unchanged archive file reads none of
// its sources and gets, field for field, the full analysis; a file changed
// in place since is read again; a save hands the digests of the records it
// copied unchanged to the saved file, whose next analysis reads only the
// source the edit wrote, unless the file it replaced had changed since its
// digests were taken. Stamps (tpkg/file_stamp.h) change with every write
// and are refused for files nobody can open again, that other users may
// write, and on file systems whose times do not vouch for the bytes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "corpus_journal_fixture.h"
#include "package/archive_digests.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/file_stamp.h"
#include "tpkg/journal_records.h"
#include "tpkg/metadata.h"
#include "tpkg/write_back.h"

namespace tpkg {
namespace {

// The package's first source: every record after it moves in the saved archive.
constexpr const char* kModel = "corpus_models/model.py";

// Counts the sources an analysis reads whole (to hash or scan them).
class CountingSource : public RecordSource {
 public:
  explicit CountingSource(const RecordSource& inner) : inner_(inner) {}
  std::vector<std::string> RecordNames() const override { return inner_.RecordNames(); }
  std::string ReadRecord(const std::string& name) const override {
    if (name.ends_with(".py")) source_reads_.fetch_add(1);
    return inner_.ReadRecord(name);
  }
  std::string ReadPrefix(const std::string& name, size_t n) const override {
    return inner_.ReadPrefix(name, n);
  }
  uint64_t RecordSize(const std::string& name) const override { return inner_.RecordSize(name); }
  bool knows_sizes() const override { return inner_.knows_sizes(); }
  bool concurrent_reads() const override { return inner_.concurrent_reads(); }
  std::optional<RecordContentId> ContentOf(const std::string& name) const override {
    return inner_.ContentOf(name);
  }
  void PrepareReads(std::span<const std::string> names) const override {
    inner_.PrepareReads(names);
  }
  int source_reads() const { return source_reads_.load(); }

 private:
  const RecordSource& inner_;
  mutable std::atomic<int> source_reads_{0};
};

class ArchiveDigestsTest : public testing::CorpusJournalTest {
 protected:
  void SetUp() override {
    CorpusJournalTest::SetUp();
    if (!TrustedStampOf(zip_->fd()))
      GTEST_SKIP() << "the scratch folder's file system keeps no trusted stamps";
    std::filesystem::create_directory(cache_dir_);
    std::filesystem::permissions(cache_dir_, std::filesystem::perms::owner_all);
  }

  // A new process's cache, with `home` as the archive it opened.
  std::shared_ptr<RecordAnalysisCache> NewProcessCache(const ZipReader& home) const {
    auto cache = std::make_shared<RecordAnalysisCache>();
    cache->KeepOnDisk(cache_dir_, &home);
    return cache;
  }
  // One process's analysis of the journal; returns how many sources it read.
  int AnalyseJournal(const std::shared_ptr<RecordAnalysisCache>& cache, const std::string& what) {
    const JournalRecords records(*journal_);
    const CountingSource counting(records);
    ExpectSameAsFull(RegenerateMetadata(counting, SaveCheckOptions(*journal_, cache)), what);
    cache->FlushDisk();
    return counting.source_reads();
  }
  // What a new process's analysis of the saved archive (that file as its
  // home) read and found, and how it compares with a full analysis.
  struct NextMount {
    int source_reads = 0;
    uint64_t by_place = 0;
    uint64_t from_disk = 0;
    Metadata got, full;
  };
  NextMount AnalyseSavedArchive() const {
    const ZipReader reopened = ZipReader::Open(archive_);
    const ZipRecordSource records(reopened);
    const CountingSource counting(records);
    const auto cache = NewProcessCache(reopened);
    MetadataOptions options;
    options.cache = cache;
    NextMount out;
    out.got = RegenerateMetadata(counting, options);
    out.source_reads = counting.source_reads();
    out.by_place = cache->digests_known();
    out.from_disk = cache->disk_hits();
    out.full = RegenerateMetadata(records, MetadataOptions{});
    return out;
  }
  int DigestsFiles() const {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(cache_dir_))
      n += e.path().extension() == ".digests";
    return n;
  }

  std::string cache_dir_ = dir_ / "cache";
};

TEST_F(ArchiveDigestsTest, ASecondProcessOverTheSameFileReadsNoSource) {
  EXPECT_EQ(AnalyseJournal(NewProcessCache(*zip_), "first process"), 4);
  EXPECT_EQ(DigestsFiles(), 1);
  const auto second = NewProcessCache(*zip_);
  EXPECT_EQ(AnalyseJournal(second, "second process"), 0);
  EXPECT_EQ(second->digests_known(), 4u);
  EXPECT_EQ(second->disk_problem(), "");
  // Without the home file, sources are read and hashed as before.
  auto plain = std::make_shared<RecordAnalysisCache>();
  plain->KeepOnDisk(cache_dir_);
  EXPECT_EQ(AnalyseJournal(plain, "no home file"), 4);
}

TEST_F(ArchiveDigestsTest, AFileWrittenInPlaceIsReadAgain) {
  EXPECT_EQ(AnalyseJournal(NewProcessCache(*zip_), "first process"), 4);
  // The same byte written back: the bytes are as they were, the stamp is not.
  const int fd = ::open(archive_.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  char byte;
  ASSERT_EQ(::pread(fd, &byte, 1, 0), 1);
  ::usleep(20000);  // past the kernel's timestamp granularity
  ASSERT_EQ(::pwrite(fd, &byte, 1, 0), 1);
  ::close(fd);
  const auto later = NewProcessCache(*zip_);
  EXPECT_EQ(AnalyseJournal(later, "after a write"), 4);
  EXPECT_EQ(later->digests_known(), 0u);
}

TEST_F(ArchiveDigestsTest, ASaveCarriesTheDigestsOfWhatItCopied) {
  const auto cache = NewProcessCache(*zip_);
  EXPECT_EQ(AnalyseJournal(cache, "before the edit"), 4);
  Put(kModel, "# edited\n" + zip_->ReadAll(*zip_->Find(kModel)));
  std::vector<std::string> notes;
  const WriteBackResult saved = WriteBack(*journal_, SaveMetadata(*journal_, notes, cache));
  ASSERT_TRUE(saved.written);
  ASSERT_TRUE(saved.saved_archive);
  const std::vector<CarriedRecord>& carried = saved.saved_archive->carried;
  ASSERT_GT(carried.size(), 3u);
  EXPECT_NE(carried.back().before, carried.back().after) << "the records moved";
  cache->RememberSavedArchive(*saved.saved_archive);
  cache->FlushDisk();

  EXPECT_EQ(TrustedStampOf(ZipReader::Open(archive_).fd()), saved.saved_archive->saved);
  const NextMount next = AnalyseSavedArchive();
  EXPECT_EQ(next.source_reads, 1) << "only the edited model.py";
  EXPECT_EQ(next.by_place, 3u);
  EXPECT_EQ(next.got.extern_modules_text, next.full.extern_modules_text);
  EXPECT_EQ(next.got.deps_dot, next.full.deps_dot);
  EXPECT_EQ(next.got.externs, next.full.externs);
  EXPECT_EQ(next.got.problems, next.full.problems);
}

TEST_F(ArchiveDigestsTest, NothingIsCarriedFromAFileChangedAfterItsLastAnalysis) {
  const auto cache = NewProcessCache(*zip_);
  EXPECT_EQ(AnalyseJournal(cache, "before the edit"), 4);
  Put(kModel, "# edited\n" + zip_->ReadAll(*zip_->Find(kModel)));
  std::vector<std::string> notes;
  const RegeneratedRecords metadata = SaveMetadata(*journal_, notes, cache);
  // Its owner writes the same byte back and restores the modification time:
  // the save's own check (size and mtime) passes, the stamp's ctime differs.
  struct stat before;
  ASSERT_EQ(::stat(archive_.c_str(), &before), 0);
  const int fd = ::open(archive_.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  char byte;
  ASSERT_EQ(::pread(fd, &byte, 1, 0), 1);
  ::usleep(20000);
  ASSERT_EQ(::pwrite(fd, &byte, 1, 0), 1);
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::futimens(fd, times), 0);
  ::close(fd);
  const WriteBackResult saved = WriteBack(*journal_, metadata);
  ASSERT_TRUE(saved.saved_archive);
  cache->RememberSavedArchive(*saved.saved_archive);
  cache->FlushDisk();

  const NextMount next = AnalyseSavedArchive();
  EXPECT_EQ(next.source_reads, 4) << "nothing carried from a file changed since";
  EXPECT_EQ(next.by_place, 0u);
}

// A save that only deleted a record scans nothing, so its analysis writes
// no pack for the saved archive's list of records; the save itself does,
// so that the next mount of that archive finds every source.
TEST_F(ArchiveDigestsTest, ASaveThatOnlyDeletedARecordLeavesThePackOfItsList) {
  const auto cache = NewProcessCache(*zip_);
  EXPECT_EQ(AnalyseJournal(cache, "before the edit"), 4);
  journal_->Unlink("model/model.pkl");
  std::vector<std::string> notes;
  const WriteBackResult saved = WriteBack(*journal_, SaveMetadata(*journal_, notes, cache));
  ASSERT_TRUE(saved.written) << saved.summary;
  ASSERT_TRUE(saved.saved_archive);
  cache->RememberSavedArchive(*saved.saved_archive);
  cache->FlushDisk();

  ASSERT_EQ(ZipReader::Open(archive_).Find("model/model.pkl"), nullptr);
  const NextMount next = AnalyseSavedArchive();
  EXPECT_EQ(next.source_reads, 0);
  EXPECT_EQ(next.from_disk, 4u);
}

TEST(ArchiveDigestsFormatTest, RoundTripAndRefusals) {
  ArchiveDigests d(FileStamp{1, 2, 3, 4, 5, 6, 7});
  d.Add(RecordContentId{100, 10, 10, 0xabcdef01}, Sha256("a"));
  d.Add(RecordContentId{200, 20, 30, 0x12345678}, Sha256("b"));
  const std::string bytes = EncodeArchiveDigests(d);
  std::string why;
  const std::optional<ArchiveDigests> back = DecodeArchiveDigests(bytes, &why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(back->stamp(), d.stamp());
  EXPECT_EQ(d.Find(RecordContentId{100, 10, 10, 0xabcdef01}), nullptr) << "not settled yet";
  d.Settle();
  EXPECT_NE(d.Find(RecordContentId{100, 10, 10, 0xabcdef01}), nullptr);
  ASSERT_NE(back->Find(RecordContentId{200, 20, 30, 0x12345678}), nullptr);
  EXPECT_EQ(*back->Find(RecordContentId{200, 20, 30, 0x12345678}), Sha256("b"));
  // The same place with another CRC (or size) is another record.
  EXPECT_EQ(back->Find(RecordContentId{200, 20, 30, 0x12345679}), nullptr);
  EXPECT_EQ(back->Find(RecordContentId{300, 20, 30, 0x12345678}), nullptr);

  std::string damaged = bytes;
  damaged[30] ^= 1;
  EXPECT_FALSE(DecodeArchiveDigests(damaged, &why));
  EXPECT_EQ(why, "its checksum does not match (damaged or cut short)");
  EXPECT_FALSE(DecodeArchiveDigests(bytes.substr(0, bytes.size() - 1), &why));
  EXPECT_FALSE(DecodeArchiveDigests("tpkg-analysis-pack\n", &why));
  EXPECT_EQ(why, "not an archive digests file");
  // Another format version, sealed as such.
  std::string later = bytes.substr(0, bytes.size() - 32);
  later[21] = 2;  // the u32 after the 21-byte magic
  const Sha256Digest sum = Sha256(later);
  later.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  EXPECT_FALSE(DecodeArchiveDigests(later, &why));
  EXPECT_EQ(why, "format version 2, not 1");
}

TEST(FileStampTest, EveryWriteChangesItAndUntrustedFilesHaveNone) {
  const std::string path = "/dev/shm/tpkg-stamp-test-" + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "abc", 3), 3);
  const std::optional<FileStamp> before = TrustedStampOf(fd);
  ASSERT_TRUE(before) << "tmpfs keeps trusted stamps";
  EXPECT_EQ(TrustedStampOf(fd), before);
  ::usleep(20000);
  ASSERT_EQ(::pwrite(fd, "a", 1, 0), 1);  // the same byte: only the times change
  const std::optional<FileStamp> after = TrustedStampOf(fd);
  ASSERT_TRUE(after);
  EXPECT_NE(after, before);
  // Nobody else may write it: no write bit for others, nor for a group
  // other than the user's private one.
  ASSERT_EQ(::fchmod(fd, 0602), 0);
  EXPECT_FALSE(TrustedStampOf(fd)) << "others may write it";
  ASSERT_EQ(::fchmod(fd, 0620), 0);
  EXPECT_EQ(TrustedStampOf(fd).has_value(), ::getegid() == ::geteuid()) << "the group may write it";
  ASSERT_EQ(::fchmod(fd, 0600), 0);
  ASSERT_TRUE(TrustedStampOf(fd));
  ::unlink(path.c_str());
  EXPECT_FALSE(TrustedStampOf(fd)) << "no name leads to it any more";
  ::close(fd);
  // procfs: its times say nothing about the bytes.
  const int proc = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(proc, 0);
  EXPECT_FALSE(TrustedStampOf(proc));
  ::close(proc);
}

}  // namespace
}  // namespace tpkg
