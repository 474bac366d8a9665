// The archive digests format (rules in archive_digests.h).
#include "package/archive_digests.h"

#include <algorithm>

#include "package/cache_file_format.h"

namespace tpkg {
namespace {

constexpr std::string_view kMagic = "tpkg-archive-digests\n";
constexpr uint32_t kVersion = 1;
constexpr size_t kEntryBytes = 8 + 8 + 8 + 4 + 32;  // content id, then digest

}  // namespace

const Sha256Digest* ArchiveDigests::Find(const RecordContentId& content) const {
  const auto end = entries_.begin() + static_cast<std::ptrdiff_t>(settled_);
  const auto it = std::lower_bound(
      entries_.begin(), end, content.local_header_offset,
      [](const Entry& e, uint64_t offset) { return e.content.local_header_offset < offset; });
  return it != end && it->content == content ? &it->digest : nullptr;
}

void ArchiveDigests::Settle() {
  if (settled_ == entries_.size()) return;
  const auto by_offset = [](const Entry& a, const Entry& b) {
    return a.content.local_header_offset < b.content.local_header_offset;
  };
  std::sort(entries_.begin(), entries_.end(), by_offset);  // in place: no second copy
  const auto same_place = [](const Entry& a, const Entry& b) {
    return a.content.local_header_offset == b.content.local_header_offset;
  };
  entries_.erase(std::unique(entries_.begin(), entries_.end(), same_place), entries_.end());
  settled_ = entries_.size();
}

std::string EncodeArchiveDigests(const ArchiveDigests& digests) {
  std::string out;
  out.reserve(kMagic.size() + 4 + kStampBytes + 4 + digests.size() * kEntryBytes + 32);
  out.append(kMagic);
  PutU32(out, kVersion);
  PutStamp(out, digests.stamp());
  PutU32(out, static_cast<uint32_t>(digests.size()));
  for (const ArchiveDigests::Entry& e : digests.entries()) {
    PutU64(out, e.content.local_header_offset);
    PutU64(out, e.content.compressed_size);
    PutU64(out, e.content.size);
    PutU32(out, e.content.crc32);
    PutDigest(out, e.digest);
  }
  SealWithChecksum(out);
  return out;
}

std::optional<ArchiveDigests> DecodeArchiveDigests(std::string_view bytes, std::string* why) {
  const std::optional<std::string_view> body =
      Unseal(bytes, kMagic, kVersion, "an archive digests file", why);
  if (!body) return std::nullopt;
  try {
    CacheFileReader in(*body);
    ArchiveDigests out(in.Stamp());
    const uint32_t count = in.U32();
    if (in.left() != static_cast<uint64_t>(count) * kEntryBytes) {
      *why = "its entry count does not match its size";
      return std::nullopt;
    }
    out.Reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      RecordContentId c;
      c.local_header_offset = in.U64();
      c.compressed_size = in.U64();
      c.size = in.U64();
      c.crc32 = in.U32();
      out.Add(c, in.Digest());
    }
    out.Settle();
    return out;
  } catch (const std::out_of_range& e) {
    *why = e.what();
    return std::nullopt;
  }
}

}  // namespace tpkg
