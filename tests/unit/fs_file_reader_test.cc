// Record readers: exact bytes for every range, CRC and truncation errors
// reported as kCorrupt, bounded state for deflated records.
#include "file_reader.h"

#include <gtest/gtest.h>

#include "fs_test_files.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

using testing::Crc32Of;
using testing::Pattern;
using testing::RawDeflate;
using testing::TempFile;

constexpr uint64_t kHeaderJunk = 100;  // bytes before the record's data

struct Archive {
  std::string data;
  std::unique_ptr<TempFile> file;
  ZipEntry entry;
};

Archive MakeArchive(const std::string& data, uint16_t method, uint32_t crc) {
  Archive a;
  a.data = data;
  const std::string payload = method == kMethodDeflate ? RawDeflate(data) : data;
  a.file = std::make_unique<TempFile>(std::string(kHeaderJunk, 'H') + payload + "TRAILER");
  a.entry.name = a.entry.full_name = "r";
  a.entry.method = method;
  a.entry.crc32 = crc;
  a.entry.size = data.size();
  a.entry.compressed_size = payload.size();
  a.entry.data_offset = kHeaderJunk;
  return a;
}

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

class RecordReaderTest : public ::testing::TestWithParam<uint16_t> {};

TEST_P(RecordReaderTest, ServesExactBytesForEveryRange) {
  const std::string data = Pattern(700'000);
  Archive a = MakeArchive(data, GetParam(), Crc32Of(data));
  auto reader = OpenRecordReader(a.file->fd(), a.entry);
  struct Range { uint64_t offset; size_t len; };
  const std::vector<Range> ranges = {
      {0, 10}, {5, 4096}, {650'000, 4096}, {699'990, 100}, {1000, 1},
      {0, 700'000}, {700'000, 10}, {800'000, 10}, {300'000, 131'072},
  };
  for (const Range& r : ranges) {
    const std::string want = r.offset >= data.size() ? "" : data.substr(r.offset, r.len);
    EXPECT_EQ(ReadRange(*reader, r.offset, r.len), want) << r.offset << "+" << r.len;
  }
}

TEST_P(RecordReaderTest, SequentialReadOfACorrectRecordSucceeds) {
  const std::string data = Pattern(300'000);
  Archive a = MakeArchive(data, GetParam(), Crc32Of(data));
  auto reader = OpenRecordReader(a.file->fd(), a.entry);
  EXPECT_EQ(ReadSequentially(*reader, 65536), data);
  EXPECT_EQ(ReadSequentially(*reader, 65536), data);  // and again
}

TEST_P(RecordReaderTest, CrcMismatchFailsTheReadThatCompletesTheRecordAndStays) {
  const std::string data = Pattern(200'000);
  Archive a = MakeArchive(data, GetParam(), Crc32Of(data) ^ 0x10);
  auto reader = OpenRecordReader(a.file->fd(), a.entry);
  EXPECT_EQ(ReadRange(*reader, 0, 131'072), data.substr(0, 131'072));
  try {
    ReadRange(*reader, 131'072, 131'072);
    FAIL() << "a CRC mismatch must not be served";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("CRC-32 mismatch"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ReadRange(*reader, 131'072, 100), Error);
}

TEST_P(RecordReaderTest, ATruncatedArchiveIsCorrupt) {
  const std::string data = Pattern(100'000);
  Archive a = MakeArchive(data, GetParam(), Crc32Of(data));
  ASSERT_EQ(ftruncate(a.file->fd(), kHeaderJunk + a.entry.compressed_size / 2), 0);
  auto reader = OpenRecordReader(a.file->fd(), a.entry);
  try {
    ReadSequentially(*reader, 65536);
    FAIL() << "a truncated record must not be served";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt) << e.what();
  }
}

TEST_P(RecordReaderTest, EmptyRecordReadsAsEndOfFile) {
  Archive a = MakeArchive("", GetParam(), 0);
  auto reader = OpenRecordReader(a.file->fd(), a.entry);
  EXPECT_EQ(ReadRange(*reader, 0, 100), "");
}

INSTANTIATE_TEST_SUITE_P(StoredAndDeflated, RecordReaderTest,
                         ::testing::Values(kMethodStored, kMethodDeflate),
                         [](const auto& info) {
                           return info.param == kMethodStored ? "Stored" : "Deflated";
                         });

TEST(StoredRecordReaderTest, OutOfOrderReadAheadStillVerifiesTheCrc) {
  const std::string data = Pattern(400'000);
  Archive a = MakeArchive(data, kMethodStored, Crc32Of(data) ^ 1);
  auto reader = OpenRecordReader(a.file->fd(), a.entry);
  ReadRange(*reader, 131'072, 131'072);
  ReadRange(*reader, 262'144, 200'000);
  EXPECT_THROW(ReadRange(*reader, 0, 131'072), Error);
}

TEST(DeflatedRecordReaderTest, ReadsSlightlyBehindTheCursorComeFromTheWindow) {
  const std::string data = Pattern(1'000'000);
  Archive a = MakeArchive(data, kMethodDeflate, Crc32Of(data));
  auto reader = OpenRecordReader(a.file->fd(), a.entry);
  // Read-ahead order as two worker threads may deliver it.
  EXPECT_EQ(ReadRange(*reader, 131'072, 131'072), data.substr(131'072, 131'072));
  EXPECT_EQ(ReadRange(*reader, 0, 131'072), data.substr(0, 131'072));
  EXPECT_EQ(ReadRange(*reader, 262'144, 800'000), data.substr(262'144));
}

TEST(DeflatedRecordReaderTest, ReadingBackwardsPastTheWindowRestarts) {
  const std::string data = Pattern(2'000'000);
  Archive a = MakeArchive(data, kMethodDeflate, Crc32Of(data));
  auto reader = OpenRecordReader(a.file->fd(), a.entry);
  EXPECT_EQ(ReadRange(*reader, 1'500'000, 1000), data.substr(1'500'000, 1000));
  EXPECT_EQ(ReadRange(*reader, 10, 1000), data.substr(10, 1000));
  EXPECT_EQ(ReadRange(*reader, 1'999'000, 5000), data.substr(1'999'000));
}

TEST(DeflatedRecordReaderTest, InvalidDeflateDataIsCorrupt) {
  const std::string data = Pattern(50'000);
  Archive a = MakeArchive(data, kMethodDeflate, Crc32Of(data));
  const std::string garbage(64, '\xff');
  ASSERT_EQ(pwrite(a.file->fd(), garbage.data(), garbage.size(), kHeaderJunk), 64);
  auto reader = OpenRecordReader(a.file->fd(), a.entry);
  try {
    ReadRange(*reader, 0, 50'000);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt) << e.what();
  }
}

TEST(DeflatedRecordReaderTest, AStreamShorterOrLongerThanTheRecordIsCorrupt) {
  const std::string data = Pattern(50'000);
  for (uint64_t claimed : {uint64_t{40'000}, uint64_t{60'000}}) {
    Archive a = MakeArchive(data, kMethodDeflate, Crc32Of(data));
    a.entry.size = claimed;
    auto reader = OpenRecordReader(a.file->fd(), a.entry);
    EXPECT_THROW(ReadSequentially(*reader, 65536), Error) << claimed;
  }
}

TEST(OpenRecordReaderTest, RefusesOtherMethods) {
  ZipEntry e;
  e.method = 12;  // bzip2
  try {
    OpenRecordReader(-1, e);
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Errc::kUnsupported);
  }
}

}  // namespace
}  // namespace tpkg::fs
