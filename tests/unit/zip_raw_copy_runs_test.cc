// ZipWriter::CopyRawRecords and the checks it runs on bytes read ahead:
// runs of small records are read with one pread (zip/source_window.h) and a
// deferred reader checks them on those bytes (ZipReader::DataOffset with
// bytes). Nothing may change but the number of system calls: the bytes
// written, the first error and its words, and the verdicts a deferred reader
// keeps are those of CopyRawRecord record by record.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "base/scoped_fd.h"
#include "tpkg/error.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"
#include "zip/source_window.h"
#include "zip_hostile_cases.h"
#include "zip_hostile_util.h"
#include "zip_test_util.h"

namespace tpkg {
namespace {

using namespace tpkg::testing;


std::string RecordName(int i) { return "r" + std::to_string(100 + i).substr(1); }

// 30 small records of varied sizes (r00..r29), one bigger than a window's
// small region in the middle, an empty one, and the version record.
std::string RunArchive() {
  std::vector<Record> records;
  for (int i = 0; i < 30; ++i) {
    std::string data(static_cast<size_t>(i % 3 == 0 ? 5000 + i : 10 + i), '\0');
    for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<char>('a' + (k + i) % 26);
    records.push_back({RecordName(i), data});
    if (i == 12) records.push_back({"big.bin", std::string(SourceWindow::kSmallRegion + 1000, 'B')});
    if (i == 20) records.push_back({"empty", ""});
  }
  records.push_back({".data/version", "6\n"});
  return BuildArchive("p", records);
}

std::vector<RawRecordCopy> AllOf(const ZipReader& zip) {
  std::vector<RawRecordCopy> copies;
  for (const ZipEntry& e : zip.entries()) copies.push_back({&e, {}, {}});
  return copies;
}

// What CopyRawRecord writes record by record, and its first error ("" if none).
std::pair<std::string, std::string> OneByOne(const ZipReader& zip,
                                             const std::vector<RawRecordCopy>& copies) {
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "q");
  const std::string error = What([&] {
    for (const RawRecordCopy& c : copies) w.CopyRawRecord(zip, *c.entry, c.record, c.attrs);
    w.AddSerializationId();  // from the first bytes of every record
    w.Finish();
  });
  return {out, error};
}

// The same archive written from decoded bytes: the records are stored, so
// raw copies must give exactly this.
std::string FromDecodedBytes(const ZipReader& zip, const std::vector<RawRecordCopy>& copies) {
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "q");
  for (const RawRecordCopy& c : copies)
    w.AddRecord(c.record.empty() ? c.entry->name : c.record, zip.ReadAll(*c.entry), c.attrs);
  w.AddSerializationId();
  w.Finish();
  return out;
}

std::pair<std::string, std::string> Batched(const ZipReader& zip,
                                            const std::vector<RawRecordCopy>& copies) {
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "q");
  const std::string error = What([&] {
    w.CopyRawRecords(zip, copies);
    w.AddSerializationId();
    w.Finish();
  });
  return {out, error};
}

TEST(RawCopyRunsTest, WriteWhatCopiesOneByOneWrite) {
  TempDir dir;
  const std::string path = dir.Write("runs.pt", RunArchive());
  for (const bool deferred : {false, true}) {
    const ZipReaderOptions options{.defer_record_checks = deferred};
    const ZipReader a = ZipReader::Open(path, options), b = ZipReader::Open(path, options);
    std::vector<RawRecordCopy> copies = AllOf(a);
    std::vector<std::vector<RawRecordCopy>> orders{copies};
    orders.emplace_back(copies.rbegin(), copies.rend());  // no run: one record per pread
    // Renamed, with attributes, and every other record left out.
    std::vector<RawRecordCopy> sparse;
    for (size_t i = 0; i < copies.size(); i += 2)
      sparse.push_back({copies[i].entry, {}, {.mode = 0600, .mtime = 1700000000}});
    sparse[1].record = "renamed";
    orders.push_back(sparse);
    for (const auto& order : orders) {
      // The entries of `a` copied from `b` (copies of its entries, as callers keep).
      std::vector<ZipEntry> copied_entries;
      for (const RawRecordCopy& c : order) copied_entries.push_back(*c.entry);
      std::vector<RawRecordCopy> from_b = order;
      for (size_t i = 0; i < from_b.size(); ++i) from_b[i].entry = &copied_entries[i];
      const auto [one_by_one, one_by_one_error] = OneByOne(a, order);
      const std::string expected = FromDecodedBytes(a, order);
      const auto [batched, error] = Batched(b, from_b);
      EXPECT_EQ(one_by_one_error, "");
      EXPECT_EQ(error, "");
      EXPECT_TRUE(one_by_one == expected) << "deferred " << deferred << ", " << order.size();
      EXPECT_TRUE(batched == expected) << "deferred " << deferred << ", " << order.size();
      const std::string out = dir.Write("out.pt", batched);
      EXPECT_NO_THROW(ZipReader::Open(out));
    }
  }
}

// Through a file: small records go through the writer's buffer, the big one
// through copy_file_range (or pread/write on an O_APPEND descriptor).
TEST(RawCopyRunsTest, WriteTheSameFileThroughADescriptor) {
  TempDir dir;
  const std::string path = dir.Write("runs.pt", RunArchive());
  const ZipReader zip = ZipReader::Open(path, kDeferred);
  const ZipReader eager = ZipReader::Open(path);
  const std::string expected = FromDecodedBytes(eager, AllOf(eager));
  for (const int extra_flags : {0, O_APPEND}) {
    const std::string out = dir.Path("out" + std::to_string(extra_flags));
    {
      ScopedFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | extra_flags, 0644));
      ASSERT_TRUE(fd.valid());
      ZipWriter w = ZipWriter::ToFd(fd.get(), "q");
      w.CopyRawRecords(zip, AllOf(zip));
      w.AddSerializationId();
      w.Finish();
    }
    EXPECT_TRUE(ReadFile(out) == expected) << extra_flags;
  }
}

// A record whose checks fail in the middle of a run fails the batch with the
// words a copy of that record alone gives; the records before it are
// written, and the deferred reader keeps every verdict it reached.
void ExpectTheSameFirstError(const std::string& bytes, const std::string& bad,
                             const std::string& words) {
  TempDir dir;
  const std::string path = dir.Write("bad.pt", bytes);
  const ZipReader alone = ZipReader::Open(path, kDeferred);
  const std::string expected = What([&] { alone.DataOffset(*alone.Find(bad)); });
  ASSERT_NE(expected.find(words), std::string::npos) << expected;

  const ZipReader zip = ZipReader::Open(path, kDeferred);
  EXPECT_EQ(Batched(zip, AllOf(zip)).second, expected);
  EXPECT_EQ(OneByOne(ZipReader::Open(path, kDeferred), AllOf(zip)).second, expected);
  // The verdicts are kept: the bad record fails again with the same words,
  // and the good ones before it are not checked again (their local headers
  // now destroyed on disk, they still read).
  EXPECT_EQ(What([&] { zip.DataOffset(*zip.Find(bad)); }), expected);
  std::string ruined = bytes;
  for (int i = 0; i < 15; ++i) Put32(ruined, LocalAt(ruined, "p/" + RecordName(i)), 0);
  {
    ScopedFd fd(::open(path.c_str(), O_WRONLY));
    ASSERT_EQ(::pwrite(fd.get(), ruined.data(), ruined.size(), 0),
              static_cast<ssize_t>(ruined.size()));
  }
  const ZipReader good = ZipReader::Open(dir.Write("good.pt", RunArchive()));
  for (int i = 0; i < 15; ++i) {
    const ZipEntry& e = *zip.Find(RecordName(i));
    EXPECT_EQ(zip.DataOffset(e), good.Find(RecordName(i))->data_offset);
    EXPECT_NE(What([&] { ZipReader::Open(path, kDeferred).DataOffset(e); }), "")
        << "a new reader checks it again";
  }
}

TEST(RawCopyRunsTest, ABadLocalHeaderInTheMiddleOfARunGivesTheSameError) {
  std::string b = RunArchive();
  Put16(b, LocalAt(b, "p/r15") + 8, 8);  // compression method
  ExpectTheSameFirstError(
      b, "r15", "record 'p/r15': local header disagrees with the central directory "
                "(compression method)");
}

TEST(RawCopyRunsTest, ABadDescriptorInTheMiddleOfARunGivesTheSameError) {
  std::string b = RunArchive();
  Put32(b, DescriptorAt(b, "p/r15") + 4, 0x1234);  // its CRC-32
  ExpectTheSameFirstError(b, "r15", "record 'p/r15': data descriptor disagrees");
}

TEST(RawCopyRunsTest, HiddenBytesInTheMiddleOfARunGiveTheSameError) {
  std::string b = RunArchive();
  Unlist(b, "p/r16");  // its local header and data now lie in r15's region
  ExpectTheSameFirstError(b, "r15",
                          "before record 'p/r17' belong to no record (a local header the "
                          "central directory does not list)");
}

// ZipReader::CheckRecords, what an analysis calls before reading most
// records: it throws nothing, the bad record's reads then fail with the
// error it would have given alone, and the good ones' verdicts are kept (their
// local headers destroyed on disk afterwards, they still read).
TEST(RawCopyRunsTest, CheckRecordsKeepsTheVerdictsAReadWouldGive) {
  std::string b = RunArchive();
  Put16(b, LocalAt(b, "p/r15") + 8, 8);  // compression method
  TempDir dir;
  const std::string path = dir.Write("bad.pt", b);
  const ZipReader alone = ZipReader::Open(path, kDeferred);
  const std::string expected = What([&] { alone.ReadAll(*alone.Find("r15")); });
  ASSERT_NE(expected.find("local header disagrees"), std::string::npos) << expected;

  const ZipReader zip = ZipReader::Open(path, kDeferred);
  std::vector<const ZipEntry*> all;
  for (const ZipEntry& e : zip.entries()) all.push_back(&e);
  EXPECT_EQ(What([&] { zip.CheckRecords(all); }), "");
  EXPECT_EQ(What([&] { zip.ReadAll(*zip.Find("r15")); }), expected);
  std::string ruined = b;
  for (int i = 0; i < 30; ++i)
    if (i != 15) Put32(ruined, LocalAt(ruined, "p/" + RecordName(i)), 0);
  {
    ScopedFd fd(::open(path.c_str(), O_WRONLY));
    ASSERT_EQ(::pwrite(fd.get(), ruined.data(), ruined.size(), 0),
              static_cast<ssize_t>(ruined.size()));
  }
  const ZipReader good = ZipReader::Open(dir.Write("good.pt", RunArchive()));
  for (int i = 0; i < 30; ++i) {
    if (i == 15) continue;
    EXPECT_EQ(zip.ReadAll(*zip.Find(RecordName(i))), good.ReadAll(*good.Find(RecordName(i))))
        << RecordName(i);
  }
  EXPECT_NE(What([&] { ZipReader::Open(path, kDeferred).ReadAll(*zip.Find("r00")); }), "")
      << "a new reader checks it again";
}

// The checks on bytes read ahead are the file-reading checks: for every
// hostile archive, every record, and read-ahead bytes that hold all of the
// file, exactly its region, half of it, or none of it, the same offset or
// the same error.
class PrefetchedChecksTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(PrefetchedChecksTest, GiveTheVerdictsOfTheChecksThatReadTheFile) {
  const HostileCase& c = GetParam();
  TempDir dir;
  std::string bytes = c.base();
  c.mutate(bytes);
  const std::string path = dir.Write("hostile.pt", bytes);
  std::optional<ZipReader> probe;
  for (const bool strict : {true, false}) {
    const ZipReaderOptions options{.strict = strict, .defer_record_checks = true};
    if (!What([&] { probe.emplace(ZipReader::Open(path, options)); }).empty()) continue;
    for (size_t i = 0; i < probe->entries().size(); ++i) {
      const ZipEntry& e = probe->entries()[i];
      const uint64_t lho = e.local_header_offset;
      const uint64_t end = probe->RegionEnd(e).value();
      ASSERT_LE(lho, end);
      std::string expected;
      uint64_t expected_offset = 0;
      expected = What([&] { expected_offset = ZipReader::Open(path, options).DataOffset(e); });
      const std::vector<std::pair<uint64_t, uint64_t>> windows{
          {0, bytes.size()}, {lho, end}, {lho, lho + (end - lho) / 2}, {end, bytes.size()}};
      for (const auto& [from, to] : windows) {
        const ZipReader zip = ZipReader::Open(path, options);
        const std::string_view held = std::string_view(bytes).substr(from, to - from);
        uint64_t offset = 0;
        EXPECT_EQ(What([&] { offset = zip.DataOffset(zip.entries()[i], from, held); }), expected)
            << e.full_name << " [" << from << ", " << to << ")";
        EXPECT_EQ(offset, expected_offset) << e.full_name;
        // The verdict is kept, read-ahead bytes or not.
        EXPECT_EQ(What([&] { offset = zip.DataOffset(zip.entries()[i]); }), expected);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EachRefusal, PrefetchedChecksTest, ::testing::ValuesIn(HostileCases()),
                         [](const auto& info) { return info.param.name; });

// One pread per run: the window read for the first record of a run of
// small records holds the whole run; a big record is no part of any.
TEST(RawCopyRunsTest, AWindowHoldsARunOfSmallRecordsThatFollowEachOther) {
  TempDir dir;
  const ZipReader zip = ZipReader::Open(dir.Write("runs.pt", RunArchive()), kDeferred);
  const std::vector<RawRecordCopy> copies = AllOf(zip);
  const std::vector<ZipEntry>& entries = zip.entries();
  ASSERT_EQ(entries[13].name, "big.bin");
  SourceWindow window;
  const std::optional<FileBytes> first = window.Region(zip, copies, 0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->start, 0u);
  EXPECT_EQ(first->bytes.size(), entries[13].local_header_offset) << "r00 to r12";
  for (size_t i = 1; i < 13; ++i) {
    const std::optional<FileBytes> same = window.Region(zip, copies, i);
    ASSERT_TRUE(same);
    EXPECT_EQ(same->bytes.data(), first->bytes.data()) << "not read again: " << i;
  }
  EXPECT_FALSE(window.Region(zip, copies, 13)) << "big.bin is copied in the kernel";
  const std::optional<FileBytes> next = window.Region(zip, copies, 14);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->start, entries[14].local_header_offset);
  EXPECT_EQ(next->bytes.size(), zip.RegionEnd(entries.back()).value() - next->start)
      << "the rest of the archive";
  // Records out of the file's order: each is read alone.
  const std::vector<RawRecordCopy> reversed(copies.rbegin(), copies.rend());
  SourceWindow alone;
  const std::optional<FileBytes> last = alone.Region(zip, reversed, 0);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->start, entries.back().local_header_offset);
  EXPECT_EQ(last->bytes.size(), zip.RegionEnd(entries.back()).value() - last->start);
}

TEST(RawCopyRunsTest, RegionEndIsTheNextLocalHeaderOrTheCentralDirectory) {
  TempDir dir;
  const std::string bytes = RunArchive();
  const ZipReader zip = ZipReader::Open(dir.Write("runs.pt", bytes));
  const std::vector<ZipEntry>& entries = zip.entries();
  for (size_t i = 0; i + 1 < entries.size(); ++i)
    EXPECT_EQ(zip.RegionEnd(entries[i]), entries[i + 1].local_header_offset);
  EXPECT_EQ(zip.RegionEnd(entries.back()), CentralAt(bytes, "p/r00")) << "the central directory";
  ZipEntry stranger = entries[3];
  EXPECT_EQ(zip.RegionEnd(stranger), entries[4].local_header_offset) << "a copy of an entry";
  stranger.local_header_offset += 1;
  EXPECT_EQ(zip.RegionEnd(stranger), std::nullopt);
}

}  // namespace
}  // namespace tpkg
