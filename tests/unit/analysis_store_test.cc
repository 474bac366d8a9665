// The disk layer of the analysis cache (package/analysis_store.h): a second
// process analysing the same records scans none of the sources it finds on
// disk and gets, field for field, the full analysis; an edited source, or a
// forged one with the CRC-32 and size of the original, is scanned; packs of
// another build, damaged packs and folders other users may write are not
// trusted; the folder keeps the most recently used packs only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "base/sha256.h"
#include "package/analysis_pack.h"
#include "package/analysis_store.h"
#include "package/package_layout.h"
#include "corpus_journal_fixture.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/crc32.h"
#include "tpkg/journal.h"
#include "tpkg/journal_records.h"
#include "tpkg/metadata.h"

namespace tpkg {
namespace {

using testing::ScratchDir;

constexpr const char* kUtil = "corpus_models/util.py";

class AnalysisStoreTest : public testing::CorpusJournalTest {
 protected:
  void SetUp() override {
    CorpusJournalTest::SetUp();
    std::filesystem::create_directory(cache_dir_);
    std::filesystem::permissions(cache_dir_, std::filesystem::perms::owner_all);
  }

  // A new process's cache: empty in memory, on disk in cache_dir_.
  std::shared_ptr<RecordAnalysisCache> NewProcessCache() const {
    auto cache = std::make_shared<RecordAnalysisCache>();
    cache->KeepOnDisk(cache_dir_);
    return cache;
  }
  // One process's analysis, the pack it writes included (on the store's
  // thread: FlushDisk waits for it).
  Metadata Analyse(const std::shared_ptr<RecordAnalysisCache>& cache) const {
    Metadata metadata =
        RegenerateMetadata(JournalRecords(*journal_), SaveCheckOptions(*journal_, cache));
    cache->FlushDisk();
    return metadata;
  }
  // Analyses with `cache` and checks the result against a full analysis.
  void ExpectSameAsFull(const std::shared_ptr<RecordAnalysisCache>& cache,
                        const std::string& after) const {
    CorpusJournalTest::ExpectSameAsFull(Analyse(cache), after);
  }
  size_t Sources() const {
    size_t n = 0;
    for (const ZipEntry& e : zip_->entries()) n += e.name.ends_with(".py");
    return n;
  }
  std::vector<std::filesystem::path> Packs() const {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(cache_dir_)) out.push_back(e.path());
    return out;
  }

  std::string cache_dir_ = dir_ / "cache";
};

TEST_F(AnalysisStoreTest, ANewProcessScansNoSourceAnEarlierOneScanned) {
  ASSERT_EQ(Sources(), 4u);
  const auto first = NewProcessCache();
  ExpectSameAsFull(first, "first process");
  EXPECT_EQ(first->disk_hits(), 0u);
  ASSERT_EQ(Packs().size(), 1u) << first->disk_problem();
  EXPECT_EQ(std::filesystem::status(Packs()[0]).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  const auto second = NewProcessCache();
  ExpectSameAsFull(second, "second process");
  EXPECT_EQ(second->disk_hits(), Sources());
  EXPECT_EQ(second->disk_problem(), "");
}

TEST_F(AnalysisStoreTest, TheWarmUpFillsTheDiskToo) {
  const std::atomic<bool> stop{false};
  WarmAnalysisCache(*zip_, *NewProcessCache(), stop);
  const auto later = NewProcessCache();
  ExpectSameAsFull(later, "after a warm-up");
  EXPECT_EQ(later->disk_hits(), Sources());
}

TEST_F(AnalysisStoreTest, AnEditedSourceIsScanned) {
  ExpectSameAsFull(NewProcessCache(), "original");
  Put(kUtil, "import json\n\ndef squash(x):\n    return x\n");
  const auto cache = NewProcessCache();
  ExpectSameAsFull(cache, "util.py edited");
  EXPECT_EQ(cache->disk_hits(), Sources() - 1);
  EXPECT_EQ(Analyse(NewProcessCache()).new_externs, (std::vector<NewExtern>{{"json", kUtil}}));
}

// `text` with the 8 bytes at `at` changed (each to '@' + 6 bits, ASCII) so
// that its CRC-32 becomes `want`: CRC-32 is linear over messages of one
// length, so the bits to flip solve a 32-equation system over GF(2).
std::string ForgeCrc(std::string text, size_t at, uint32_t want) {
  for (size_t i = 0; i < 8; ++i) text[at + i] = '@';
  const uint32_t base = Crc32(0, text);
  std::vector<std::pair<uint32_t, uint64_t>> rows;  // (crc delta, flipped bits) per candidate
  for (size_t bit = 0; bit < 48; ++bit) {
    std::string flipped = text;
    flipped[at + bit / 6] = static_cast<char>(flipped[at + bit / 6] ^ (1 << (bit % 6)));
    rows.push_back({Crc32(0, flipped) ^ base, uint64_t{1} << bit});
  }
  uint32_t target = want ^ base;
  uint64_t flips = 0;
  for (int b = 31; b >= 0; --b) {  // Gaussian elimination, highest bit first
    auto pivot = std::find_if(rows.begin(), rows.end(),
                              [b](const auto& r) { return (r.first >> b) & 1; });
    if (pivot == rows.end()) continue;
    const auto p = *pivot;
    rows.erase(pivot);
    for (auto& r : rows)
      if ((r.first >> b) & 1) r.first ^= p.first, r.second ^= p.second;
    if ((target >> b) & 1) target ^= p.first, flips ^= p.second;
  }
  EXPECT_EQ(target, 0u) << "no forgery found";
  for (size_t bit = 0; bit < 48; ++bit)
    if ((flips >> bit) & 1)
      text[at + bit / 6] = static_cast<char>(text[at + bit / 6] ^ (1 << (bit % 6)));
  return text;
}

TEST_F(AnalysisStoreTest, AFileAddedSinceStillFindsTheArchivesScans) {
  ExpectSameAsFull(NewProcessCache(), "original");
  ScopedFd fd = journal_->Create("corpus_models/extra.py");
  testing::WriteFd(fd.get(), "import os\n");
  // Another list of records, whose pack does not exist yet; the cache knows
  // the archive it was opened from and reads that one's.
  auto cache = std::make_shared<RecordAnalysisCache>();
  cache->KeepOnDisk(cache_dir_, &*zip_);
  ExpectSameAsFull(cache, "a file added");
  EXPECT_EQ(cache->disk_hits(), Sources());
  // Without it, a list never seen finds nothing.
  fd = journal_->Create("corpus_models/extra2.py");
  const auto alone = NewProcessCache();
  ExpectSameAsFull(alone, "another file added, no home");
  EXPECT_EQ(alone->disk_hits(), 0u);
}

TEST_F(AnalysisStoreTest, ASourceForgedWithTheOriginalsCrcAndSizeIsScanned) {
  const ZipEntry& util = *zip_->Find(kUtil);
  const std::string original = zip_->ReadAll(util);
  // Same length: an import instead of the original's text, padded by a comment.
  std::string forged = "import json\n# ";
  ASSERT_LT(forged.size() + 8 + 1, original.size());
  forged += "........";
  forged.append(original.size() - forged.size() - 1, ' ');
  forged += "\n";
  forged = ForgeCrc(forged, 14, util.crc32);
  ASSERT_EQ(forged.size(), original.size());
  ASSERT_EQ(Crc32(0, forged), util.crc32);
  ASSERT_NE(forged, original);

  ExpectSameAsFull(NewProcessCache(), "original");
  Put(kUtil, forged);
  const auto cache = NewProcessCache();
  ExpectSameAsFull(cache, "forged util.py");
  EXPECT_EQ(cache->disk_hits(), Sources() - 1);
  EXPECT_EQ(Analyse(NewProcessCache()).new_externs, (std::vector<NewExtern>{{"json", kUtil}}));
}

TEST_F(AnalysisStoreTest, AFolderOtherUsersMayWriteIsNotUsed) {
  std::filesystem::permissions(cache_dir_, std::filesystem::perms::all);  // 0777
  ExpectSameAsFull(NewProcessCache(), "first");
  EXPECT_TRUE(Packs().empty());
  const auto second = NewProcessCache();
  ExpectSameAsFull(second, "second");
  EXPECT_EQ(second->disk_hits(), 0u);
  EXPECT_NE(second->disk_problem().find("other users may write into it"), std::string::npos)
      << second->disk_problem();
  // Nor does it cost the sources their digests: nothing is looked up.
  EXPECT_EQ(second->disk()->lookups(), 0u);
}

TEST_F(AnalysisStoreTest, RootDoesNotMakeItsFolderInsideAnotherUsersHome) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (chown)";
  const std::filesystem::path home = dir_ / "home";
  std::filesystem::create_directories(home / ".cache");
  ASSERT_EQ(::chown(home.c_str(), 1000, 1000), 0);
  ASSERT_EQ(::chown((home / ".cache").c_str(), 1000, 1000), 0);
  cache_dir_ = home / ".cache/tpkgfs/analysis";
  const auto first = NewProcessCache();
  ExpectSameAsFull(first, "first");
  EXPECT_FALSE(std::filesystem::exists(home / ".cache/tpkgfs"));
  EXPECT_NE(first->disk_problem().find("inside " + (home / ".cache").string() +
                                       ", which belongs to user 1000"),
            std::string::npos)
      << first->disk_problem();
  EXPECT_EQ(first->disk()->lookups(), 0u);
  // Where root owns the nearest folder, it makes it as before.
  ASSERT_EQ(::chown((home / ".cache").c_str(), 0, 0), 0);
  const auto second = NewProcessCache();
  ExpectSameAsFull(second, "second");
  EXPECT_EQ(Packs().size(), 1u) << second->disk_problem();
}

TEST_F(AnalysisStoreTest, AMissingFolderIsMadeForTheUserAlone) {
  cache_dir_ = dir_ / "home/.cache/tpkgfs/analysis";
  const auto first = NewProcessCache();
  ExpectSameAsFull(first, "first");
  ASSERT_EQ(Packs().size(), 1u);
  // Not there at the first analysis: its sources were digested for the pack.
  EXPECT_EQ(first->disk()->lookups(), Sources());
  EXPECT_EQ(std::filesystem::status(cache_dir_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  const auto second = NewProcessCache();
  ExpectSameAsFull(second, "second");
  EXPECT_EQ(second->disk_hits(), Sources());
}

TEST_F(AnalysisStoreTest, ADamagedPackIsIgnoredAndWrittenAgain) {
  ExpectSameAsFull(NewProcessCache(), "first");
  ASSERT_EQ(Packs().size(), 1u);
  const std::string pack = Packs()[0];
  {
    std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\xff');
  }
  const auto second = NewProcessCache();
  ExpectSameAsFull(second, "damaged pack");
  EXPECT_EQ(second->disk_hits(), 0u);
  EXPECT_NE(second->disk_problem().find("checksum"), std::string::npos) << second->disk_problem();
  const auto third = NewProcessCache();
  ExpectSameAsFull(third, "pack written again");
  EXPECT_EQ(third->disk_hits(), Sources());
}

// Memory: a source's import list is held once, by the store and every
// analysis of the same bytes alike, whether it was scanned or found on disk.
TEST_F(AnalysisStoreTest, AnImportListIsSharedWithTheStoreNotCopied) {
  const ZipRecordSource records(*zip_);
  AnalysisStore store(cache_dir_, "build-1");
  store.Load(AnalysedRecords(records.RecordNames()));
  const RecordAnalysis scanned = AnalyseRecord(kUtil, records, &store);
  const RecordAnalysis found = AnalyseRecord(kUtil, records, &store);
  EXPECT_EQ(store.hits(), 1u);
  const auto stored = store.Find(kUtil, Sha256(records.ReadRecord(kUtil)));
  ASSERT_NE(stored, nullptr);
  ASSERT_TRUE(scanned.module && found.module);
  EXPECT_EQ(scanned.module->imports.get(), &stored->imports);
  EXPECT_EQ(found.module->imports.get(), &stored->imports);
  EXPECT_FALSE(stored->imports.refs.empty());
  // Without a store the analysis owns its list.
  const RecordAnalysis alone = AnalyseRecord(kUtil, records);
  ASSERT_TRUE(alone.module && alone.module->imports);
  EXPECT_EQ(*alone.module->imports, stored->imports);
}

TEST(AnalysisPackTest, RoundTripAndRefusals) {
  AnalysisPack pack{"build-1", {}};
  auto imports = std::make_shared<StoredSource>();
  imports->imports.refs = {{"torch", std::nullopt}, {"a", "c"}};
  AnalysisPackEntry a{"a/b.py", Sha256(std::string_view("x")), imports};
  auto broken = std::make_shared<StoredSource>(StoredSource{true, {}});
  broken->imports.error = "line 2: invalid syntax";
  AnalysisPackEntry b{"a/__init__.py", Sha256(std::string_view("y")), broken};
  pack.entries = {a, b};
  const std::string bytes = EncodeAnalysisPack(pack);
  std::string why;
  const std::optional<AnalysisPack> back = DecodeAnalysisPack(bytes, &why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(back->build_id, "build-1");
  EXPECT_EQ(back->entries, pack.entries);

  EXPECT_FALSE(DecodeAnalysisPack(bytes.substr(0, bytes.size() - 1), &why));
  EXPECT_NE(why.find("checksum"), std::string::npos) << why;
  EXPECT_FALSE(DecodeAnalysisPack("PK\x03\x04 not a pack at all, but long enough to check", &why));
  EXPECT_EQ(why, "not an analysis pack");
  // A body that ends inside an entry, with a checksum that matches it.
  std::string cut = bytes.substr(0, bytes.size() - 32 - 3);
  const Sha256Digest sum = Sha256(cut);
  cut.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  EXPECT_FALSE(DecodeAnalysisPack(cut, &why));
  EXPECT_EQ(why, "the file ends inside an entry");
}

TEST(AnalysisStoreUnitTest, APackOfAnotherBuildIsNotTrusted) {
  ScratchDir dir;
  const std::vector<std::string> names = {"a.py"};
  const Sha256Digest digest = Sha256(std::string_view("import os\n"));
  std::string old_pack;
  {
    AnalysisStore old_build(dir.path(), "build-1");
    const auto key = old_build.Load(names);
    old_build.Add("a.py", digest, StoredSource{false, {{{"os", std::nullopt}}, std::nullopt}});
    old_build.Save(key, names);
    old_build.Flush();
    EXPECT_EQ(old_build.packs_written(), 1u);
    old_pack = dir / (key.hex + ".pack");
  }
  AnalysisStore same_build(dir.path(), "build-1");
  same_build.Load(names);
  EXPECT_NE(same_build.Find("a.py", digest), nullptr);
  // Each build has its own pack name; even under the other's name, the
  // build recorded inside decides.
  AnalysisStore new_build(dir.path(), "build-2");
  const std::string new_pack = dir / (AnalysisStore(dir.path(), "build-2").Load(names).hex + ".pack");
  ASSERT_NE(new_pack, old_pack);
  std::filesystem::rename(old_pack, new_pack);
  const auto key = new_build.Load(names);
  EXPECT_EQ(new_build.Find("a.py", digest), nullptr);
  new_build.Save(key, names);  // the file is another build's: replaced by this one's
  new_build.Flush();
  EXPECT_EQ(new_build.packs_written(), 1u);
}

TEST(AnalysisStoreUnitTest, KeepsTheMostRecentlyUsedPacks) {
  ScratchDir dir;
  AnalysisStore store(dir.path(), "build-1");
  const Sha256Digest digest = Sha256(std::string_view(""));
  auto save = [&](const std::string& record) {
    const std::vector<std::string> names = {record};
    const auto key = store.Load(names);
    store.Add(record, digest, {});
    store.Save(key, names);
    store.Flush();
    const std::string path = dir / (key.hex + ".pack");
    EXPECT_TRUE(std::filesystem::exists(path)) << store.last_problem();
    return path;
  };
  auto count = [&] {
    size_t packs = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
      packs += e.path().extension() == ".pack";
    return packs;
  };
  std::vector<std::string> paths;
  for (size_t i = 0; i < AnalysisStore::kMaxPacks; ++i) {
    paths.push_back(save("m" + std::to_string(i) + ".py"));
    // Distinct times, oldest first, whatever the file system's resolution.
    const timespec times[2] = {{static_cast<time_t>(1000 + i), 0},
                               {static_cast<time_t>(1000 + i), 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, paths.back().c_str(), times, 0), 0);
  }
  EXPECT_EQ(count(), AnalysisStore::kMaxPacks);
  save("one_more.py");
  EXPECT_EQ(count(), AnalysisStore::kMaxPacks);
  EXPECT_FALSE(std::filesystem::exists(paths[0]));
  EXPECT_TRUE(std::filesystem::exists(paths[1]));
}

// Save() returns before its pack is written (the store's thread writes it):
// packs asked for meanwhile, from several threads, are queued, none is lost,
// and the destructor waits for them all.
TEST(AnalysisStoreUnitTest, PacksAskedForWhileOneIsWrittenAreAllWritten) {
  ScratchDir dir;
  const Sha256Digest digest = Sha256(std::string_view("import os\n"));
  std::vector<std::string> paths;
  std::vector<std::vector<std::string>> lists;
  {
    AnalysisStore store(dir.path(), "build-1");
    std::vector<AnalysisStore::PackKey> keys;
    for (int i = 0; i < 8; ++i) {
      lists.push_back({"m" + std::to_string(i) + ".py"});
      keys.push_back(store.Load(lists.back()));
      store.Add(lists.back()[0], digest,
                StoredSource{false, {{{"os", std::nullopt}}, std::nullopt}});
      paths.push_back(dir / (keys.back().hex + ".pack"));
    }
    std::vector<std::thread> savers;
    for (int t = 0; t < 2; ++t) {
      savers.emplace_back([&, t] {
        for (size_t i = static_cast<size_t>(t); i < keys.size(); i += 2)
          store.Save(keys[i], lists[i]);
      });
    }
    for (std::thread& saver : savers) saver.join();
  }  // the destructor waits for the writer
  for (size_t i = 0; i < lists.size(); ++i) {
    ASSERT_TRUE(std::filesystem::exists(paths[i])) << paths[i];
    AnalysisStore reader(dir.path(), "build-1");
    reader.Load(lists[i]);
    EXPECT_NE(reader.Find(lists[i][0], digest), nullptr) << lists[i][0];
  }
}

// Packs are written in the order asked: a pack queued after an Add holds
// it, whatever was still queued before; asking again with nothing new
// writes nothing.
TEST(AnalysisStoreUnitTest, PacksAreWrittenInTheOrderAskedAndOnlyWhenSomethingIsNew) {
  ScratchDir dir;
  const std::vector<std::string> names = {"a.py"};
  const Sha256Digest older = Sha256(std::string_view("import os\n"));
  const Sha256Digest newer = Sha256(std::string_view("import json\n"));
  {
    AnalysisStore store(dir.path(), "build-1");
    const auto key = store.Load(names);
    store.Add("a.py", older, StoredSource{false, {{{"os", std::nullopt}}, std::nullopt}});
    store.Save(key, names);
    store.Save(key, names);  // nothing new: not queued again
    store.Add("a.py", newer, StoredSource{false, {{{"json", std::nullopt}}, std::nullopt}});
    store.Save(key, names);
    store.Flush();
    EXPECT_EQ(store.packs_written(), 2u) << store.last_problem();
  }
  AnalysisStore reader(dir.path(), "build-1");
  reader.Load(names);
  ASSERT_NE(reader.Find("a.py", newer), nullptr) << "the last pack asked for is the file";
  EXPECT_EQ(reader.Find("a.py", newer)->imports.refs.at(0).module, "json");
  EXPECT_NE(reader.Find("a.py", older), nullptr) << "two contents kept per record";
}

// A writer killed mid-pack leaves its temp file; the next pack written
// removes it once it is older than any write takes, never a fresh one
// (another process may be writing it right now).
TEST(AnalysisStoreUnitTest, ATempFileAKilledWriterLeftIsRemovedLater) {
  ScratchDir dir;
  const std::string abandoned = dir / "0123.pack.tmp-AbCdEf";
  const std::string fresh = dir / "4567.pack.tmp-GhIjKl";
  testing::WriteFile(abandoned, "half a pack");
  testing::WriteFile(fresh, "a pack being written");
  const time_t old = ::time(nullptr) - AnalysisStore::kAbandonedTempSeconds - 60;
  const timespec times[2] = {{old, 0}, {old, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, abandoned.c_str(), times, 0), 0);
  {
    AnalysisStore store(dir.path(), "build-1");
    const std::vector<std::string> names = {"a.py"};
    const auto key = store.Load(names);
    store.Add("a.py", Sha256(std::string_view("")), {});
    store.Save(key, names);
  }  // written (and the folder swept) before the destructor returns
  EXPECT_FALSE(std::filesystem::exists(abandoned));
  EXPECT_TRUE(std::filesystem::exists(fresh));
}

// A pack that could not be written is written by the next Save() of its
// key, even with nothing new learnt since.
TEST(AnalysisStoreUnitTest, APackThatFailedIsWrittenByTheNextSave) {
  ScratchDir dir;
  AnalysisStore store(dir.path(), "build-1");
  const std::vector<std::string> names = {"a.py"};
  const auto key = store.Load(names);
  store.Add("a.py", Sha256(std::string_view("")), {});
  const std::string pack = dir / (key.hex + ".pack");
  std::filesystem::create_directory(pack);  // the rename onto it fails (root or not)
  store.Save(key, names);
  store.Flush();
  EXPECT_EQ(store.packs_written(), 0u);
  EXPECT_NE(store.last_problem().find("cannot rename"), std::string::npos) << store.last_problem();
  std::filesystem::remove(pack);
  store.Save(key, names);
  store.Flush();
  EXPECT_EQ(store.packs_written(), 1u) << store.last_problem();
  EXPECT_TRUE(std::filesystem::is_regular_file(pack));
}

}  // namespace
}  // namespace tpkg
