// RecordStream and the ZipReader methods that read record data.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include "base/file_util.h"
#include "tpkg/crc32.h"
#include "tpkg/zip_reader.h"
#include "zip/inflater.h"
#include "zip/source_window.h"
#include "zip/zip_problems.h"

namespace tpkg {
namespace {

constexpr size_t kInputChunk = 64 * 1024;
constexpr size_t kSkipChunk = 64 * 1024;

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

// Why a record whose data gives `got` is refused (both readers below).
std::string CrcMismatch(const ZipEntry& entry, uint32_t got) {
  return "CRC-32 mismatch (archive says " + Hex32(entry.crc32) + ", data gives " + Hex32(got) + ")";
}

}  // namespace

struct RecordStream::Impl {
  const ZipReader* zip;
  const ZipEntry* entry;
  uint64_t data_offset = 0;  // ZipReader::DataOffset(): checked when deferred
  uint64_t position = 0;  // uncompressed bytes delivered or skipped
  uint32_t crc = 0;
  bool crc_complete = true;  // false once stored bytes were skipped unread
  bool verified = false;
  // Deflate state: compressed bytes are fetched kInputChunk at a time.
  std::unique_ptr<Inflater> inflater;
  std::vector<char> input;
  size_t input_begin = 0, input_end = 0;
  uint64_t compressed_fetched = 0;
  bool stream_ended = false;

  [[noreturn]] void Corrupt(std::string_view why) const {
    throw Error(Errc::kCorrupt, RecordMessage(zip->path(), entry->full_name, why));
  }

  size_t ReadStored(std::span<char> out) {
    if (PreadFull(zip->fd(), out, data_offset + position, zip->path()) != out.size()) {
      Corrupt("data is truncated");
    }
    return out.size();
  }

  void Refill() {
    const size_t n = static_cast<size_t>(
        std::min<uint64_t>(kInputChunk, entry->compressed_size - compressed_fetched));
    if (n == 0) return;
    input.resize(kInputChunk);
    const uint64_t at = data_offset + compressed_fetched;
    if (PreadFull(zip->fd(), std::span(input).first(n), at, zip->path()) != n) {
      Corrupt("data is truncated");
    }
    input_begin = 0;
    input_end = n;
    compressed_fetched += n;
  }

  // Inflates into `out` (already cut to the bytes left). An empty `out`
  // probes that the stream ends exactly at the record's size.
  size_t ReadDeflated(std::span<char> out) {
    char probe;
    for (;;) {
      if (input_begin == input_end) Refill();
      const bool probing = out.empty();
      const auto step =
          inflater->Inflate(std::span(input).subspan(input_begin, input_end - input_begin),
                            probing ? std::span<char>(&probe, 1) : out);
      input_begin += step.consumed;
      if (step.error) Corrupt(std::string("invalid deflate data (") + step.error + ")");
      stream_ended |= step.ended;
      if (probing && step.produced) Corrupt("inflates to more bytes than its size");
      if (step.produced || (probing && stream_ended)) return step.produced;
      if (stream_ended) Corrupt("inflates to fewer bytes than its size");
      if (step.consumed == 0 && input_begin == input_end &&
          compressed_fetched == entry->compressed_size) {
        Corrupt("deflate data is truncated");
      }
    }
  }

  void Verify() {
    if (inflater) {
      ReadDeflated({});
      if (input_begin != input_end || compressed_fetched != entry->compressed_size) {
        Corrupt("deflate stream ends before its compressed size");
      }
    }
    if (crc_complete && crc != entry->crc32) {
      Corrupt(CrcMismatch(*entry, crc));
    }
    verified = true;
  }
};

RecordStream::RecordStream(const ZipReader& zip, const ZipEntry& entry)
    : impl_(std::make_unique<Impl>()) {
  impl_->zip = &zip;
  impl_->entry = &entry;
  impl_->data_offset = zip.DataOffset(entry);
  if (entry.method == kMethodDeflate) impl_->inflater = std::make_unique<Inflater>();
}

RecordStream::RecordStream(RecordStream&&) noexcept = default;
RecordStream& RecordStream::operator=(RecordStream&&) noexcept = default;
RecordStream::~RecordStream() = default;

uint64_t RecordStream::position() const { return impl_->position; }

size_t RecordStream::Read(std::span<char> out) {
  Impl& s = *impl_;
  const uint64_t left = s.entry->size - s.position;
  out = out.first(static_cast<size_t>(std::min<uint64_t>(out.size(), left)));
  size_t n = 0;
  if (!out.empty()) n = s.inflater ? s.ReadDeflated(out) : s.ReadStored(out);
  s.crc = Crc32(s.crc, out.first(n));
  s.position += n;
  if (s.position == s.entry->size && !s.verified) s.Verify();
  return n;
}

uint64_t RecordStream::Skip(uint64_t count) {
  Impl& s = *impl_;
  count = std::min(count, s.entry->size - s.position);
  if (!s.inflater) {  // stored: nothing to decode, just move on
    s.position += count;
    s.crc_complete = s.crc_complete && count == 0;
    return count;
  }
  std::vector<char> scratch(static_cast<size_t>(std::min<uint64_t>(count, kSkipChunk)));
  uint64_t skipped = 0;
  while (skipped < count) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(count - skipped, scratch.size()));
    const size_t n = Read(std::span(scratch).first(want));
    if (n == 0) break;
    skipped += n;
  }
  return skipped;
}

namespace {

// The data of the stored record `entry` from `region` (the file's bytes
// holding its region), its first checks taken on those bytes
// (ZipReader::DataOffset with bytes: the same checks and verdicts; throws
// for a bad record) and its CRC verified. nullopt when the bytes end early
// (the file is shorter: the usual read says so) or the CRC fails (`crc`
// says so: the caller throws, or leaves it to the usual read).
std::optional<std::string> StoredFromRegion(const ZipReader& zip, const ZipEntry& entry,
                                            const FileBytes& region, uint32_t* crc) {
  const uint64_t data = zip.DataOffset(entry, region.start, region.bytes);
  if (!region.Holds(data, entry.size)) return std::nullopt;
  std::string bytes(region.Get(data, entry.size));
  *crc = Crc32(0, bytes);
  if (*crc != entry.crc32) return std::nullopt;
  return bytes;
}

// A small stored record of a deferred reader: its region in one pread, and
// StoredFromRegion. Without this, its checks read the header (and what
// follows the data) and the data was read again: two or three preads, or,
// after a run's window (CheckRecords), every byte twice. nullopt when the
// record is not such a record (the caller reads it the usual way).
std::optional<std::string> ReadSmallStored(const ZipReader& zip, const ZipEntry& entry) {
  // An eager reader checked the record at open: one pread of its data does.
  if (entry.method != kMethodStored || !zip.deferred()) return std::nullopt;
  const std::optional<RegionSpan> region = SourceWindow::SmallRegion(zip, entry);
  if (!region) return std::nullopt;
  const uint64_t start = region->start;
  std::string bytes(static_cast<size_t>(region->end - start), '\0');
  bytes.resize(PreadFull(zip.fd(), bytes, start, zip.path()));
  uint32_t crc = entry.crc32;
  std::optional<std::string> data = StoredFromRegion(zip, entry, FileBytes{start, bytes}, &crc);
  if (crc != entry.crc32) {
    throw Error(Errc::kCorrupt,
                RecordMessage(zip.path(), entry.full_name, CrcMismatch(entry, crc)));
  }
  return data;
}

}  // namespace

std::string ZipReader::ReadAll(const ZipEntry& entry) const {
  if (std::optional<std::string> small = ReadSmallStored(*this, entry)) return std::move(*small);
  std::string out(static_cast<size_t>(entry.size), '\0');
  RecordStream in(*this, entry);
  size_t done = 0;
  while (done < out.size()) {
    const size_t n = in.Read(std::span(out).subspan(done));
    if (n == 0) break;
    done += n;
  }
  char end;
  in.Read(std::span(&end, 1));  // a 0-byte record is verified on this call
  return out;
}

std::vector<std::optional<std::string>> ZipReader::ReadSmallRecords(
    std::span<const ZipEntry* const> entries) const {
  std::vector<std::optional<std::string>> out(entries.size());
  SourceWindow window;
  uint64_t served = 0;
  for (size_t i = 0; i < entries.size() && served < kMaxReadTogether; ++i) {
    if (entries[i]->method != kMethodStored) continue;  // inflated the usual way
    try {
      // The run of small records after it in `entries` that follow it in
      // the file comes with it (SourceWindow::kMaxBytes at most).
      const std::optional<FileBytes> region = window.Region(*this, entries, i);
      uint32_t crc = 0;
      if (region) out[i] = StoredFromRegion(*this, *entries[i], *region, &crc);
      if (out[i]) served += out[i]->size();
    } catch (const Error&) {
      // A failed check is kept as the record's verdict; its ReadAll throws it.
    }
  }
  return out;
}

size_t ZipReader::ReadAt(const ZipEntry& entry, uint64_t offset, std::span<char> out) const {
  if (offset >= entry.size || out.empty()) return 0;
  out = out.first(static_cast<size_t>(std::min<uint64_t>(out.size(), entry.size - offset)));
  if (entry.method == kMethodStored) {
    if (PreadFull(fd(), out, DataOffset(entry) + offset, path()) != out.size()) {
      throw Error(Errc::kCorrupt, RecordMessage(path(), entry.full_name, "data is truncated"));
    }
    return out.size();
  }
  RecordStream in(*this, entry);
  in.Skip(offset);
  size_t done = 0;
  while (done < out.size()) {
    const size_t n = in.Read(out.subspan(done));
    if (n == 0) break;
    done += n;
  }
  return done;
}

}  // namespace tpkg
