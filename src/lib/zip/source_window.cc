#include "zip/source_window.h"

#include "base/file_util.h"
#include "tpkg/error.h"

namespace tpkg {

std::optional<RegionSpan> SourceWindow::SmallRegion(const ZipReader& src,
                                                    const ZipEntry& entry) {
  const std::optional<uint64_t> end = src.RegionEnd(entry);
  if (!end || *end <= entry.local_header_offset ||
      *end - entry.local_header_offset > kSmallRegion)
    return std::nullopt;
  return RegionSpan{entry.local_header_offset, *end};
}

std::optional<FileBytes> SourceWindow::Region(const ZipReader& src,
                                              std::span<const RawRecordCopy> copies, size_t i) {
  return RegionOf(src, copies.size(), [&](size_t j) -> const ZipEntry& { return *copies[j].entry; },
                  i);
}

std::optional<FileBytes> SourceWindow::Region(const ZipReader& src,
                                              std::span<const ZipEntry* const> entries, size_t i) {
  return RegionOf(src, entries.size(), [&](size_t j) -> const ZipEntry& { return *entries[j]; },
                  i);
}

template <typename EntryAt>
std::optional<FileBytes> SourceWindow::RegionOf(const ZipReader& src, size_t count,
                                                EntryAt entry_at, size_t i) {
  const std::optional<RegionSpan> first = SmallRegion(src, entry_at(i));
  if (!first) return std::nullopt;
  FileBytes window{start_, bytes_};
  if (window.Holds(first->start, first->end - first->start)) return window;
  // The run: records after it in `copies` whose regions follow in the file.
  uint64_t end = first->end;
  for (size_t j = i + 1; j < count; ++j) {
    const std::optional<RegionSpan> next = SmallRegion(src, entry_at(j));
    if (!next || next->start != end || next->end - first->start > kMaxBytes) break;
    end = next->end;
  }
  start_ = first->start;
  bytes_.resize(static_cast<size_t>(end - first->start));
  // Short at the end of a truncated file: the checks then read the rest
  // from the file and report what is missing.
  try {
    bytes_.resize(PreadFull(src.fd(), bytes_, start_, src.path()));
  } catch (...) {
    // An I/O error: the window holds nothing, or the next records' checks
    // would run on bytes never read and keep a false verdict.
    bytes_.clear();
    throw;
  }
  return FileBytes{start_, bytes_};
}

void ZipReader::CheckRecords(std::span<const ZipEntry* const> entries) const {
  if (!deferred()) return;
  SourceWindow window;
  for (size_t i = 0; i < entries.size(); ++i) {
    try {
      const std::optional<FileBytes> bytes = window.Region(*this, entries, i);
      if (bytes) DataOffset(*entries[i], bytes->start, bytes->bytes);
    } catch (const Error&) {
      // Kept as the record's verdict (or, for an I/O error, met again by its read).
    }
  }
}

}  // namespace tpkg
