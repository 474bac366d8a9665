#include "heap_prefault.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace tpkg::fs {
namespace {

// Per record: the ZipEntry (136 bytes) and its full name, the name index,
// the journal tree's map node (~230 bytes) and key, the inode table's share;
// rounded up from the measured ~600 (a short estimate only costs faults).
constexpr size_t kHeapBytesPerRecord = 640;
// Below this nothing is worth a system call (a 1-record mount touches ~0).
constexpr size_t kMinHeapPrefault = size_t{256} << 10;

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14 (older glibc headers lack it)
#endif

}  // namespace

size_t HeapBytesForRecords(uint64_t records) {
  if (records > kMaxHeapPrefault / kHeapBytesPerRecord) return kMaxHeapPrefault;
  const size_t bytes = static_cast<size_t>(records) * kHeapBytesPerRecord;
  return bytes < kMinHeapPrefault ? 0 : bytes;
}

bool PrefaultHeap(size_t bytes) {
  bytes = std::min(bytes, kMaxHeapPrefault);
  if (bytes == 0) return false;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  // A block this size comes from the heap, not a mapping of its own; the
  // 1 MiB blocks of FUSE reads do too (what glibc's dynamic threshold settles
  // at after the first one is freed). Freed, the block stays in the heap: the
  // trim threshold keeps twice the reservation.
  const size_t mmap_threshold = std::max(bytes + 2 * page, size_t{4} << 20);
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold)) != 1) return false;
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(2 * mmap_threshold));
  char* block = static_cast<char*>(std::malloc(bytes));
  if (!block) return false;
  const uintptr_t first = (reinterpret_cast<uintptr_t>(block) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(block) + bytes) & ~(page - 1);
  const bool populated =
      end > first &&
      madvise(reinterpret_cast<void*>(first), end - first, MADV_POPULATE_WRITE) == 0;
  std::free(block);  // back to the top of the heap, pages present
  return populated;
}

}  // namespace tpkg::fs
