// What strict mode refuses beyond the ZIP container (tpkg/torch_records.h),
// what non-strict mode serves for duplicate names (zip/torch_lookup.h, checked
// against lookups measured with torch 1.13), and the analysis' bound on
// what it reads from one record (tpkg/metadata.h ReadForAnalysis).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tpkg/metadata.h"
#include "tpkg/torch_records.h"
#include "tpkg/zip_reader.h"
#include "zip/torch_lookup.h"
#include "zip_hostile_util.h"
#include "zip_test_util.h"

namespace tpkg {
namespace {

using namespace tpkg::testing;

// ---------------------------------------------------------------- torch's lookup

struct MeasuredLookup {
  std::vector<std::string> names;          // under the prefix "arc/", in CD order
  std::map<std::string, uint32_t> picks;  // name -> the CD index torch 1.13 returned
};

// Measured with torch._C.PyTorchFileReader(...).get_record(name) on archives
// written by Python's zipfile with these names in this order.
std::vector<MeasuredLookup> MeasuredLookups() {
  return {
      {{"r2", "r0", "r0", "version"}, {{"r0", 2}}},
      {{"r4", "r0", "r5", "r3", "r2", "r5", "r1", "r4", "version"}, {{"r4", 7}, {"r5", 5}}},
      {{"r3", "r3", "r5", "r3", "r1", "r0", "r3", "r0", "r3", "version"}, {{"r0", 5}, {"r3", 1}}},
      {{"r2", "r2", "r0", "r3", "r1", "r0", "r1", "version"}, {{"r0", 2}, {"r1", 4}, {"r2", 1}}},
      {{"r0", "r1", "r0", "r1", "r3", "r2", "version"}, {{"r0", 0}, {"r1", 1}}},
      {{"r3", "r1", "r0", "r1", "version"}, {{"r1", 3}}},
      {{"r3", "r1", "r1", "r0", "r0", "r1", "r1", "version"}, {{"r0", 3}, {"r1", 1}}},
      {{"r1", "r2", "r2", "r1", "version"}, {{"r1", 0}, {"r2", 2}}},
      // Case twins: torch's lookup folds ASCII case; every spelling finds one entry.
      {{"Res/A.txt", "res/a.txt", "RES/a.TXT", "version"},
       {{"Res/A.txt", 2}, {"res/a.txt", 2}, {"RES/a.TXT", 2}}},
  };
}

TEST(TorchLookupTest, ReplaysWhatTorchsReaderReturnsForDuplicateNames) {
  for (const MeasuredLookup& c : MeasuredLookups()) {
    std::vector<ZipEntry> entries;
    for (const std::string& n : c.names) entries.push_back(ZipEntry{.full_name = "arc/" + n});
    const std::vector<uint32_t> sorted = MinizSortedOrder(entries);
    for (const auto& [name, index] : c.picks) {
      EXPECT_EQ(MinizLocate(entries, sorted, "arc/" + name), index) << name;
    }
    EXPECT_EQ(MinizLocate(entries, sorted, "arc/missing"), std::nullopt);
  }
}

TEST(TorchLookupTest, NonStrictModeServesTheDuplicateTorchLoads) {
  TempDir dir;
  std::string b = BaseArchive();  // "p/dup1" holds "one", "p/dup2" "two"
  Rename(b, "p/dup2", "p/dup1");
  const std::string path = dir.Write("dup.pt", b);
  EXPECT_THROW(ZipReader::Open(path), Error);
  const ZipReader zip = ZipReader::Open(path, {.strict = false});
  // Measured: torch 1.13 returns the second (CD index 3) for these names.
  EXPECT_EQ(zip.ReadAll(*zip.Find("dup1")), "two");
  EXPECT_TRUE(zip.entries()[2].shadowed);
  EXPECT_FALSE(zip.entries()[3].shadowed);
  size_t served = 0;
  for (const std::string& n : ZipRecordSource(zip).RecordNames()) served += n == "dup1";
  EXPECT_EQ(served, 1u);
}

// Torch prefixes every lookup with the prefix folder: an entry outside it is
// never read, even when its full name equals an inside record's stripped name
// (which the mount used to serve instead, being the later entry).
TEST(TorchLookupTest, NonStrictModeNeverServesAnEntryOutsideThePrefixFolder) {
  TempDir dir;
  std::string b = BaseArchive();  // "p/sux/f" holds "in folder", the later "p/abs" "a"
  Rename(b, "p/abs", "sux/f");
  const std::string path = dir.Write("outside.pt", b);
  EXPECT_THROW(ZipReader::Open(path), Error);
  const ZipReader zip = ZipReader::Open(path, {.strict = false});
  EXPECT_EQ(zip.ReadAll(*zip.Find("sux/f")), "in folder");
  size_t served = 0;
  for (const ZipEntry& e : zip.entries()) {
    EXPECT_EQ(e.outside_prefix, e.full_name == "sux/f") << e.full_name;
    EXPECT_EQ(e.shadowed, e.outside_prefix) << e.full_name;
  }
  for (const std::string& n : ZipRecordSource(zip).RecordNames()) served += n == "sux/f";
  EXPECT_EQ(served, 1u);
}

// A ZIP torch cannot open at all (no version record in its prefix folder) is
// served whole: nothing it holds contradicts what torch loads.
TEST(TorchLookupTest, NonStrictModeServesEveryEntryOfAZipTorchCannotOpen) {
  TempDir dir;
  std::string b = BaseArchive();
  Rename(b, "p/abs", "outsx");
  Rename(b, "p/.data/version", "q/.data/version");
  const ZipReader zip = ZipReader::Open(dir.Write("generic.zip", b), {.strict = false});
  for (const ZipEntry& e : zip.entries()) EXPECT_FALSE(e.shadowed) << e.full_name;
  ASSERT_NE(zip.Find("outsx"), nullptr);
  EXPECT_TRUE(zip.Find("outsx")->outside_prefix);
  EXPECT_EQ(zip.ReadAll(*zip.Find("outsx")), "a");
}

// ---------------------------------------------------------------- torch records

std::vector<std::string> TorchRecordProblems(const std::vector<Record>& records) {
  TempDir dir;
  const ZipReader zip = ZipReader::Open(dir.Write("t.pt", BuildArchive("t", records)));
  std::vector<std::string> out;
  for (const Error& e : CheckTorchRecords(zip)) out.push_back(e.what());
  return out;
}

bool OneProblemSaying(const std::vector<std::string>& problems, const std::string& part) {
  return problems.size() == 1 && problems[0].find(part) != std::string::npos;
}

TEST(TorchRecordsTest, TheCorpusArchivesHaveNoProblem) {
  for (const std::string& name : ValidCorpus()) {
    EXPECT_TRUE(CheckTorchRecords(ZipReader::Open(CorpusPath(name))).empty()) << name;
  }
}

TEST(TorchRecordsTest, AGenericZipIsNotJudged) {
  EXPECT_TRUE(TorchRecordProblems({{"notes/a.txt", "text"}}).empty());
}

TEST(TorchRecordsTest, ATorchArchiveWithoutAVersionRecordIsRefused) {
  const std::string why = "no record '.data/version' or 'version': torch's reader refuses";
  EXPECT_TRUE(OneProblemSaying(TorchRecordProblems({{".data/extern_modules", "\n"}}), why));
  EXPECT_TRUE(OneProblemSaying(TorchRecordProblems({{"data.pkl", "\x80\x02N."}}), why));
  // torch.save and TorchScript archives of torch 1.13 keep it at `version`.
  EXPECT_TRUE(TorchRecordProblems({{"data.pkl", "\x80\x02N."}, {"version", "3\n"}}).empty());
  EXPECT_TRUE(OneProblemSaying(
      TorchRecordProblems({{".data/extern_modules", "\n"}, {".data/version", "99\n"}}),
      "record 't/.data/version': version 99, and torch loads 1 to 10"));
  EXPECT_TRUE(OneProblemSaying(
      TorchRecordProblems({{".data/extern_modules", "\n"}, {".data/version", "six"}}),
      "record 't/.data/version': not a number"));
}

TEST(TorchRecordsTest, ExternModulesThatAreNoListOfModuleNamesAreRefused) {
  auto with_externs = [](const std::string& text) {
    return TorchRecordProblems({{".data/extern_modules", text}, {".data/version", "6\n"}});
  };
  EXPECT_TRUE(with_externs("\n").empty());
  EXPECT_TRUE(with_externs("os\nnumpy.linalg\r\n_private\n").empty());
  EXPECT_TRUE(OneProblemSaying(with_externs(std::string("\x89PNG\r\n\x1a\n\xff\xfe", 10)),
                               "record 't/.data/extern_modules': not UTF-8 (byte 0), torch's "
                               "PackageImporter cannot decode it"));
  EXPECT_TRUE(OneProblemSaying(with_externs(std::string(100 * 1024, 'a')),
                               "record 't/.data/extern_modules': 102400 bytes, more than the "
                               "65536"));
  EXPECT_TRUE(OneProblemSaying(with_externs("os\nos; import x\n"),
                               "line 2 is not a dotted module name ('os; import x')"));
  EXPECT_TRUE(OneProblemSaying(with_externs("a..b\n"), "line 1 is not a dotted module name"));
  EXPECT_TRUE(OneProblemSaying(with_externs("1a\n"), "line 1 is not a dotted module name"));
}

// ---------------------------------------------------------------- analysis bound

class HugeRecord : public RecordSource {
 public:
  std::vector<std::string> RecordNames() const override { return {"big.py"}; }
  std::string ReadRecord(const std::string&) const override {
    ADD_FAILURE() << "read although too large";
    return {};
  }
  uint64_t RecordSize(const std::string&) const override { return kMaxAnalysedRecordBytes + 1; }
  bool knows_sizes() const override { return true; }
};

TEST(AnalysisBoundTest, ARecordLargerThanTheBoundIsRefusedBeforeItIsRead) {
  try {
    ReadForAnalysis(HugeRecord(), "big.py");
    FAIL() << "read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUnsupported);
    EXPECT_EQ(std::string(e.what()),
              "record 'big.py': 67108865 bytes, and the analysis reads at most 64 MiB of one "
              "record");
  }
}

// The scans over an open archive (tpkg scan, inspect, pickles, tensors) go by
// the central directory's size, before inflating anything.
TEST(AnalysisBoundTest, AnArchiveEntryLargerThanTheBoundIsRefusedBeforeItIsInflated) {
  TempDir dir;
  const ZipReader zip = ZipReader::Open(dir.Write("d.pt", DeflatedArchive()));
  ZipEntry claimed = *zip.Find("model.py");
  EXPECT_EQ(ReadForAnalysis(zip, claimed), zip.ReadAll(claimed));
  claimed.size = kMaxAnalysedRecordBytes + 1;
  try {
    ReadForAnalysis(zip, claimed);
    FAIL() << "read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUnsupported);
    EXPECT_EQ(std::string(e.what()),
              "record 'model.py': 67108865 bytes, and the analysis reads at most 64 MiB of one "
              "record");
  }
}

}  // namespace
}  // namespace tpkg
