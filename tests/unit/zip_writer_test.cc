// Tests of tpkg::ZipWriter: byte-identical rebuilds of the torch-written
// corpus, torch's layout rules (alignment, descriptors, ZIP64), refusals,
// raw copies, more than 65,535 records (their end records in the default
// tier, a whole archive of 70,000 with TPKG_SLOW=1), and archives past 4 GiB
// (a sparse one in the default tier, a real one with TPKG_SLOW=1).
#include "tpkg/zip_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>

#include "base/scoped_fd.h"
#include "slow_tier.h"
#include "tpkg/error.h"
#include "zip/zip_layout.h"
#include "zip_test_util.h"

namespace tpkg {
namespace {

using namespace tpkg::testing;

constexpr uint64_t k4GiB = uint64_t{1} << 32;

// Rebuilds `src` record by record: stored records from their decoded bytes
// (as check_zip_recipe.py does), deflated ones copied raw.
void Rebuild(const ZipReader& src, ZipWriter& w, bool copy_everything_raw) {
  for (const auto& e : src.entries()) {
    if (copy_everything_raw || e.method == kMethodDeflate) {
      w.CopyRawRecord(src, e);
    } else {
      w.AddRecord(e.name, src.ReadAll(e));
    }
  }
  w.Finish();
}

// ---------------------------------------------------------------- byte identity

TEST(ZipWriterTest, RebuildsEveryTorchWrittenCorpusArchiveByteForByte) {
  for (const auto& name : kTorchWritten) {
    const ZipReader src = ZipReader::Open(CorpusPath(name));
    std::string out;
    ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), src.prefix());
    Rebuild(src, w, /*copy_everything_raw=*/false);
    EXPECT_TRUE(out == ReadFile(CorpusPath(name))) << name << " differs";
  }
}

// The same through a file descriptor: raw copies go through copy_file_range,
// or, on an O_APPEND descriptor (which the kernel refuses), pread/write.
TEST(ZipWriterTest, RawCopiesToAFileRebuildTheCorpusByteForByte) {
  TempDir dir;
  for (const int extra_flags : {0, O_APPEND}) {
    for (const auto& name : kTorchWritten) {
      const ZipReader src = ZipReader::Open(CorpusPath(name));
      const std::string path = dir.Path(name + std::to_string(extra_flags));
      ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | extra_flags, 0644));
      ASSERT_TRUE(fd.valid());
      ZipWriter w = ZipWriter::ToFd(fd.get(), src.prefix());
      Rebuild(src, w, /*copy_everything_raw=*/true);
      EXPECT_TRUE(ReadFile(path) == ReadFile(CorpusPath(name))) << name << " flags " << extra_flags;
    }
  }
}

TEST(ZipWriterTest, CreateWritesTheFileAndRefusesToClobberUnlessAsked) {
  TempDir dir;
  const std::string path = dir.Path("minimal.pt");
  const ZipReader src = ZipReader::Open(CorpusPath("pkg_minimal_text_only.pt"));
  {
    ZipWriter w = ZipWriter::Create(path, src.prefix());
    Rebuild(src, w, false);
  }
  EXPECT_TRUE(ReadFile(path) == ReadFile(CorpusPath("pkg_minimal_text_only.pt")));
  try {
    ZipWriter::Create(path, "x");
    FAIL() << "clobbered";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kExists);
  }
  ZipWriter w = ZipWriter::Create(path, "x", /*overwrite=*/true);
  w.AddRecord("a", "b");
  w.Finish();
  EXPECT_EQ(ZipReader::Open(path).prefix(), "x");
}

// ---------------------------------------------------------------- layout rules

TEST(ZipWriterTest, AlignmentPaddingFollowsTorchsFormula) {
  struct Case {
    uint64_t offset;
    size_t name_size;
    uint64_t size;
    size_t pad;
  };
  // doc/format.md §2.8 and the ZIP64 observations; the boundary is ">= 0xFFFFFFFF".
  const std::vector<Case> cases = {
      {0, 38, 21, 56},              // pkg_minimal_text_only: data at 128
      {165, 42, 1, 15},             // its .data/extern_modules: data at 256
      {0, 19, 4294967396, 55},      // 4 GiB + 100 record: ZIP64 sizes, data at 128
      {0xfffffffe, 10, 5, 22},      // just below: no ZIP64 block
      {0xffffffff, 10, 5, 9},       // at the boundary: ZIP64 offset block
      {k4GiB, 10, 5, 8},            // past it
      {k4GiB, 10, 4294967295, 56},  // both blocks: 4 + 16 + 8 bytes
  };
  for (const auto& c : cases) {
    const RecordLayout r{std::string(c.name_size, 'n'), c.offset, c.size, c.size, 0, kMethodStored};
    EXPECT_EQ(AlignmentPadding(r), c.pad) << c.offset << " " << c.name_size << " " << c.size;
    std::string header;
    AppendLocalHeader(header, r);
    EXPECT_EQ((c.offset + header.size()) % 64, 0u);
  }
}

TEST(ZipWriterTest, Zip64BlocksAreMinizsExceptTheDeferredLocalSizes) {
  // doc/format.md §2.8: a 4 GiB + 100 record at 0, then a record past 4 GiB.
  const RecordLayout big{"p/.data/0.storage", 0, 4294967396, 4294967396, 7, kMethodStored};
  std::string local, descriptor, central;
  AppendLocalHeader(local, big);
  AppendDataDescriptor(descriptor, big);
  AppendCentralHeader(central, big);
  // The local sizes point at the ZIP64 block, which defers them to the descriptor as the CRC
  // is (miniz writes 32-bit zeros and [size, 0], which libzip 1.11 refuses; zip_layout.cc).
  EXPECT_EQ(Get32(local, 14), 0u);
  EXPECT_EQ(Get32(local, 18), 0xffffffffu);
  EXPECT_EQ(Get32(local, 22), 0xffffffffu);
  const size_t extra = 30 + big.full_name.size();
  EXPECT_EQ(local.substr(extra, 4), std::string("\x01\x00\x10\x00", 4));
  EXPECT_EQ(local.substr(extra + 4, 16), std::string(16, '\0'));
  EXPECT_EQ(local.substr(extra + 20, 2), "FB");
  EXPECT_EQ(descriptor.size(), 24u);
  EXPECT_EQ(Get32(central, 20), 0xffffffffu);
  EXPECT_EQ(Get32(central, 24), 0xffffffffu);
  EXPECT_EQ(Get16(central, 30), 20u);  // ZIP64 block: sizes only

  const RecordLayout after{"p/x", k4GiB + 128, 16, 16, 7, kMethodStored};
  local.clear(), descriptor.clear(), central.clear();
  AppendLocalHeader(local, after);
  AppendDataDescriptor(descriptor, after);
  AppendCentralHeader(central, after);
  EXPECT_EQ(Get32(local, 18) | Get32(local, 22), 0u);  // sizes that fit stay 0, as miniz writes
  EXPECT_EQ(local.substr(33, 4), std::string("\x01\x00\x08\x00", 4));
  EXPECT_EQ(descriptor.size(), 24u);  // even a 16-byte record past 4 GiB
  EXPECT_EQ(Get32(central, 42), 0xffffffffu);
  EXPECT_EQ(Get16(central, 30), 12u);  // ZIP64 block: offset only
}

TEST(ZipWriterTest, EveryRecordStartsOn64ByteBoundaryAndReadsBack) {
  std::vector<Record> records;
  for (int i = 1; i <= 80; ++i) {
    records.push_back({"dir/" + std::string(i, 'a' + i % 26) + std::to_string(i),
                       std::string(static_cast<size_t>(i * 37 % 200), static_cast<char>(i))});
  }
  TempDir dir;
  const ZipReader zip = ZipReader::Open(dir.Write("aligned.pt", BuildArchive("aligned", records)));
  ASSERT_EQ(zip.entries().size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const ZipEntry& e = zip.entries()[i];
    EXPECT_EQ(e.name, records[i].name);
    EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
    EXPECT_EQ(zip.ReadAll(e), records[i].data);
  }
}

TEST(ZipWriterTest, AnEmptyRecordHasFlags0x0800AndNoDescriptor) {
  const std::string b = BuildArchive("p", {{"empty", ""}, {"next", "x"}});
  EXPECT_EQ(Get16(b, 6), 0x0800);
  const size_t next = 30 + 7 + Get16(b, 28);  // right after the padding
  EXPECT_EQ(Get32(b, next), 0x04034b50u);
  EXPECT_EQ(Get16(b, next + 6), 0x0808);
}

TEST(ZipWriterTest, LibzipAndOurReaderAgreeOnTheOutput) {
  TempDir dir;
  const std::string path = dir.Write(
      "agree.pt",
      BuildArchive("agree", {{"a.txt", "alpha"}, {"b/c.bin", std::string(5000, 'c')}, {"e", ""}}));
  const auto libzip = ReadWithLibzip(path);
  const ZipReader zip = ZipReader::Open(path);
  ASSERT_EQ(libzip.size(), 3u);
  for (size_t i = 0; i < libzip.size(); ++i) {
    EXPECT_EQ(libzip[i].name, zip.entries()[i].full_name);
    EXPECT_EQ(libzip[i].data, zip.ReadAll(zip.entries()[i]));
  }
  EXPECT_TRUE(CheckArchive(path).empty());
}

// ---------------------------------------------------------------- sources of records

TEST(ZipWriterTest, AddRecordFromFdWritesTheSameBytesAsAddRecord) {
  TempDir dir;
  std::string payload(3 << 20, '\0');  // several stream chunks
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + i / 1000);
  const std::string source = dir.Write("source.bin", "head" + payload + "tail");
  ScopedFd fd(::open(source.c_str(), O_RDONLY));
  std::string streamed;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&streamed), "p");
  w.AddRecordFromFd("big.bin", fd.get(), 4, payload.size());
  w.AddRecord(".data/version", "6\n");
  w.Finish();
  EXPECT_TRUE(streamed == BuildArchive("p", {{"big.bin", payload}, {".data/version", "6\n"}}));
}

TEST(ZipWriterTest, AddRecordFromFdRefusesASourceThatEndsEarly) {
  TempDir dir;
  const std::string source = dir.Write("short.bin", "abc");
  ScopedFd fd(::open(source.c_str(), O_RDONLY));
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "p");
  EXPECT_THROW(w.AddRecordFromFd("x", fd.get(), 0, 10), Error);
}

TEST(ZipWriterTest, CopyRawRecordKeepsDeflatedBytesAndRenames) {
  const ZipReader src = ZipReader::Open(CorpusPath("pkg_deflated_by_zip_tool.pt"));
  TempDir dir;
  const std::string path = dir.Path("copied.pt");
  {
    ZipWriter w = ZipWriter::Create(path, "copied");
    w.CopyRawRecord(src, *src.Find("corpus_models/model.py"), "renamed/model.py");
    w.CopyRawRecord(src, *src.Find(".data/version"));
    w.Finish();
  }
  const ZipReader out = ZipReader::Open(path);
  const ZipEntry& e = *out.Find("renamed/model.py");
  const ZipEntry& orig = *src.Find("corpus_models/model.py");
  EXPECT_EQ(e.method, kMethodDeflate);
  EXPECT_EQ(e.data_offset % 64, 0u);
  std::string raw(e.compressed_size, '\0'), raw_orig(orig.compressed_size, '\0');
  ASSERT_EQ(::pread(out.fd(), raw.data(), raw.size(), e.data_offset), ssize_t(raw.size()));
  ASSERT_EQ(::pread(src.fd(), raw_orig.data(), raw_orig.size(), orig.data_offset),
            ssize_t(raw.size()));
  EXPECT_EQ(raw, raw_orig);
  EXPECT_EQ(out.ReadAll(e), src.ReadAll(orig));
  EXPECT_EQ(out.ReadAll(*out.Find(".data/version")), "6\n");
}

// ---------------------------------------------------------------- refusals

TEST(ZipWriterTest, RefusesNamesTheReaderWouldRefuse) {
  struct Case {
    std::vector<std::string> before;
    std::string record;
    Errc code;
  };
  const std::vector<Case> cases = {
      {{"a.py"}, "a.py", Errc::kExists},
      {{"res/a.txt"}, "RES/A.txt", Errc::kExists},
      {{"a/b"}, "a/b/c.py", Errc::kExists},
      {{"a/b/c.py"}, "a/b", Errc::kExists},
      {{"a/b/c.py"}, "A/B", Errc::kExists},
      {{}, "", Errc::kInvalidArgument},
      {{}, "dir/", Errc::kInvalidArgument},
      {{}, "../x", Errc::kInvalidArgument},
      {{}, "a/./x", Errc::kInvalidArgument},
      {{}, "a//b", Errc::kInvalidArgument},
      {{}, "/abs", Errc::kInvalidArgument},
      {{}, std::string("a\0b", 3), Errc::kInvalidArgument},
      // "p/" + this is 65,536 bytes: one more than a ZIP header can say.
      {{}, std::string(65534, 'n'), Errc::kInvalidArgument},
  };
  for (const auto& c : cases) {
    std::string out;
    ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "p");
    for (const auto& r : c.before) w.AddRecord(r, "x");
    try {
      w.AddRecord(c.record, "y");
      ADD_FAILURE() << "accepted " << c.record;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), c.code) << c.record << ": " << e.what();
    }
    w.AddRecord("still/usable", "z");  // a refused name writes nothing
    w.Finish();
    TempDir dir;
    EXPECT_TRUE(CheckArchive(dir.Write("x.pt", out)).empty()) << c.record;
  }
}

// Names claimed under folders registered before (the walk up a name's
// folders stops at the first one known): the clashes are still found at
// every depth, with the messages the reader's would give.
TEST(ZipWriterTest, RefusesClashesUnderFoldersAlreadyKnown) {
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "p");
  w.AddRecord("a/b/c/d.py", "1");
  w.AddRecord("a/b/e", "2");
  w.AddRecord("a/b/x/y/z.py", "3");  // a/b known: a/b/x and a/b/x/y registered now
  const auto refusal = [&w](const std::string& record) {
    try {
      w.AddRecord(record, "y");
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kExists) << record;
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refusal("a/b/e/f.py"),
            "cannot add record: 'a/b/e/f.py' needs 'a/b/e' as a folder, "
            "but it is a file");
  EXPECT_EQ(refusal("a/b/x/y"), "cannot add record: 'a/b/x/y' is already a folder");
  EXPECT_EQ(refusal("A/B/X/Y/Z.py"),
            "cannot add record: 'A/B/X/Y/Z.py' differs only in case from 'a/b/x/y/z.py'");
  EXPECT_EQ(refusal("a/b/x/y/z.py/w"),
            "cannot add record: 'a/b/x/y/z.py/w' needs "
            "'a/b/x/y/z.py' as a folder, but it is a file");
  w.AddRecord("a/b/x/q.py", "4");
  w.Finish();
  TempDir dir;
  EXPECT_TRUE(CheckArchive(dir.Write("x.pt", out)).empty());
}

TEST(ZipWriterTest, AcceptsNamesThatOnlyShareAFolderInAnotherCase) {
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "p");
  w.AddRecord("A/x.py", "1");
  w.AddRecord("a/y.py", "2");
  w.Finish();
  TempDir dir;
  EXPECT_TRUE(CheckArchive(dir.Write("x.pt", out)).empty());
}

TEST(ZipWriterTest, RefusesInvalidPrefixFolders) {
  for (const std::string& prefix :
       {std::string(""), std::string("a/b"), std::string(".."), std::string("x\0y", 3)}) {
    std::string out;
    EXPECT_THROW(ZipWriter::ToSink(std::make_unique<StringSink>(&out), prefix), Error) << prefix;
  }
}

TEST(ZipWriterTest, RefusesUseAfterFinish) {
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "p");
  w.AddRecord("a", "1");
  const uint64_t size = w.Finish();
  EXPECT_EQ(size, out.size());
  EXPECT_THROW(w.AddRecord("b", "2"), Error);
  EXPECT_THROW(w.Finish(), Error);
}

// A sink that fails after `budget` bytes, like a full disk.
class FullDiskSink : public ZipSink {
 public:
  explicit FullDiskSink(size_t budget) : budget_(budget) {}
  void Write(std::span<const char> bytes) override {
    if (bytes.size() > budget_) throw Error(Errc::kNoSpace, "disk full", ENOSPC);
    budget_ -= bytes.size();
  }

 private:
  size_t budget_;
};

TEST(ZipWriterTest, AFailedWriteMakesLaterCallsFail) {
  ZipWriter w = ZipWriter::ToSink(std::make_unique<FullDiskSink>(100), "p");
  try {
    w.AddRecord("big", std::string(2 << 20, 'x'));
    FAIL() << "wrote";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNoSpace);
  }
  EXPECT_THROW(w.AddRecord("small", "x"), Error);
  EXPECT_THROW(w.Finish(), Error);
}

// ---------------------------------------------------------------- prefix

TEST(ZipWriterTest, PrefixForPathIsTorchsBasenameRule) {
  // Observed with torch._C.PyTorchFileWriter (doc/format.md §2.1).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sub/model.pt", "model"},
      {"x.tar.gz", "x.tar"},
      {"a.b.c.zip", "a.b.c"},
      {"noext", "noext"},
      {"foo.", "foo"},
      {".hidden.pt", ".hidden"},
      {"weird name.pt", "weird name"},
      {"ünï.pt", "ünï"},
      {"a\\b.pt", "b"},
      {"..pt", "."},
      {"a..b", "a."},
  };
  for (const auto& [path, prefix] : cases) EXPECT_EQ(PrefixForPath(path), prefix) << path;
  for (const std::string bad : {".pt", ".hidden", "sub/", ""}) {
    EXPECT_THROW(PrefixForPath(bad), Error) << bad;
  }
}

// ---------------------------------------------------------------- ZIP64

// The end records for 70,000 records: the classic one clamps the counts to
// 0xffff, the ZIP64 one holds them (the whole archive: the slow tier below).
TEST(ZipWriterTest, MoreThan65535RecordsAreCountedInTheZip64EndRecord) {
  std::string out;
  AppendEndRecords(out, 70000, 0x123456, 0x7890);
  ASSERT_EQ(out.size(), 56u + 20u + 22u);  // ZIP64 record, ZIP64 locator, classic record
  EXPECT_EQ(Get32(out, 0), 0x06064b50u);
  EXPECT_EQ(Get32(out, 24), 70000u);     // records on this disk
  EXPECT_EQ(Get32(out, 32), 70000u);     // records in total
  EXPECT_EQ(Get32(out, 48), 0x123456u);  // central directory offset
  const size_t eocd = out.size() - 22;
  EXPECT_EQ(Get32(out, eocd), 0x06054b50u);
  EXPECT_EQ(Get16(out, eocd + 8), 0xffff);
  EXPECT_EQ(Get16(out, eocd + 10), 0xffff);
}

TEST(ZipWriterSlowTest, MoreThan65535RecordsUseTheZip64EndRecord) {
  TPKG_SLOW_TIER_ONLY();
  constexpr size_t kRecords = 70000;
  TempDir dir;
  const std::string path = dir.Path("many.pt");
  {
    ZipWriter w = ZipWriter::Create(path, "many");
    for (size_t i = 0; i < kRecords; ++i)
      w.AddRecord("r/" + std::to_string(i), std::to_string(i * i));
    w.Finish();
  }
  const std::string bytes = ReadFile(path);
  EXPECT_EQ(Get16(bytes, bytes.size() - 22 + 10), 0xffff);  // classic EOCD: clamped
  const ZipReader zip = ZipReader::Open(path);
  ASSERT_EQ(zip.entries().size(), kRecords);
  for (size_t i : {size_t{0}, size_t{65535}, size_t{65536}, kRecords - 1}) {
    const ZipEntry* e = zip.Find("r/" + std::to_string(i));
    ASSERT_NE(e, nullptr) << i;
    EXPECT_EQ(zip.ReadAll(*e), std::to_string(i * i));
  }
  EXPECT_EQ(ReadWithLibzip(path, /*read_data=*/false).size(), kRecords);
}

// CRC-32 of `n` zero bytes without reading them (zlib's crc32_combine).
uint32_t CrcOfZeros(uint64_t n) {
  uLong crc = 0, block = crc32(0, reinterpret_cast<const Bytef*>("\0"), 1);
  for (uint64_t len = 1; n; n >>= 1, block = crc32_combine(block, block, len), len *= 2) {
    if (n & 1) crc = crc32_combine(crc, block, len);
  }
  return static_cast<uint32_t>(crc);
}

// Writes to a file; a raw copy of zeros becomes a hole (lseek), so a 4 GiB
// record costs no disk space and no time.
class SparseFileSink : public ZipSink {
 public:
  explicit SparseFileSink(int fd) : fd_(fd) {}
  void Write(std::span<const char> bytes) override {
    ASSERT_EQ(::write(fd_, bytes.data(), bytes.size()), ssize_t(bytes.size()));
  }
  void CopyFrom(int, uint64_t, uint64_t size) override {
    ::lseek(fd_, static_cast<off_t>(size), SEEK_CUR);
  }

 private:
  int fd_;
};

// Checks an archive holding "big" (`big_size` bytes) and small records after it.
void ExpectReadableZip64Archive(const std::string& path, uint64_t big_size) {
  const ZipReader zip = ZipReader::Open(path);
  const ZipEntry& big = *zip.Find("big");
  EXPECT_EQ(big.size, big_size);
  EXPECT_EQ(big.data_offset % 64, 0u);
  const ZipEntry& small = *zip.Find("after/small.txt");
  EXPECT_GT(small.local_header_offset, k4GiB);
  EXPECT_EQ(small.data_offset % 64, 0u);
  EXPECT_EQ(zip.ReadAll(small), "hello after 4 GiB\n");
  EXPECT_EQ(zip.ReadAll(*zip.Find("after/empty")), "");
  EXPECT_EQ(zip.ReadAll(*zip.Find(".data/version")), "6\n");
  char last = 'x';
  EXPECT_EQ(zip.ReadAt(big, big_size - 1, std::span(&last, 1)), 1u);
  const auto libzip = ReadWithLibzip(path, /*read_data=*/false);
  ASSERT_EQ(libzip.size(), 4u);
  EXPECT_EQ(libzip[0].size, big_size);
}

void AddRecordsAfterTheBigOne(ZipWriter& w) {
  w.AddRecord("after/small.txt", "hello after 4 GiB\n");
  w.AddRecord("after/empty", "");
  w.AddRecord(".data/version", "6\n");
  w.Finish();
}

TEST(ZipWriterTest, RecordsAndArchivesPast4GiBUseZip64Sparse) {
  const uint64_t kBig = k4GiB + 100;
  TempDir dir;
  const std::string path = dir.Path("sparse64.pt");
  ScopedFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  // Any open archive serves as the source: the sink never reads it.
  const ZipReader any = ZipReader::Open(CorpusPath("pkg_minimal_text_only.pt"));
  ZipEntry zeros;
  zeros.name = "big";
  zeros.size = zeros.compressed_size = kBig;
  zeros.crc32 = CrcOfZeros(kBig);
  ZipWriter w = ZipWriter::ToSink(std::make_unique<SparseFileSink>(out.get()), "sparse64");
  w.CopyRawRecord(any, zeros);
  AddRecordsAfterTheBigOne(w);
  ExpectReadableZip64Archive(path, kBig);
}

// The real thing: a 4 GiB + 100 byte record streamed from a sparse file,
// written out in full (about 4 GiB of disk for the duration of the test).
TEST(ZipWriterSlowTest, RecordsAndArchivesPast4GiBUseZip64) {
  TPKG_SLOW_TIER_ONLY();
  const uint64_t kBig = k4GiB + 100;
  TempDir dir;
  const std::string source = dir.Path("zeros.bin");
  ScopedFd src(::open(source.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644));
  ASSERT_EQ(::ftruncate(src.get(), static_cast<off_t>(kBig)), 0);
  ASSERT_EQ(::pwrite(src.get(), "!", 1, static_cast<off_t>(kBig - 1)), 1);
  const std::string path = dir.Path("big64.pt");
  {
    ZipWriter w = ZipWriter::Create(path, "big64");
    w.AddRecordFromFd("big", src.get(), 0, kBig);
    AddRecordsAfterTheBigOne(w);
  }
  ExpectReadableZip64Archive(path, kBig);
  const ZipReader zip = ZipReader::Open(path);
  char last = 0;
  zip.ReadAt(*zip.Find("big"), kBig - 1, std::span(&last, 1));
  EXPECT_EQ(last, '!');
  EXPECT_TRUE(CheckArchive(path).empty());  // reads all 4 GiB through the CRC
}

}  // namespace
}  // namespace tpkg
