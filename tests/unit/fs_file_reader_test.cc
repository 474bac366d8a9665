// Record readers: exact bytes for every range, CRC and truncation errors
// reported as kCorrupt (a stored record's before any byte is served), bounded state for deflated
// records. Archives come from libzip; a copied ZipEntry with a wrong CRC or size stands in for a
// lying central directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>

#include "file_reader.h"
#include "fs_test_files.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

using testing::Pattern;
using testing::TestArchive;

// One record "pkg/r" holding `data`, stored or deflated.
struct OneRecord {
  OneRecord(const std::string& content, uint16_t method)
      : data(content),
        archive({{"r", {content, method == kMethodDeflate}}}),
        zip(ZipReader::Open(archive.path())),
        entry(*zip.Find("r")),
        verifier(zip) {}
  std::string data;
  TestArchive archive;
  ZipReader zip;
  ZipEntry entry;  // a copy that tests may falsify
  RecordVerifier verifier;
};

std::string ReadRange(RecordReader& r, uint64_t offset, size_t len) {
  std::string out(len, '\0');
  out.resize(r.Read(offset, std::span(out.data(), out.size())));
  return out;
}

std::string ReadSequentially(RecordReader& r, size_t chunk) {
  std::string all;
  for (uint64_t off = 0;; off += chunk) {
    std::string part = ReadRange(r, off, chunk);
    if (part.empty()) return all;
    all += part;
  }
}

void ExpectCorrupt(const std::function<void()>& fn, const char* what) {
  try {
    fn();
    ADD_FAILURE() << "expected Error(kCorrupt): " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt) << what << ": " << e.what();
  }
}

class RecordReaderTest : public ::testing::TestWithParam<uint16_t> {};

TEST_P(RecordReaderTest, ServesExactBytesForEveryRange) {
  OneRecord r(Pattern(700'000), GetParam());
  ASSERT_EQ(r.entry.method, GetParam());
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  struct Range {
    uint64_t offset;
    size_t len;
  };
  const std::vector<Range> ranges = {
      {0, 10},      {5, 4096},     {650'000, 4096}, {699'990, 100},     {1000, 1},
      {0, 700'000}, {700'000, 10}, {800'000, 10},   {300'000, 131'072},
  };
  for (const Range& x : ranges) {
    const std::string want = x.offset >= r.data.size() ? "" : r.data.substr(x.offset, x.len);
    EXPECT_EQ(ReadRange(*reader, x.offset, x.len), want) << x.offset << "+" << x.len;
  }
}

TEST_P(RecordReaderTest, SequentialReadOfACorrectRecordSucceedsTwice) {
  OneRecord r(Pattern(300'000), GetParam());
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  EXPECT_EQ(ReadSequentially(*reader, 65536), r.data);
  EXPECT_EQ(ReadSequentially(*reader, 65536), r.data);
}

void ExpectCrcMismatch(const std::function<void()>& fn, const char* what) {
  try {
    fn();
    ADD_FAILURE() << "a CRC mismatch must not be served: " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt) << what;
    EXPECT_NE(std::string(e.what()).find("CRC-32 mismatch"), std::string::npos) << e.what();
  }
}

// A deflated record is checked as it is decoded: the read that decodes the
// last byte fails, and every later one.
TEST(DeflatedRecordReaderTest, CrcMismatchFailsTheReadThatCompletesTheRecordAndStays) {
  OneRecord r(Pattern(200'000), kMethodDeflate);
  r.entry.crc32 ^= 0x10;
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  EXPECT_EQ(ReadRange(*reader, 0, 131'072), r.data.substr(0, 131'072));
  ExpectCrcMismatch([&] { ReadRange(*reader, 131'072, 131'072); }, "the last read");
  ExpectCorrupt([&] { ReadRange(*reader, 131'072, 100); }, "sticky");
}

// A stored record is checked whole before its first byte is served: not one
// byte of it leaves the reader, whatever the first range.
TEST(StoredRecordReaderTest, CrcMismatchFailsTheFirstReadAndStays) {
  for (const uint64_t first : {uint64_t{0}, uint64_t{150'000}}) {
    OneRecord r(Pattern(200'000), kMethodStored);
    r.entry.crc32 ^= 0x10;
    auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
    ExpectCrcMismatch([&] { ReadRange(*reader, first, 4096); }, "the first read");
    ExpectCrcMismatch([&] { ReadRange(*reader, 0, 100); }, "sticky");
  }
}

// The verdict belongs to the record, not to one reader: a second reader
// (another open of the same file) neither serves it nor repeats the pass.
TEST(StoredRecordReaderTest, TheVerdictIsSharedByEveryReaderOfTheRecord) {
  OneRecord r(Pattern(200'000), kMethodStored);
  r.entry.crc32 ^= 0x10;
  auto first = OpenRecordReader(r.zip, r.entry, r.verifier);
  ExpectCrcMismatch([&] { ReadRange(*first, 0, 10); }, "first reader");
  auto second = OpenRecordReader(r.zip, r.entry, r.verifier);
  ExpectCrcMismatch([&] { ReadRange(*second, 100'000, 10); }, "second reader");
}

TEST_P(RecordReaderTest, ATruncatedArchiveIsCorrupt) {
  OneRecord r(Pattern(100'000), GetParam());
  ASSERT_EQ(truncate(r.archive.path().c_str(),
                     static_cast<off_t>(r.entry.data_offset + r.entry.compressed_size / 2)),
            0);
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  ExpectCorrupt([&] { ReadSequentially(*reader, 65536); }, "truncated");
}

TEST_P(RecordReaderTest, EmptyRecordReadsAsEndOfFile) {
  OneRecord r("", GetParam());
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  EXPECT_EQ(ReadRange(*reader, 0, 100), "");
}

INSTANTIATE_TEST_SUITE_P(StoredAndDeflated, RecordReaderTest,
                         ::testing::Values(kMethodStored, kMethodDeflate), [](const auto& info) {
                           return info.param == kMethodStored ? "Stored" : "Deflated";
                         });

TEST(StoredRecordReaderTest, OutOfOrderReadAheadStillVerifiesTheCrc) {
  OneRecord r(Pattern(400'000), kMethodStored);
  r.entry.crc32 ^= 1;
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  ExpectCorrupt([&] { ReadRange(*reader, 131'072, 131'072); }, "read-ahead first");
  ExpectCorrupt([&] { ReadRange(*reader, 0, 131'072); }, "the gap");
}

// The announcement ahead of sequential reads (StoredRecordReader::kReadAhead)
// is a hint: reads in the order the kernel's workers deliver them, restarts
// from 0 and jumps all still get exactly the record's bytes.
TEST(StoredRecordReaderTest, ReadsAroundTheAnnouncedWindowServeExactBytes) {
  const size_t size = 3 * StoredRecordReader::kReadAhead / 2 + 12'345;
  OneRecord r(Pattern(size), kMethodStored);
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  constexpr size_t kChunk = 1 << 20;
  for (uint64_t base = 0; base < size; base += 4 * kChunk) {
    for (const uint64_t k : {1, 0, 3, 2}) {  // one request batch, out of order
      const uint64_t off = base + k * kChunk;
      const std::string want = off >= size ? "" : r.data.substr(off, kChunk);
      ASSERT_EQ(ReadRange(*reader, off, kChunk), want) << off;
    }
  }
  EXPECT_EQ(ReadSequentially(*reader, kChunk), r.data);  // starts over at 0
  EXPECT_EQ(ReadRange(*reader, size - 10, 4096), r.data.substr(size - 10));
  EXPECT_EQ(ReadRange(*reader, 5, 4096), r.data.substr(5, 4096));
}

TEST(DeflatedRecordReaderTest, ReadsSlightlyBehindTheCursorComeFromTheWindow) {
  OneRecord r(Pattern(1'000'000), kMethodDeflate);
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  // Read-ahead order as two worker threads may deliver it.
  EXPECT_EQ(ReadRange(*reader, 131'072, 131'072), r.data.substr(131'072, 131'072));
  EXPECT_EQ(ReadRange(*reader, 0, 131'072), r.data.substr(0, 131'072));
  EXPECT_EQ(ReadRange(*reader, 262'144, 800'000), r.data.substr(262'144));
}

TEST(DeflatedRecordReaderTest, ReadingBackwardsPastTheWindowRestarts) {
  OneRecord r(Pattern(2'000'000), kMethodDeflate);
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  EXPECT_EQ(ReadRange(*reader, 1'500'000, 1000), r.data.substr(1'500'000, 1000));
  EXPECT_EQ(ReadRange(*reader, 10, 1000), r.data.substr(10, 1000));
  EXPECT_EQ(ReadRange(*reader, 1'999'000, 5000), r.data.substr(1'999'000));
}

TEST(DeflatedRecordReaderTest, InvalidDeflateDataIsCorrupt) {
  OneRecord r(Pattern(50'000), kMethodDeflate);
  const int fd = open(r.archive.path().c_str(), O_WRONLY);
  const std::string garbage(64, '\xff');
  ASSERT_EQ(pwrite(fd, garbage.data(), garbage.size(), static_cast<off_t>(r.entry.data_offset)),
            64);
  close(fd);
  auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
  ExpectCorrupt([&] { ReadRange(*reader, 0, 50'000); }, "garbage");
}

TEST(DeflatedRecordReaderTest, AStreamShorterOrLongerThanTheRecordIsCorrupt) {
  for (uint64_t claimed : {uint64_t{40'000}, uint64_t{60'000}}) {
    OneRecord r(Pattern(50'000), kMethodDeflate);
    r.entry.size = claimed;
    auto reader = OpenRecordReader(r.zip, r.entry, r.verifier);
    ExpectCorrupt([&] { ReadSequentially(*reader, 65536); }, "wrong size");
  }
}

TEST(OpenRecordReaderTest, RefusesOtherMethods) {
  OneRecord r("x", kMethodStored);
  r.entry.method = 12;  // bzip2
  try {
    OpenRecordReader(r.zip, r.entry, r.verifier);
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Errc::kUnsupported);
  }
}

}  // namespace
}  // namespace tpkg::fs
