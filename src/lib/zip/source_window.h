// source_window.h (private): how ZipWriter reads a run of small records of
// a source archive for raw copies, and ZipReader::CheckRecords a run of
// records to check: with one pread.
//
// Copying one small record raw used to cost a pread or two for its first
// checks (a deferred reader's), one for its first bytes (the serialization
// id), a write for the header before it and a copy_file_range for its data:
// five system calls for a few KiB. A run of records that follow each other
// in the source is read at once instead (at most kMaxBytes); their checks
// run on those bytes (ZipReader::DataOffset with bytes) and their data goes
// to the writer's buffer, written in pieces of 256 KiB.
//
//   SourceWindow window;
//   for (size_t i = 0; i < copies.size(); ++i)
//     if (std::optional<FileBytes> bytes = window.Region(src, copies, i)) ...  // holds copies[i]
//
// Thread safety: none; it belongs to one ZipWriter call.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"
#include "zip/file_bytes.h"

namespace tpkg {

// The region [start, end) of a record: its local header, data and
// descriptor, up to the next record (ZipReader::RegionEnd).
struct RegionSpan {
  uint64_t start, end;
};

class SourceWindow {
 public:
  // Records whose region (local header, data, descriptor) is at most this
  // big are read through the window; bigger ones are copied in the kernel
  // (copy_file_range, which shares extents on XFS and btrfs). Measured on
  // ext4, page cache warm, 256 MiB in records of one size: a pread into the
  // writer's buffer plus 1 MiB writes take 0.39x the time of a header write
  // plus copy_file_range per record at 4 KiB, 0.64x at 16 KiB, 0.94x at 64
  // KiB, about the same from 256 KiB to 1 MiB, and 1.16x at 4 MiB.
  static constexpr uint64_t kSmallRegion = 64 << 10;
  // What one pread reads at most. Bigger costs more than it saves: each
  // fresh page of a buffer is a page fault, dear on a virtual machine (a
  // save of 5,000 records of 5 KiB: 630 more faults and about 10 ms more
  // CPU with 1 MiB here and in the writer's buffer than with 256 KiB; 64
  // KiB saved 180 faults more, for no less CPU: four times the calls).
  static constexpr uint64_t kMaxBytes = 256 << 10;

  // The region of `entry` of `src` when it is at most kSmallRegion, else
  // nullopt: also what ZipReader::ReadAll reads whole in one pread.
  static std::optional<RegionSpan> SmallRegion(const ZipReader& src, const ZipEntry& entry);

  // Bytes of `src` holding the whole region of copies[i].entry: the window
  // as it is when it holds it, else after one pread of that region and the
  // regions of the small records after it in `copies` that follow it in the
  // file. nullopt when that record is not small, or not one of `src`.
  std::optional<FileBytes> Region(const ZipReader& src, std::span<const RawRecordCopy> copies,
                                  size_t i);
  // The same over entries of `src` (ZipReader::CheckRecords).
  std::optional<FileBytes> Region(const ZipReader& src, std::span<const ZipEntry* const> entries,
                                  size_t i);

 private:
  // The run starting at the entry_at(i), over `count` entries.
  template <typename EntryAt>
  std::optional<FileBytes> RegionOf(const ZipReader& src, size_t count, EntryAt entry_at,
                                    size_t i);

  uint64_t start_ = 0;
  std::string bytes_;
};

}  // namespace tpkg
