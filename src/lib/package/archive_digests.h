// archive_digests.h (private): the SHA-256 of the source records of one
// version of one archive file, by where each lies in it, so that a later
// analysis of that same file (its FileStamp unchanged: tpkg/file_stamp.h)
// finds each source's scan in the analysis store (analysis_store.h) without
// reading the source to hash it.
//
//   ArchiveDigests d{stamp, {}};
//   d.Add(RecordContentId::Of(entry), Sha256(bytes));
//   std::string bytes = EncodeArchiveDigests(d);
//   std::optional<ArchiveDigests> back = DecodeArchiveDigests(bytes, &why);
//   if (back && back->stamp == *TrustedStampOf(fd)) ... back->Find(content) ...
//
// Layout (integers little-endian): "tpkg-archive-digests\n" (21 bytes),
// u32 format version (1), the stamp (cache_file_format.h PutStamp: 7 u64), u32 entry
// count, then per entry: u64 local header offset, u64 compressed size, u64
// size, u32 CRC-32, 32-byte SHA-256 of the record's bytes; then the SHA-256
// of every byte before it (cache_file_format.h). A file is trusted whole or
// not at all; an entry is used only for a record whose whole
// RecordContentId matches.
//
// Thread safety: a value type; the functions are stateless.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/sha256.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/file_stamp.h"

namespace tpkg {

struct ArchiveDigests {
  FileStamp stamp;
  struct Entry {
    RecordContentId content;
    Sha256Digest digest{};
  };
  std::unordered_map<uint64_t, Entry> by_offset;  // by local header offset

  const Sha256Digest* Find(const RecordContentId& content) const {
    const auto it = by_offset.find(content.local_header_offset);
    return it != by_offset.end() && it->second.content == content ? &it->second.digest : nullptr;
  }
  void Add(const RecordContentId& content, const Sha256Digest& digest) {
    by_offset.insert_or_assign(content.local_header_offset, Entry{content, digest});
  }
};

std::string EncodeArchiveDigests(const ArchiveDigests& digests);
std::optional<ArchiveDigests> DecodeArchiveDigests(std::string_view bytes, std::string* why);

}  // namespace tpkg
