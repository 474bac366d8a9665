// The archive digests format (rules in archive_digests.h).
#include "package/archive_digests.h"

#include "package/cache_file_format.h"

namespace tpkg {
namespace {

constexpr std::string_view kMagic = "tpkg-archive-digests\n";
constexpr uint32_t kVersion = 1;
constexpr size_t kEntryBytes = 8 + 8 + 8 + 4 + 32;  // content id, then digest

}  // namespace

std::string EncodeArchiveDigests(const ArchiveDigests& digests) {
  std::string out;
  out.reserve(kMagic.size() + 4 + kStampBytes + 4 + digests.by_offset.size() * kEntryBytes + 32);
  out.append(kMagic);
  PutU32(out, kVersion);
  PutStamp(out, digests.stamp);
  PutU32(out, static_cast<uint32_t>(digests.by_offset.size()));
  for (const auto& [offset, e] : digests.by_offset) {
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
    ArchiveDigests out;
    out.stamp = in.Stamp();
    const uint32_t count = in.U32();
    if (in.left() != static_cast<uint64_t>(count) * kEntryBytes) {
      *why = "its entry count does not match its size";
      return std::nullopt;
    }
    out.by_offset.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      RecordContentId c;
      c.local_header_offset = in.U64();
      c.compressed_size = in.U64();
      c.size = in.U64();
      c.crc32 = in.U32();
      out.Add(c, in.Digest());
    }
    return out;
  } catch (const std::out_of_range& e) {
    *why = e.what();
    return std::nullopt;
  }
}

}  // namespace tpkg
