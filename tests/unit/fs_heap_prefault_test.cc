// The mount's heap pre-fault (src/fs/heap_prefault.h) and the reader's hook
// that sizes it (ZipReaderOptions::on_record_count).
#include "heap_prefault.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"

namespace tpkg::fs {
namespace {

TEST(HeapBytesForRecords, ProportionalToTheRecordsAndCapped) {
  EXPECT_EQ(HeapBytesForRecords(0), 0u);
  EXPECT_EQ(HeapBytesForRecords(1), 0u);  // a small mount is not worth the call
  const size_t five_thousand = HeapBytesForRecords(5000);
  EXPECT_GE(five_thousand, size_t{3} << 20);  // ~600 bytes a record, measured
  EXPECT_LT(five_thousand, size_t{4} << 20);
  EXPECT_EQ(HeapBytesForRecords(10000), 2 * five_thousand);
  EXPECT_EQ(HeapBytesForRecords(UINT64_MAX), kMaxHeapPrefault);  // a lying count
  EXPECT_EQ(HeapBytesForRecords(uint64_t{1} << 40), kMaxHeapPrefault);
}

TEST(HugePagesWithin, TheWhole2MiBPagesInsideTheRange) {
  constexpr uintptr_t kMiB = uintptr_t{1} << 20;
  EXPECT_EQ(HugePagesWithin(0, 2 * kMiB).begin, 0u);
  EXPECT_EQ(HugePagesWithin(0, 2 * kMiB).bytes, 2 * kMiB);
  // Unaligned ends shrink to the boundaries inside.
  const HugePageSpan span = HugePagesWithin(3 * kMiB + 4096, 9 * kMiB - 1);
  EXPECT_EQ(span.begin, 4 * kMiB);
  EXPECT_EQ(span.bytes, 4 * kMiB);
  // Shorter than a huge page, or no boundary pair inside: none.
  EXPECT_EQ(HugePagesWithin(1 * kMiB, 3 * kMiB).bytes, 0u);
  EXPECT_EQ(HugePagesWithin(4 * kMiB, 4 * kMiB).bytes, 0u);
  EXPECT_EQ(HugePagesWithin(5 * kMiB, 4 * kMiB).bytes, 0u);
}

// Pages the process has touched (resident), in bytes.
size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST(PrefaultHeap, LeavesItsPagesPresentAndFreeForTheNextAllocations) {
  EXPECT_FALSE(PrefaultHeap(0));
  const size_t bytes = size_t{2} << 20;
  const size_t before = ResidentBytes();
  ASSERT_TRUE(PrefaultHeap(bytes));  // Linux >= 5.14
  EXPECT_GE(ResidentBytes(), before + bytes / 2);
  // The block is free again and was not trimmed: the heap keeps it, and
  // allocations fill it without growing the heap's resident size.
  EXPECT_GE(mallinfo2().fordblks, bytes);
  const size_t after = ResidentBytes();
  std::string* many = new std::string[10000];
  for (int i = 0; i < 10000; ++i) many[i].assign(64, 'x');
  EXPECT_LT(ResidentBytes(), after + (size_t{256} << 10));
  delete[] many;
}

// The heap it leaves covers the request with huge pages where the kernel
// grants them: the allocations after it land on or past a 2 MiB boundary and
// fill the populated block without growing the resident size.
TEST(PrefaultHeap, LaterAllocationsFillThePopulatedBlock) {
  const size_t bytes = size_t{3} << 20;
  ASSERT_TRUE(PrefaultHeap(bytes));
  const size_t after = ResidentBytes();
  std::vector<std::unique_ptr<char[]>> blocks;
  for (size_t filled = 0; filled < bytes; filled += 200) {
    blocks.emplace_back(new char[200]);
    blocks.back()[0] = 1;
  }
  EXPECT_LT(ResidentBytes(), after + (size_t{256} << 10));
}

TEST(OnRecordCount, CalledWithTheCentralDirectorysCountBeforeOpenReturns) {
  const std::filesystem::path dir = std::filesystem::path(testing::TempDir()) / "prefault_hook";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "three.pt").string();
  {
    ZipWriter w = ZipWriter::Create(path, "three", /*overwrite=*/true);
    w.AddRecord(".data/version", "3\n");
    w.AddRecord("a.py", "a = 1\n");
    w.AddRecord("b.py", "b = 2\n");
    w.Finish();
  }
  static uint64_t seen = 0;
  ZipReader zip = ZipReader::Open(
      path, ZipReaderOptions{.on_record_count = [](uint64_t records) { seen = records; }});
  EXPECT_EQ(seen, 3u);
  EXPECT_EQ(zip.entries().size(), 3u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tpkg::fs
