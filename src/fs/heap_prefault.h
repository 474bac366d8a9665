// heap_prefault.h: fault in, with one system call, the heap a mount's
// record tables are about to fill.
//
// A mount builds several tables per record (the reader's entries and name
// index, the journal's namespace tree, the inode table): for 5,000 records,
// about 3 MiB of fresh heap first touched one 4 KiB page at a time. On a
// virtual machine each of those ~650 page faults costs several microseconds
// (a quarter of the mount's CPU time was the fault path), and even a page
// made present in advance costs an exit to the hypervisor at its first touch
// (shadow page tables): 4 MiB populated still took 6-10 ms to first touch.
// So the heap is grown once by an estimate starting on a 2 MiB boundary, the
// whole 2 MiB pages the estimate fills are asked for as transparent huge
// pages (MADV_HUGEPAGE: honoured in THP's "madvise" and "always" modes), the
// estimate is populated with MADV_POPULATE_WRITE (its tail in small pages:
// a huge page is resident whole, so rounding up would cost up to 2 MiB), and
// the heap below the first huge page is held by an untouched allocation so
// that the tables start there: a few faults instead of hundreds, 0.3 ms to
// first touch 4 MiB. Without huge pages (THP "never", old kernels) the
// populated small pages serve as before. The estimate is proportional to the
// records, so the daemon's memory stays proportional to them too.
//
//   ZipReaderOptions{.on_record_count = [](uint64_t n) { PrefaultHeap(HeapBytesForRecords(n)); }}
//
// Thread safety: PrefaultHeap changes malloc's process-wide settings; call
// it before any other thread starts (the daemon does, before its mount).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tpkg::fs {

// Heap a mount of `records` records fills before it serves (measured on
// many.pt: about 600 bytes a record, scripts/bench/bench_mount.py), capped so
// that a central directory that lies about its count cannot make the daemon
// reserve more than a large archive needs.
size_t HeapBytesForRecords(uint64_t records);

// The largest reservation HeapBytesForRecords() asks for.
inline constexpr size_t kMaxHeapPrefault = size_t{24} << 20;

// The 2 MiB-aligned huge pages that fit wholly in [begin, end): where
// PrefaultHeap asks for transparent huge pages. Empty when none fits.
struct HugePageSpan {
  uintptr_t begin = 0;
  size_t bytes = 0;
};
HugePageSpan HugePagesWithin(uintptr_t begin, uintptr_t end);

// Grows the main heap by `bytes` from a 2 MiB boundary (and holds, untouched,
// what lies below it), asks for transparent huge pages for the whole ones in
// it and faults it in, leaving them free for the next allocations. Keeps malloc
// from returning them to the kernel (trim threshold) and from serving the
// tables' larger blocks (the central directory, the entries) from separate
// mappings that would fault again (mmap threshold). Best effort: returns
// false, having changed nothing the process depends on, when the kernel lacks
// MADV_POPULATE_WRITE (Linux < 5.14) or malloc refuses.
bool PrefaultHeap(size_t bytes);

}  // namespace tpkg::fs
