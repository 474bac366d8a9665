// Tests of tpkg::ZipReader: the corpus (cross-checked against libzip), one
// hostile archive per refusal reason (a valid archive from the writer with
// specific bytes corrupted), reads of stored and deflated records.
#include "tpkg/zip_reader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
#include <numeric>

#include "tpkg/error.h"
#include "json_lite.h"
#include "tpkg/zip_writer.h"
#include "zip_hostile_cases.h"
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

// One file, two archives: the end record other ZIP tools read (its comment
// reaching exactly to the end of the file) lists every record; a second end
// record inside that comment, with a ZIP64 end record of its own, lists all
// but the first. Torch's reader takes the last end record with 22 bytes after
// it: the lenient reader reads what torch reads, strict mode refuses the file.
TEST(ZipReaderTest, ReadsTheEndRecordTorchReadsWhenTwoDisagree) {
  std::string b = BaseArchive();
  const std::string eocd = b.substr(EocdAt(b), 22);
  std::string zip64 = b.substr(Zip64EocdAt(b), 56);
  std::string locator = b.substr(LocatorAt(b), 20);
  const uint64_t first_header = 46 + Get16(b, CentralAt(b, "p/first.txt") + 28);
  Put64(zip64, 24, Get64(zip64, 24) - 1);             // entries on this disk
  Put64(zip64, 32, Get64(zip64, 32) - 1);             // entries
  Put64(zip64, 40, Get64(zip64, 40) - first_header);  // central directory size
  Put64(zip64, 48, Get64(zip64, 48) + first_header);  // and offset
  Put64(locator, 8, b.size());                        // where `zip64` lands
  const std::string hidden = zip64 + locator + eocd + "JUNKJUNK";
  Put16(b, EocdAt(b) + 20, static_cast<uint16_t>(hidden.size()));
  b += hidden;

  TempDir dir;
  const std::string path = dir.Write("two_archives.pt", b);
  const ZipReader torchs = ZipReader::Open(path, {.strict = false});
  EXPECT_EQ(torchs.Find("first.txt"), nullptr);
  ASSERT_NE(torchs.Find("data.bin"), nullptr);
  EXPECT_EQ(torchs.entries().size(), 10u);
  try {
    ZipReader::Open(path);
    FAIL() << "strict mode opened a file that holds two archives";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("8 bytes after the end of central directory record"),
              std::string::npos)
        << e.what();
  }
}

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
    // Nothing to check: thrown the same way, not listed as a problem.
    try {
      CheckArchive(c.path);
      FAIL() << c.path;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), c.code) << e.what();
    }
  }
}

TEST(ZipReaderTest, AFifoIsRefusedWithoutWaitingForAWriter) {
  TempDir dir;
  const std::string fifo = dir.Path("model.pt");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  try {
    ZipReader::Open(fifo);  // blocked in open() before O_NONBLOCK
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), fifo + ": is a FIFO, not an archive");
  }
}

TEST(ZipReaderTest, NamesALegacyTorchSaveFileOnlyWhenItIsNoZip) {
  TempDir dir;
  // PROTO 2, then torch's magic number as a LONG1: what torch.save(...,
  // _use_new_zipfile_serialization=False) writes first.
  const std::string legacy_head("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  const std::string legacy = dir.Write("legacy.pt", legacy_head + std::string(600, '\0'));
  for (const bool strict : {true, false}) {
    try {
      ZipReader::Open(legacy, ZipReaderOptions{.strict = strict});
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kUnsupported);
      EXPECT_EQ(std::string(e.what()),
                legacy +
                    ": a legacy torch.save file (PyTorch < 1.6), not a ZIP archive; "
                    "torch.save(torch.load(f), g) rewrites it as one");
    }
  }
  // Anything else that is no ZIP keeps the ZIP reader's own reason.
  const std::string other = dir.Write("other.pt", std::string(600, 'x'));
  try {
    ZipReader::Open(other);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt);
    EXPECT_EQ(std::string(e.what()).find("legacy"), std::string::npos) << e.what();
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
