// record_tails.h: the bytes just after each record's data, kept by the
// strict open's pass over the local headers for its check of the gaps
// (private to libtpkg).
//
//   RecordTails tails(by_offset.size());
//   ReadLocalHeaders(fd, size, entries, by_offset, strict, problems, &tails);
//   CheckGaps(fd, entries, by_offset, cd_offset, problems, &tails);
//
// ReadLocalHeaders reads the headers of records less than about 16 KiB apart
// in shared windows of up to 64 KiB, which hold their data and descriptors
// too; it reads farther ones with a window per header. Each window starts at
// the end of the previous record's data, so it also holds that record's
// descriptor. CheckGaps then looks after each record's data for its data
// descriptor. Without these it read the records a second time (a save's
// strict re-open of 25 MiB of 5 KiB records: 25 MiB more through the
// kernel). A tail is kept with the file offset it was read at, and used only
// for that same offset: whatever entry computed it, they are the file's
// bytes there, so the verdicts are the same as with a pread.
//
// Thread safety: a value belonging to one open.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace tpkg {

class RecordTails {
 public:
  // Bytes kept per record: the longest data descriptor (signature, CRC, two 64-bit sizes).
  static constexpr size_t kBytes = 24;

  explicit RecordTails(size_t count) : offsets_(count), sizes_(count), bytes_(count * kBytes) {}

  // The file's bytes at `offset` that follow the data of the record at
  // position `k` (of by_offset), at most kBytes of them.
  void Keep(size_t k, uint64_t offset, std::string_view bytes) {
    if (k >= offsets_.size()) return;
    if (bytes.size() > kBytes) bytes = bytes.substr(0, kBytes);
    offsets_[k] = offset;
    sizes_[k] = static_cast<uint8_t>(bytes.size());
    bytes.copy(bytes_.data() + k * kBytes, bytes.size());
  }
  // `len` bytes at `offset` for position `k`, when kept; else nullopt.
  std::optional<std::string_view> Find(size_t k, uint64_t offset, size_t len) const {
    if (k >= offsets_.size() || sizes_[k] == 0 || offsets_[k] != offset || len > sizes_[k])
      return std::nullopt;
    return std::string_view(bytes_.data() + k * kBytes, len);
  }

 private:
  std::vector<uint64_t> offsets_;
  std::vector<uint8_t> sizes_;  // 0: nothing kept
  std::vector<char> bytes_;     // kBytes per record
};

}  // namespace tpkg
