#include "zip/zip_gaps.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/file_util.h"
#include "zip/zip_format.h"

namespace tpkg {
namespace {

using namespace zipfmt;

constexpr uint64_t kWindowBytes = 64 * 1024;
constexpr size_t kLongestDescriptor = 24;  // signature, CRC, two 64-bit sizes

// Reads file bytes below `limit` through one 64 KiB window, so an archive of
// many small records costs a handful of preads, one of big records one each.
// Bytes a caller already read (`prefetched`) are taken from there.
class GapReader {
 public:
  GapReader(int fd, uint64_t limit, const std::string& archive,
            const FileBytes* prefetched = nullptr, uint64_t window = kWindowBytes)
      : fd_(fd), limit_(limit), archive_(archive), prefetched_(prefetched), window_(window) {}

  // Up to `len` bytes at `offset` (fewer at `limit`).
  std::string_view Get(uint64_t offset, size_t len) {
    len = static_cast<size_t>(std::min<uint64_t>(len, limit_ - std::min(offset, limit_)));
    if (prefetched_ && prefetched_->Holds(offset, len)) return prefetched_->Get(offset, len);
    if (offset < start_ || offset - start_ + len > bytes_.size()) {
      start_ = offset;
      bytes_.resize(static_cast<size_t>(std::min<uint64_t>(std::max<uint64_t>(window_, len),
                                                           limit_ - offset)));
      bytes_.resize(PreadFull(fd_, bytes_, offset, archive_));
    }
    return std::string_view(bytes_).substr(offset - start_, len);
  }

 private:
  int fd_;
  uint64_t limit_;
  const std::string& archive_;
  const FileBytes* prefetched_;
  uint64_t window_;
  uint64_t start_ = 0;
  std::string bytes_;
};

struct DescriptorForm {
  bool signed_;
  size_t width;  // of each size field
  size_t length() const { return (signed_ ? 4 : 0) + 4 + 2 * width; }
};
// Longest first, so that a signed 64-bit descriptor is not read as a 32-bit one.
constexpr DescriptorForm kForms[] = {{true, 8}, {true, 4}, {false, 8}, {false, 4}};

bool Agrees(const ZipEntry& e, std::string_view bytes, DescriptorForm form) {
  if (bytes.size() < form.length()) return false;
  const char* p = bytes.data();
  if (form.signed_) {
    if (Load32(p) != kDataDescriptorSig) return false;
    p += 4;
  }
  auto load = [&form](const char* q) { return form.width == 8 ? Load64(q) : Load32(q); };
  return Load32(p) == e.crc32 && load(p + 4) == e.compressed_size &&
         load(p + 4 + form.width) == e.size;
}

// Length of the data descriptor at the start of `room` agreeing with `e`, or
// the reason there is none.
std::variant<size_t, std::string> Descriptor(const ZipEntry& e, std::string_view room) {
  for (const DescriptorForm form : kForms) {
    if (Agrees(e, room, form)) return form.length();
  }
  if (room.size() < kForms[3].length()) {
    return std::string("data descriptor missing (flag bit 3 is set, ") +
           std::to_string(room.size()) + " bytes follow the data)";
  }
  return std::string(
      "data descriptor disagrees with the central directory (CRC-32 or sizes; torch reads the "
      "central directory's)");
}

std::string Hidden(GapReader& reader, uint64_t from, uint64_t to, std::string_view before) {
  const std::string_view head = reader.Get(from, 4);
  const bool header = head.size() == 4 && Load32(head.data()) == kLocalHeaderSig;
  return std::to_string(to - from) + " bytes at offset " + std::to_string(from) + " " +
         std::string(before) + " belong to no record" +
         (header ? " (a local header the central directory does not list)"
                 : " (data outside any record)");
}

}  // namespace

void CheckGaps(int fd, const std::vector<ZipEntry>& entries, std::span<const uint32_t> by_offset,
               uint64_t cd_offset, Problems& problems, const RecordTails* tails) {
  // With the tails, what is read is only what they lack (the last record's
  // descriptor, or one that does not end within 24 bytes of the next header
  // or that its window cut short): a descriptor's bytes, not a window of data.
  GapReader reader(fd, cd_offset, problems.archive(), nullptr,
                   tails ? kLongestDescriptor : kWindowBytes);
  uint64_t cursor = 0;  // end of everything the records so far hold
  for (size_t k = 0; k <= by_offset.size(); ++k) {
    const bool last = k == by_offset.size();
    const uint64_t next = last ? cd_offset : entries[by_offset[k]].local_header_offset;
    if (next > cursor) {
      problems.Archive(Errc::kCorrupt,
                       Hidden(reader, cursor, next,
                              last ? "before the central directory"
                                   : "before record " + QuoteName(entries[by_offset[k]].full_name)));
    }
    if (last) break;
    const size_t i = by_offset[k];
    const ZipEntry& e = entries[i];
    cursor = std::max(cursor, e.data_offset + e.compressed_size);
    if (!(e.flags & kFlagDataDescriptor)) continue;
    const uint64_t room_end =
        k + 1 < by_offset.size() ? entries[by_offset[k + 1]].local_header_offset : cd_offset;
    const uint64_t room = room_end > cursor ? room_end - cursor : 0;
    // What GapReader::Get would return: no further than the central directory.
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(std::min<uint64_t>(room, kLongestDescriptor),
                           cd_offset - std::min(cursor, cd_offset)));
    std::optional<std::string_view> kept;
    if (tails) kept = tails->Find(k, cursor, want);
    const auto found = Descriptor(e, kept ? *kept : reader.Get(cursor, want));
    if (const auto* why = std::get_if<std::string>(&found)) {
      problems.Record(i, e.full_name, Errc::kCorrupt, *why);
      cursor = std::max(cursor, room_end);  // reported once, not again as a gap
    } else {
      cursor += std::get<size_t>(found);
    }
  }
}

void CheckLeadingBytes(int fd, const std::vector<ZipEntry>& entries,
                       std::span<const uint32_t> by_offset, uint64_t cd_offset,
                       Problems& problems) {
  const uint64_t first = by_offset.empty() ? cd_offset
                                           : entries[by_offset.front()].local_header_offset;
  if (first == 0) return;
  GapReader reader(fd, cd_offset, problems.archive());
  problems.Archive(Errc::kCorrupt,
                   Hidden(reader, 0, std::min(first, cd_offset),
                          by_offset.empty()
                              ? "before the central directory"
                              : "before record " + QuoteName(entries[by_offset.front()].full_name)));
}

void CheckRecordTail(int fd, const ZipEntry& entry, size_t index, uint64_t region_end,
                     const std::string* next_record, Problems& problems,
                     const FileBytes* prefetched) {
  GapReader reader(fd, region_end, problems.archive(), prefetched);
  uint64_t cursor = entry.data_offset + entry.compressed_size;
  if (entry.flags & kFlagDataDescriptor) {
    const uint64_t room = region_end > cursor ? region_end - cursor : 0;
    const auto found = Descriptor(
        entry,
        reader.Get(cursor, static_cast<size_t>(std::min<uint64_t>(room, kLongestDescriptor))));
    if (const auto* why = std::get_if<std::string>(&found)) {
      return problems.Record(index, entry.full_name, Errc::kCorrupt, *why);
    }
    cursor += std::get<size_t>(found);
  }
  if (region_end > cursor) {
    const std::string next =
        next_record ? "record " + QuoteName(*next_record) : std::string("the central directory");
    problems.Record(index, entry.full_name, Errc::kCorrupt,
                    Hidden(reader, cursor, region_end, "before " + next));
  }
}

}  // namespace tpkg
