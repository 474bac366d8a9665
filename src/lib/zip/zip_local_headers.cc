#include "zip/zip_local_headers.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "base/file_util.h"
#include "zip/zip_format.h"

namespace tpkg {
namespace {

using namespace zipfmt;

constexpr uint64_t kWindowBytes = 64 * 1024;
// A window stops before a header that lies this far or further past the
// previous header's guessed end (HeaderGuessEnd): copying the data between
// would cost more than a pread of its own. Where that line lies depends on
// what a system call costs against a copy. Measured with tests/tools/bench_open
// (medians of 100 opens, page cache warm): on a VM with cheap system calls,
// 5,000 records of one size, windows holding the data took 2.0 / 2.3 / 2.8 /
// 6.2 ms for records of 2.1 / 3 / 5 / 16 KB against 2.1 / 2.3 / 2.9 / 3.0 ms
// with a bound of 4 KiB, and many.pt (sources of 4 KB, storages of 16 KB)
// 2.4 ms against 1.9 ms; on the project's later VM, where each system call
// exits to the hypervisor (about 5 us a pread), many.pt takes 2.7-3.2 ms
// with this bound and 2.3-3.0 ms with windows that always hold the data,
// against 5.3-5.5 ms with a 4 KiB bound (32 KiB windows: 3.1-3.5 ms; 128
// KiB ones, whose buffer malloc maps afresh: 5.2-7.1 ms). 16 KiB halves the
// second VM's time for sources of a few KB and keeps the first VM's 3.0 ms
// for records of 16 KB.
constexpr uint64_t kMaxSkippedBytes = 16 * 1024;
// Room guessed for a local extra field: torch's FB block (<= 67 bytes) plus
// its ZIP64 block (<= 28). Longer extras just cost one more pread.
constexpr uint64_t kExtraAllowance = 128;

// File bytes [start, start + bytes.size()) read in one pread.
struct Window {
  uint64_t start = 0;
  std::string bytes;
};

uint64_t HeaderGuessEnd(const ZipEntry& e) {
  const uint64_t room = kLocalHeaderSize + e.full_name.size() + kExtraAllowance;
  return e.local_header_offset > UINT64_MAX - room ? UINT64_MAX : e.local_header_offset + room;
}

// Index one past the last entry whose guessed header fits in the window
// starting at `first`, without kMaxSkippedBytes or more between two of them.
size_t WindowEnd(const std::vector<ZipEntry>& entries, std::span<const uint32_t> by_offset,
                 size_t first) {
  const uint64_t start = entries[by_offset[first]].local_header_offset;
  size_t last = first + 1;
  while (last < by_offset.size() &&
         HeaderGuessEnd(entries[by_offset[last]]) - start <= kWindowBytes) {
    const uint64_t header = entries[by_offset[last]].local_header_offset;
    const uint64_t before = HeaderGuessEnd(entries[by_offset[last - 1]]);
    if (header > before && header - before >= kMaxSkippedBytes) break;
    ++last;
  }
  return last;
}

// `len` bytes at `offset`, from the window when they are inside it, else
// from a pread into `spare`. Shorter only at the end of the file.
std::string_view Fetch(int fd, const FileBytes& w, uint64_t offset, size_t len,
                       std::string& spare, Problems& problems) {
  if (w.Holds(offset, len)) return w.Get(offset, len);
  spare.resize(len);
  spare.resize(PreadFull(fd, spare, offset, problems.archive()));
  return spare;
}

// Local CRC/sizes, with ZIP64 sizes when the 32-bit slots are at their maximum.
struct LocalSums {
  uint64_t crc, compressed, size;
};

LocalSums ReadLocalSums(std::string_view header, std::string_view extra) {
  LocalSums s{Load32(header.data() + local::kCrc), Load32(header.data() + local::kCompressedSize),
              Load32(header.data() + local::kSize)};
  bool well_formed = true;
  if (s.size == kMax32 || s.compressed == kMax32) {
    auto block = FindExtraBlock(extra, kZip64ExtraId, well_formed);
    if (block && block->size() >= 16) {
      s.size = Load64(block->data());
      s.compressed = Load64(block->data() + 8);
    }
  }
  return s;
}

// Why the local header `h` (fixed part, name, extra) disagrees with the central entry.
std::string Disagreement(const ZipEntry& e, std::string_view h) {
  const size_t name_len = Load16(h.data() + local::kNameLength);
  const std::string_view name = h.substr(kLocalHeaderSize, name_len);
  if (name != e.full_name) return "name " + QuoteName(name);
  if (Load16(h.data() + local::kMethod) != e.method) return "compression method";
  if (Load16(h.data() + local::kFlags) != e.flags) return "flags";
  const LocalSums s = ReadLocalSums(h, h.substr(kLocalHeaderSize + name_len));
  // With a data descriptor the local fields may be zero (torch writes zeros).
  const bool deferred = (e.flags & kFlagDataDescriptor) != 0;
  auto agrees = [deferred](uint64_t local, uint64_t central) {
    return local == central || (deferred && local == 0);
  };
  if (!agrees(s.crc, e.crc32)) return "CRC-32";
  if (!agrees(s.compressed, e.compressed_size) || !agrees(s.size, e.size)) return "sizes";
  return {};
}

void ReadOne(int fd, uint64_t file_size, const FileBytes& w, ZipEntry& e, size_t index, bool strict,
             std::string& spare, Problems& problems) {
  const uint64_t lho = e.local_header_offset;
  if (lho >= file_size) {
    return problems.Record(
        index, e.full_name, Errc::kCorrupt,
        "local header offset " + std::to_string(lho) + " is past the end of the file");
  }
  std::string_view h = Fetch(fd, w, lho, kLocalHeaderSize, spare, problems);
  if (h.size() < kLocalHeaderSize || Load32(h.data()) != kLocalHeaderSig) {
    return problems.Record(index, e.full_name, Errc::kCorrupt,
                           "no local header at offset " + std::to_string(lho));
  }
  const size_t header_len = kLocalHeaderSize + Load16(h.data() + local::kNameLength) +
                            Load16(h.data() + local::kExtraLength);
  h = Fetch(fd, w, lho, header_len, spare, problems);
  if (h.size() < header_len) {
    return problems.Record(index, e.full_name, Errc::kCorrupt,
                           "local header runs past the end of the file");
  }
  e.data_offset = lho + header_len;
  if (e.data_offset > file_size || e.compressed_size > file_size - e.data_offset) {
    return problems.Record(index, e.full_name, Errc::kCorrupt,
                           "data runs past the end of the file (truncated archive)");
  }
  if (!strict) return;
  if (std::string why = Disagreement(e, h); !why.empty()) {
    problems.Record(index, e.full_name, Errc::kCorrupt,
                    "local header disagrees with the central directory (" + why + ")");
  } else if (std::string bad = ExtraFieldProblem(h.substr(header_len - Load16(h.data() + local::kExtraLength)));
             !bad.empty()) {
    problems.Record(index, e.full_name, Errc::kCorrupt, "local header " + bad);
  }
}

// What the window holds of the bytes after the data of each record from
// `first` to `last` (whose data_offset ReadOne set, for `first` perhaps in
// the previous window's pass, or left as it was for a record it refused: a
// tail is only ever used at its own offset).
void KeepTails(const std::vector<ZipEntry>& entries, std::span<const uint32_t> by_offset,
               size_t first, size_t last, const FileBytes& w, RecordTails& tails) {
  for (size_t k = first; k < last; ++k) {
    const ZipEntry& e = entries[by_offset[k]];
    if (e.compressed_size > UINT64_MAX - e.data_offset) continue;
    const uint64_t end = e.data_offset + e.compressed_size;
    if (end < w.start || end - w.start >= w.bytes.size()) continue;
    tails.Keep(k, end, w.bytes.substr(static_cast<size_t>(end - w.start), RecordTails::kBytes));
  }
}

}  // namespace

void ReadLocalHeaders(int fd, uint64_t file_size, std::vector<ZipEntry>& entries,
                      std::span<const uint32_t> by_offset, bool strict, Problems& problems,
                      RecordTails* tails) {
  Window window;
  std::string spare;
  for (size_t first = 0; first < by_offset.size();) {
    const size_t last = WindowEnd(entries, by_offset, first);
    window.start = entries[by_offset[first]].local_header_offset;
    // The previous record's data descriptor, just before this header, comes
    // along for KeepTails: CheckGaps would read it with a pread of its own.
    size_t tails_from = first;
    if (tails && first > 0) {
      const ZipEntry& previous = entries[by_offset[first - 1]];
      const uint64_t data_end = previous.data_offset + previous.compressed_size;
      if (data_end >= previous.data_offset && data_end <= window.start &&
          window.start - data_end <= RecordTails::kBytes) {
        window.start = data_end;
        tails_from = first - 1;
      }
    }
    const uint64_t stop = std::min(file_size, HeaderGuessEnd(entries[by_offset[last - 1]]));
    window.bytes.resize(stop > window.start ? stop - window.start : 0);
    window.bytes.resize(PreadFull(fd, window.bytes, window.start, problems.archive()));
    for (size_t k = first; k < last; ++k) {
      ReadOne(fd, file_size, {window.start, window.bytes}, entries[by_offset[k]], by_offset[k],
              strict, spare, problems);
    }
    if (tails)
      KeepTails(entries, by_offset, tails_from, last, {window.start, window.bytes}, *tails);
    first = last;
  }
}

void ReadLocalHeader(int fd, uint64_t file_size, ZipEntry& entry, size_t index, bool strict,
                     Problems& problems, const FileBytes* prefetched) {
  std::string spare;
  if (prefetched && prefetched->Holds(entry.local_header_offset, kLocalHeaderSize)) {
    return ReadOne(fd, file_size, *prefetched, entry, index, strict, spare, problems);
  }
  Window window;
  window.start = entry.local_header_offset;
  const uint64_t stop = std::min(file_size, HeaderGuessEnd(entry));
  window.bytes.resize(stop > window.start ? stop - window.start : 0);
  window.bytes.resize(PreadFull(fd, window.bytes, window.start, problems.archive()));
  ReadOne(fd, file_size, {window.start, window.bytes}, entry, index, strict, spare, problems);
}

}  // namespace tpkg
