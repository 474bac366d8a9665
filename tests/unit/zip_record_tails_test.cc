// The strict open takes the bytes after each record's data from its pass over
// the local headers (zip/record_tails.h) instead of reading the records a
// second time: RecordTails keeps and finds bytes by their own offset only,
// and an archive of many small records (several windows of headers) gets
// the same verdicts as before wherever the damaged descriptor lies: inside a
// window, or after the last record of one (whose tail the next window
// brings, or a pread of its own), and with records far apart, where each
// header gets a window of its own.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tpkg/zip_reader.h"
#include "zip/record_tails.h"
#include "zip_hostile_util.h"
#include "zip_test_util.h"

namespace tpkg {
namespace {

using namespace tpkg::testing;

TEST(RecordTailsTest, FindsBytesAtTheirOwnOffsetOnly) {
  RecordTails tails(3);
  tails.Keep(0, 100, "PK\x07\x08 and more than twenty-four bytes");
  tails.Keep(1, 200, "short");
  EXPECT_EQ(tails.Find(0, 100, 24), std::string_view("PK\x07\x08 and more than twent"));
  EXPECT_EQ(tails.Find(0, 100, 2), std::string_view("PK"));
  EXPECT_EQ(tails.Find(0, 101, 2), std::nullopt);  // another offset
  EXPECT_EQ(tails.Find(1, 200, 5), std::string_view("short"));
  EXPECT_EQ(tails.Find(1, 200, 6), std::nullopt);  // more than was kept
  EXPECT_EQ(tails.Find(2, 0, 0), std::nullopt);    // nothing kept
  EXPECT_EQ(tails.Find(7, 100, 1), std::nullopt);  // no such position
  tails.Keep(9, 0, "x");                            // ignored
}

// 300 records of `size` bytes: of 1 KiB or 5 KiB, several windows of 64
// KiB; of 20 KB, one window per header (more than the 16 KiB a window skips
// between them).
std::string ManyRecords(size_t size) {
  std::vector<Record> records;
  for (int i = 0; i < 300; ++i)
    records.push_back(
        {"r" + std::to_string(1000 + i), std::string(size, static_cast<char>('a' + i % 26))});
  records.push_back({".data/version", "6\n"});
  return BuildArchive("p", records);
}

class RecordTailsBySizeTest : public ::testing::TestWithParam<size_t> {};

TEST_P(RecordTailsBySizeTest, AStrictOpenReadsEveryDescriptor) {
  TempDir dir;
  const std::string good = ManyRecords(GetParam());
  EXPECT_EQ(ZipReader::Open(dir.Write("good.pt", good)).entries().size(), 301u);
  // A damaged descriptor anywhere is found, with the same reason: inside a
  // window, the last of one, or alone in one.
  for (int i = 0; i < 300; ++i) {
    const std::string name = "p/r" + std::to_string(1000 + i);
    std::string bad = good;
    Put32(bad, DescriptorAt(bad, name) + 4, 0x12345678);  // its CRC-32
    EXPECT_EQ(What([&] { ZipReader::Open(dir.Write("bad.pt", bad)); }),
              dir.Path("bad.pt") + ": record '" + name +
                  "': data descriptor disagrees with the central directory (CRC-32 or sizes; "
                  "torch reads the central directory's)")
        << name;
  }
}

// What the windows save: records 20 KB apart are read with a small pread per
// header (not 64 KiB windows copying the data), and every descriptor but the
// last comes with the next window instead of a pread of its own; records of
// 1 or 5 KiB share windows.
TEST_P(RecordTailsBySizeTest, AStrictOpenReadsEachWindowOnceAndNoDescriptorAlone) {
  TempDir dir;
  const std::string path = dir.Write("good.pt", ManyRecords(GetParam()));
  const uint64_t before = ReadCalls();
  EXPECT_EQ(ZipReader::Open(path).entries().size(), 301u);
  const uint64_t reads = ReadCalls() - before;
  // Beside the headers' windows: the end records, the central directory and
  // the last descriptor, a handful of reads.
  if (GetParam() == 20000) {
    EXPECT_GE(reads, 301u);        // one per header
    EXPECT_LE(reads, 301u + 10u);  // and no descriptor read alone
  } else {
    EXPECT_LE(reads, GetParam() * 300 / (48 << 10) + 10);  // in windows of 64 KiB (whole records)
  }
}

INSTANTIATE_TEST_SUITE_P(CloseAndFarApart, RecordTailsBySizeTest,
                         ::testing::Values(size_t{1024}, size_t{5000}, size_t{20000}));

}  // namespace
}  // namespace tpkg
