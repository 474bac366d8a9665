// Tests of tpkg::ZipReader: the corpus (cross-checked against libzip), one
// hostile archive per refusal reason (a valid archive from the writer with
// specific bytes corrupted), reads of stored and deflated records.
#include "tpkg/zip_reader.h"

#include <gtest/gtest.h>

#include <functional>
#include <numeric>

#include "tpkg/error.h"
#include "json_lite.h"
#include "tpkg/zip_writer.h"
#include "zip_hostile_util.h"
#include "zip_test_util.h"

namespace tpkg {
namespace {

using namespace tpkg::testing;

// ---------------------------------------------------------------- corpus

TEST(ZipReaderTest, ReadsEveryValidCorpusArchiveLikeLibzip) {
  for (const auto& name : ValidCorpus()) {
    SCOPED_TRACE(name);
    const ZipReader zip = ZipReader::Open(CorpusPath(name));
    const auto expected = ReadWithLibzip(CorpusPath(name));
    ASSERT_EQ(zip.entries().size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      const ZipEntry& e = zip.entries()[i];
      SCOPED_TRACE(e.full_name);
      EXPECT_EQ(e.full_name, expected[i].name);
      EXPECT_EQ(e.size, expected[i].size);
      EXPECT_EQ(e.compressed_size, expected[i].compressed_size);
      EXPECT_EQ(e.crc32, expected[i].crc);
      EXPECT_EQ(e.method, expected[i].method);
      EXPECT_EQ(zip.ReadAll(e), expected[i].data);
    }
  }
}

TEST(ZipReaderTest, StripsThePrefixFolderOfTheFirstRecord) {
  struct Case {
    std::string archive, prefix, first_record;
  };
  const std::vector<Case> cases = {
      {"pkg_minimal_text_only.pt", "pkg_minimal_text_only", "notes/readme.txt"},
      {"pkg_dtypes.pt", "archive", ".data/0.storage"},         // written to a BytesIO
      {"pkg_deflated_by_zip_tool.pt", "pkg_model_numpy", ""},  // the folder's own entry
      {"torch_save_checkpoint.pth", "torch_save_checkpoint", "data.pkl"},
  };
  for (const auto& c : cases) {
    const ZipReader zip = ZipReader::Open(CorpusPath(c.archive));
    EXPECT_EQ(zip.prefix(), c.prefix) << c.archive;
    EXPECT_EQ(zip.entries().front().name, c.first_record) << c.archive;
    for (const auto& e : zip.entries()) EXPECT_EQ(c.prefix + "/" + e.name, e.full_name);
  }
}

TEST(ZipReaderTest, ListsRecordsInCentralDirectoryOrder) {
  const ZipReader zip = ZipReader::Open(CorpusPath("pkg_minimal_text_only.pt"));
  std::vector<std::string> names;
  for (const auto& e : zip.entries()) names.push_back(e.name);
  // What the stack's own torch listed (PyTorchStreamReader.get_all_records): torch 2.x
  // adds `byteorder` and `.data/serialization_id` after torch 1.13's four records.
  const testing::Json expected = testing::ReadJsonFile(
      std::string(TPKG_CORPUS_DIR) + "/pkg_minimal_text_only.pt.expected.json");
  EXPECT_EQ(names, expected["torch_reader"]["get_all_records"].Strings());
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 4),
            (std::vector<std::string>{"notes/readme.txt", ".data/extern_modules",
                                      ".data/python_version", ".data/version"}));
  EXPECT_EQ(zip.ReadAll(*zip.Find(".data/version")), "6\n");
  EXPECT_EQ(zip.ReadAll(*zip.Find("notes/readme.txt")), "only a text resource\n");
}

TEST(ZipReaderTest, TorchWrittenDataIs64ByteAlignedAndOnePreadAway) {
  for (const auto& name : kTorchWritten) {
    const ZipReader zip = ZipReader::Open(CorpusPath(name));
    const std::string bytes = ReadFile(CorpusPath(name));
    for (const auto& e : zip.entries()) {
      EXPECT_EQ(e.data_offset % 64, 0u) << name << " " << e.name;
      if (e.method == kMethodStored) {
        EXPECT_EQ(bytes.substr(e.data_offset, e.size), zip.ReadAll(e)) << name << " " << e.name;
      }
    }
  }
}

TEST(ZipReaderTest, ReadsTheZipToolArchiveWithDirectoriesDeflateAndNoDescriptors) {
  const ZipReader zip = ZipReader::Open(CorpusPath("pkg_deflated_by_zip_tool.pt"));
  const ZipReader original = ZipReader::Open(CorpusPath("pkg_model_numpy.pt"));
  size_t deflated = 0, directories = 0;
  for (const auto& e : zip.entries()) {
    deflated += e.method == kMethodDeflate;
    directories += e.is_directory();
    if (e.is_directory()) continue;
    const ZipEntry* same = original.Find(e.name);
    ASSERT_NE(same, nullptr) << e.name;
    EXPECT_EQ(zip.ReadAll(e), original.ReadAll(*same)) << e.name;
  }
  EXPECT_GT(deflated, 0u);
  EXPECT_GT(directories, 0u);
  ASSERT_NE(zip.Find(".data/"), nullptr);
  EXPECT_TRUE(zip.Find(".data/")->is_directory());
}

TEST(ZipReaderTest, RefusesTheCorpusArchiveWithRecordsOutsideThePrefix) {
  try {
    ZipReader::Open(CorpusPath("bad_no_prefix.zip"));
    FAIL() << "opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt);
    const std::string what = e.what();
    EXPECT_NE(what.find("bad_no_prefix.zip: record '.data/extern_modules'"), std::string::npos)
        << what;
    EXPECT_NE(what.find("outside the prefix folder 'notes/'"), std::string::npos) << what;
  }
}

// ---------------------------------------------------------------- lookup

TEST(ZipReaderTest, FindIsExactAndCaseSensitive) {
  const ZipReader zip = ZipReader::Open(CorpusPath("pkg_resources.pt"));
  struct Case {
    std::string record;
    bool found;
  };
  for (const auto& c : std::vector<Case>{{".data/version", true},
                                         {".DATA/VERSION", false},
                                         {"version", false},
                                         {"pkg_resources/.data/version", false},
                                         {"", false}}) {
    const ZipEntry* e = zip.Find(c.record);
    EXPECT_EQ(e != nullptr, c.found) << c.record;
    if (e) {
      EXPECT_EQ(e->name, c.record);
    }
  }
}

// ---------------------------------------------------------------- hostile archives

using Mutation = std::function<void(std::string&)>;

struct HostileCase {
  std::string name;
  std::function<std::string()> base;
  Mutation mutate;
  Errc code;
  std::string reason;  // a substring of the message
  bool lenient_opens;  // ZipReaderOptions{.strict = false} accepts it
};

std::vector<HostileCase> HostileCases() {
  const auto base = BaseArchive;
  const auto deflated = DeflatedArchive;
  const Errc kCorrupt = Errc::kCorrupt, kUnsupported = Errc::kUnsupported;
  return {
      {"TruncatedTail", base, [](auto& b) { b.resize(b.size() - 10); }, kCorrupt,
       "no end of central directory record", false},
      {"TruncatedHalf", base, [](auto& b) { b.resize(b.size() / 2); }, kCorrupt,
       "no end of central directory record", false},
      {"TrailingBytes", base, [](auto& b) { b += "junk"; }, kCorrupt,
       "no end of central directory record", false},
      {"NotAZip", base, [](auto& b) { b = "just some text that is long enough"; }, kCorrupt,
       "not a ZIP archive", false},
      {"TooShort", base, [](auto& b) { b = "PK"; }, kCorrupt, "too short", false},
      {"PreReleaseFormat", base, [](auto& b) { b.replace(0, 8, "PYTORCH1"); }, kUnsupported,
       "PYTORCH1", false},
      {"NoEntries", [] { return BuildArchive("p", {}); }, [](auto&) {}, kCorrupt,
       "does not contain any files", false},
      {"CentralDirectoryOutOfRange", base,
       [](auto& b) {
         Put32(b, EocdAt(b) + 16, Get32(b, EocdAt(b) + 16) + 1000);
         Put64(b, Zip64EocdAt(b) + 48, Get32(b, Zip64EocdAt(b) + 48) + 1000);
       },
       kCorrupt, "central directory out of range", false},
      {"MoreEntriesThanTheCentralDirectoryHolds", base,
       [](auto& b) {
         for (size_t at : {EocdAt(b) + 8, EocdAt(b) + 10}) Put16(b, at, Get16(b, at) + 1);
         for (size_t at : {Zip64EocdAt(b) + 24, Zip64EocdAt(b) + 32})
           Put64(b, at, Get32(b, at) + 1);
       },
       kCorrupt, "central directory entry #11: bad or truncated header", false},
      {"Zip64LocatorPointsElsewhere", base, [](auto& b) { Put64(b, LocatorAt(b) + 8, 0); },
       kCorrupt, "no ZIP64 end of central directory record where the locator points", false},
      {"MultiDisk", base, [](auto& b) { Put32(b, Zip64EocdAt(b) + 16, 1); }, kUnsupported,
       "multi-disk", false},
      {"EndRecordsDisagree", base, [](auto& b) { Put16(b, EocdAt(b) + 10, 5); }, kCorrupt,
       "disagrees with the ZIP64 end record", true},
      {"Zip64ExtraMissing", base,
       [](auto& b) { Put32(b, CentralAt(b, "p/dup1") + 24, 0xffffffff); }, kCorrupt,
       "record 'p/dup1': ZIP64 extra field missing", false},
      {"DuplicateName", base, [](auto& b) { Rename(b, "p/dup2", "p/dup1"); }, kCorrupt,
       "record 'p/dup1': duplicate name", true},
      {"NamesDifferingOnlyInCase", base, [](auto& b) { Rename(b, "p/dup2", "p/DUP1"); }, kCorrupt,
       "differs only in case", true},
      {"FileAndFolder", base, [](auto& b) { Rename(b, "p/sux/f", "p/sub/f"); }, kCorrupt,
       "record 'p/sub': is both a file and a folder (see 'p/sub/f')", true},
      {"AbsoluteName", base, [](auto& b) { Rename(b, "p/abs", "//abs"); }, kCorrupt,
       "record '//abs': absolute name", true},
      {"DotDotComponent", base, [](auto& b) { Rename(b, "p/d/xx/e", "p/d/../e"); }, kCorrupt,
       "record 'p/d/../e': '..' path component", true},
      {"DotComponent", base, [](auto& b) { Rename(b, "p/d/xx/e", "p/d/./xe"); }, kCorrupt,
       "'.' path component", true},
      {"EmptyComponent", base, [](auto& b) { Rename(b, "p/d/xx/e", "p/d//xxe"); }, kCorrupt,
       "empty path component", true},
      {"NulComponent", base, [](auto& b) { Rename(b, "p/d/xx/e", std::string("p/d/x\0/e", 8)); },
       kCorrupt, "record 'p/d/x\\x00/e': name contains a NUL byte", true},
      {"OutsideThePrefixFolder", base, [](auto& b) { Rename(b, "p/outx", "q/outx"); }, kCorrupt,
       "record 'q/outx': outside the prefix folder 'p/'", true},
      {"FirstRecordNotInAFolder", base, [](auto& b) { Rename(b, "p/first.txt", "p_first.txt"); },
       kCorrupt, "record 'p_first.txt': first record is not in a prefix folder", true},
      {"LocalNameDisagrees", base, [](auto& b) { b.replace(b.find("p/dup1"), 6, "p/dupX"); },
       kCorrupt, "local header disagrees with the central directory (name 'p/dupX')", true},
      {"LocalMethodDisagrees", base, [](auto& b) { Put16(b, LocalAt(b, "p/dup1") + 8, 8); },
       kCorrupt, "local header disagrees with the central directory (compression method)", true},
      {"LocalFlagsDisagree", base, [](auto& b) { Put16(b, LocalAt(b, "p/dup1") + 6, 0x0800); },
       kCorrupt, "local header disagrees with the central directory (flags)", true},
      {"LocalCrcDisagrees", base, [](auto& b) { Put32(b, LocalAt(b, "p/dup1") + 14, 0x1234); },
       kCorrupt, "local header disagrees with the central directory (CRC-32)", true},
      {"OverlappingRecords", base,
       [](auto& b) {
         for (size_t at : {20, 24}) Put32(b, CentralAt(b, "p/data.bin") + at, 250);
       },
       kCorrupt, "record 'p/dup1': overlaps record 'p/data.bin'", false},
      {"LocalHeaderTheDirectoryDoesNotList", base, [](auto& b) { Unlist(b, "p/dup2"); },
       kCorrupt,
       "64 bytes at offset 403 before record 'p/sub' belong to no record (a local header the "
       "central directory does not list)",
       true},
      {"DataBetweenRecords", base,
       [](auto& b) {
         Unlist(b, "p/dup2");
         Put32(b, LocalAt(b, "p/dup2"), 0x12345678);
       },
       kCorrupt, "before record 'p/sub' belong to no record (data outside any record)", true},
      {"DataDescriptorDisagrees", base,
       [](auto& b) { Put32(b, DataAt(b, "p/dup1") + 3 + 8, 300); }, kCorrupt,
       "record 'p/dup1': data descriptor disagrees with the central directory", true},
      {"DataDescriptorMissing", base,
       [](auto& b) {
         Put16(b, LocalAt(b, "p/empty") + 6, 0x0808);
         Put16(b, CentralAt(b, "p/empty") + 8, 0x0808);
       },
       kCorrupt, "record 'p/empty': data descriptor missing", true},
      {"CentralExtraBlockRunsPastTheField", base,
       [](auto& b) {
         Put16(b, CentralAt(b, "p/d/xx/e") + 28, 4);
         Put16(b, CentralAt(b, "p/d/xx/e") + 30, 4);
       },
       kCorrupt,
       "record 'p/d/': central directory extra block 0x7878 at byte 0 declares 25903 bytes, "
       "and only 0 remain",
       true},
      {"DataPastTheEndOfTheFile", base,
       [](auto& b) {
         for (size_t at : {20, 24}) Put32(b, CentralAt(b, "p/data.bin") + at, 0x10000000);
       },
       kCorrupt, "record 'p/data.bin': data runs past the end of the file", false},
      {"LocalHeaderPastTheEnd", base,
       [](auto& b) { Put32(b, CentralAt(b, "p/dup1") + 42, 0x7ffffff0); }, kCorrupt,
       "past the end of the file", false},
      {"NoLocalHeaderWhereTheDirectoryPoints", base,
       [](auto& b) {
         Put32(b, CentralAt(b, "p/dup1") + 42, Get32(b, CentralAt(b, "p/dup1") + 42) + 1);
       },
       kCorrupt, "record 'p/dup1': no local header at offset", false},
      {"Encrypted", base,
       [](auto& b) {
         Put16(b, LocalAt(b, "p/dup1") + 6, Get16(b, LocalAt(b, "p/dup1") + 6) | 1);
         Put16(b, CentralAt(b, "p/dup1") + 8, Get16(b, CentralAt(b, "p/dup1") + 8) | 1);
       },
       kUnsupported, "record 'p/dup1': encrypted records are not supported", false},
      {"UnsupportedCompression", base,
       [](auto& b) {
         Put16(b, LocalAt(b, "p/dup1") + 8, 12);
         Put16(b, CentralAt(b, "p/dup1") + 10, 12);
       },
       kUnsupported, "record 'p/dup1': compression method 12 is not supported", false},
      {"StoredSizesDisagree", base, [](auto& b) { Put32(b, CentralAt(b, "p/dup1") + 20, 2); },
       kCorrupt, "stored record whose compressed size differs from its size", false},
      {"ImpossibleDeflateRatio", deflated,
       [](auto& b) { Put32(b, CentralAt(b, "p/model.py") + 24, 2000000); }, kCorrupt,
       "claims a size deflate cannot reach", false},
  };
}

void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }

class ZipReaderHostileTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(ZipReaderHostileTest, IsRefusedWithArchiveRecordAndReason) {
  const HostileCase& c = GetParam();
  TempDir dir;
  std::string bytes = c.base();
  c.mutate(bytes);
  const std::string path = dir.Write("hostile.pt", bytes);
  try {
    ZipReader::Open(path);
    FAIL() << "opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), c.code) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.reason), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line";
  }
}

TEST_P(ZipReaderHostileTest, CheckArchiveReportsTheSameReason) {
  const HostileCase& c = GetParam();
  TempDir dir;
  std::string bytes = c.base();
  c.mutate(bytes);
  const auto problems = CheckArchive(dir.Write("hostile.pt", bytes));
  ASSERT_FALSE(problems.empty());
  bool mentioned = false;
  for (const auto& p : problems)
    mentioned |= std::string(p.what()).find(c.reason) != std::string::npos;
  EXPECT_TRUE(mentioned) << problems.front().what();
}

TEST_P(ZipReaderHostileTest, LenientModeRefusesOnlyWhatCannotBeRead) {
  const HostileCase& c = GetParam();
  TempDir dir;
  std::string bytes = c.base();
  c.mutate(bytes);
  const std::string path = dir.Write("hostile.pt", bytes);
  if (c.lenient_opens) {
    EXPECT_NO_THROW(ZipReader::Open(path, {.strict = false}));
  } else {
    EXPECT_THROW(ZipReader::Open(path, {.strict = false}), Error);
  }
}

INSTANTIATE_TEST_SUITE_P(EachRefusal, ZipReaderHostileTest, ::testing::ValuesIn(HostileCases()),
                         [](const auto& info) { return info.param.name; });

TEST(ZipReaderTest, TheUnmodifiedBaseArchivesAreValid) {
  TempDir dir;
  EXPECT_TRUE(CheckArchive(dir.Write("base.pt", BaseArchive())).empty());
  EXPECT_TRUE(CheckArchive(dir.Write("deflated.pt", DeflatedArchive())).empty());
}

TEST(ZipReaderTest, CheckArchiveListsEveryProblemNotJustTheFirst) {
  TempDir dir;
  std::string b = BaseArchive();
  Rename(b, "p/dup2", "p/dup1");
  Rename(b, "p/outx", "q/outx");
  b[DataAt(b, "p/data.bin") + 5] ^= 1;
  const auto problems = CheckArchive(dir.Write("three.pt", b));
  ASSERT_EQ(problems.size(), 3u);
  std::string all;
  for (const auto& p : problems) all += std::string(p.what()) + "\n";
  EXPECT_NE(all.find("duplicate name"), std::string::npos) << all;
  EXPECT_NE(all.find("outside the prefix folder"), std::string::npos) << all;
  EXPECT_NE(all.find("'p/data.bin': CRC-32 mismatch"), std::string::npos) << all;
}

TEST(ZipReaderTest, FileProblemsAreErrorsWithErrno) {
  TempDir dir;
  struct Case {
    std::string path;
    Errc code;
  };
  for (const auto& c :
       std::vector<Case>{{dir.Path("missing.pt"), Errc::kNotFound}, {dir.Path(""), Errc::kIsDir}}) {
    try {
      ZipReader::Open(c.path);
      FAIL() << c.path;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), c.code) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.path), std::string::npos);
    }
    ASSERT_EQ(CheckArchive(c.path).size(), 1u);
  }
}

// ---------------------------------------------------------------- reading data

struct ReadCase {
  std::string name;
  std::function<std::string()> base;
  Mutation mutate;
  std::string record;
  std::string reason;
};

std::vector<ReadCase> BadDataCases() {
  return {
      {"StoredCrcMismatch", BaseArchive, [](auto& b) { b[DataAt(b, "p/data.bin")] ^= 1; },
       "data.bin", "record 'p/data.bin': CRC-32 mismatch"},
      {"DeflatedCrcMismatch", DeflatedArchive,
       [](auto& b) {
         Put32(b, CentralAt(b, "p/model.py") + 16, 0x12345678);
         Put32(b, DescriptorAt(b, "p/model.py") + 4, 0x12345678);  // consistent headers
       },
       "model.py",
       "CRC-32 mismatch (archive says 12345678"},
      {"DeflatedLongerThanItsSize", DeflatedArchive,
       [](auto& b) {
         Put32(b, CentralAt(b, "p/model.py") + 24, Get32(b, CentralAt(b, "p/model.py") + 24) - 1);
         Put32(b, DescriptorAt(b, "p/model.py") + 12, Get32(b, CentralAt(b, "p/model.py") + 24));
       },
       "model.py", "inflates to more bytes than its size"},
      {"DeflatedShorterThanItsSize", DeflatedArchive,
       [](auto& b) {
         Put32(b, CentralAt(b, "p/model.py") + 24, Get32(b, CentralAt(b, "p/model.py") + 24) + 1);
         Put32(b, DescriptorAt(b, "p/model.py") + 12, Get32(b, CentralAt(b, "p/model.py") + 24));
       },
       "model.py", "inflates to fewer bytes than its size"},
      {"DeflateGarbage", DeflatedArchive,
       [](auto& b) { b.replace(DataAt(b, "p/model.py"), 8, 8, '\xff'); }, "model.py",
       "record 'p/model.py': "},
  };
}

void PrintTo(const ReadCase& c, std::ostream* os) { *os << c.name; }

class ZipReaderBadDataTest : public ::testing::TestWithParam<ReadCase> {};

TEST_P(ZipReaderBadDataTest, OpensButReadAllRefusesTheData) {
  const ReadCase& c = GetParam();
  TempDir dir;
  std::string bytes = c.base();
  c.mutate(bytes);
  const ZipReader zip = ZipReader::Open(dir.Write("bad.pt", bytes));
  try {
    zip.ReadAll(*zip.Find(c.record));
    FAIL() << "read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.reason), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(EachDefect, ZipReaderBadDataTest, ::testing::ValuesIn(BadDataCases()),
                         [](const auto& info) { return info.param.name; });

// Every (offset, length) window of ReadAt equals the same slice of ReadAll.
TEST(ZipReaderTest, ReadAtReturnsTheSliceOfStoredAndDeflatedRecords) {
  const ZipReader zip = ZipReader::Open(CorpusPath("pkg_deflated_by_zip_tool.pt"));
  for (const std::string record : {"corpus_models/model.py", ".data/version", ".data/0.storage"}) {
    const ZipEntry& e = *zip.Find(record);
    const std::string whole = zip.ReadAll(e);
    for (uint64_t offset : {uint64_t{0}, uint64_t{1}, e.size / 2, e.size - 1, e.size, e.size + 7}) {
      for (size_t len : {size_t{1}, size_t{5}, size_t{100}, size_t{4096}}) {
        std::string out(len, '?');
        const size_t n = zip.ReadAt(e, offset, out);
        const std::string expected = offset < whole.size() ? whole.substr(offset, len) : "";
        EXPECT_EQ(out.substr(0, n), expected) << record << " @" << offset << "+" << len;
      }
    }
  }
}

TEST(ZipReaderTest, RecordStreamDeliversTheRecordInSmallReads) {
  for (const auto& archive : {"pkg_deflated_by_zip_tool.pt", "pkg_torchscript.pt"}) {
    const ZipReader zip = ZipReader::Open(CorpusPath(archive));
    for (const auto& e : zip.entries()) {
      RecordStream in(zip, e);
      std::string got;
      char buf[7];
      while (size_t n = in.Read(buf)) got.append(buf, n);
      EXPECT_EQ(got, zip.ReadAll(e)) << archive << " " << e.name;
      EXPECT_EQ(in.position(), e.size);
    }
  }
}

TEST(ZipReaderTest, RecordStreamSkipThenReadMatchesTheTail) {
  const ZipReader zip = ZipReader::Open(CorpusPath("pkg_torchscript.pt"));
  for (const auto& e : zip.entries()) {
    const std::string whole = zip.ReadAll(e);
    RecordStream in(zip, e);
    EXPECT_EQ(in.Skip(e.size / 3), e.size / 3);
    std::string tail(whole.size(), '\0');
    size_t got = 0;
    while (size_t n = in.Read(std::span(tail).subspan(got, std::max<size_t>(1, tail.size() - got))))
      got += n;
    EXPECT_EQ(tail.substr(0, got), whole.substr(e.size / 3)) << e.name;
  }
}

}  // namespace
}  // namespace tpkg
