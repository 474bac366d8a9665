#include "heap_prefault.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace tpkg::fs {
namespace {

// Per record: the ZipEntry (136 bytes) and its full name, the name index,
// the journal tree's map node (~230 bytes) and key, the inode table's share;
// rounded up from the measured ~600 (a short estimate only costs faults).
constexpr size_t kHeapBytesPerRecord = 640;
// Below this nothing is worth a system call (a 1-record mount touches ~0).
constexpr size_t kMinHeapPrefault = size_t{256} << 10;
// The transparent huge page size of x86-64 and of arm64 with 4 KiB pages.
constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
// What the head's filler leaves below the first huge page for malloc's
// chunk headers (16 bytes each on 64-bit glibc; generous).
constexpr size_t kHeapFillerSlack = 64;

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14 (older glibc headers lack it)
#endif

uintptr_t AlignUp(uintptr_t v, uintptr_t to) { return (v + to - 1) & ~(to - 1); }
uintptr_t AlignDown(uintptr_t v, uintptr_t to) { return v & ~(to - 1); }

}  // namespace

size_t HeapBytesForRecords(uint64_t records) {
  if (records > kMaxHeapPrefault / kHeapBytesPerRecord) return kMaxHeapPrefault;
  const size_t bytes = static_cast<size_t>(records) * kHeapBytesPerRecord;
  return bytes < kMinHeapPrefault ? 0 : bytes;
}

HugePageSpan HugePagesWithin(uintptr_t begin, uintptr_t end) {
  const uintptr_t first = AlignUp(begin, kHugePage);
  const uintptr_t last = AlignDown(end, kHugePage);
  return last > first ? HugePageSpan{first, last - first} : HugePageSpan{};
}

bool PrefaultHeap(size_t bytes) {
  bytes = std::min(bytes, kMaxHeapPrefault);
  if (bytes == 0) return false;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  // Whole huge pages, plus room to start them on a 2 MiB boundary wherever
  // the block starts.
  const size_t huge_bytes = AlignUp(bytes, kHugePage);
  const size_t block_bytes = huge_bytes + kHugePage;
  // A block this size comes from the heap, not a mapping of its own; the
  // 1 MiB blocks of FUSE reads do too (what glibc's dynamic threshold settles
  // at after the first one is freed). Freed, the block stays in the heap: the
  // trim threshold keeps twice the reservation.
  const size_t mmap_threshold = std::max(block_bytes + 2 * page, size_t{4} << 20);
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold)) != 1) return false;
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(2 * mmap_threshold));
  char* block = static_cast<char*>(std::malloc(block_bytes));
  if (!block) return false;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(block);
  const HugePageSpan huge = HugePagesWithin(begin, begin + block_bytes);
  // Huge pages: where the kernel grants them (transparent huge pages in
  // "madvise" or "always" mode), the tables fill a few 2 MiB pages, each one
  // fault and one TLB entry, instead of hundreds of 4 KiB pages whose first
  // touch each exits to the hypervisor on a virtual machine even when
  // populated (measured: 4 MiB first touched in 6-10 ms populated, in 0.3 ms
  // as huge pages). Refused (THP "never", an old kernel), small pages serve.
  // Only the whole huge pages the estimate fills: a huge page is resident
  // whole from its first touch, so rounding the estimate up would add up to
  // 2 MiB to the daemon's memory; the rest of it is populated in small pages.
  madvise(reinterpret_cast<void*>(huge.begin), AlignDown(bytes, kHugePage), MADV_HUGEPAGE);
  // From the page before the first huge page (where the next allocation's
  // header lands) to the end of the estimate; the rest of the block stays
  // untouched.
  const uintptr_t first = huge.begin - page;
  const uintptr_t end = huge.begin + AlignUp(bytes, page);
  const bool populated =
      madvise(reinterpret_cast<void*>(first), end - first, MADV_POPULATE_WRITE) == 0;
  std::free(block);  // back to the top of the heap, pages present
  // The head below the first huge page would be the next allocations' first,
  // in small pages that fault one by one: hold it with an allocation that is
  // never touched (no memory behind it) nor freed, so that they start at the
  // huge pages. Only when malloc puts it exactly there (it takes the same
  // top of the heap); otherwise it goes back and the head serves as before.
  const size_t head = huge.begin - begin;
  if (head > 2 * kHeapFillerSlack) {
    void* filler = std::malloc(head - kHeapFillerSlack);
    if (filler == block) {
      [[maybe_unused]] static void* kept_head = nullptr;  // reachable for leak checkers
      kept_head = filler;
    } else {
      std::free(filler);
    }
  }
  return populated;
}

}  // namespace tpkg::fs
