// archive_digests.h (private): the SHA-256 of the source records of one
// version of one archive file, by where each lies in it, so that a later
// analysis of that same file (its FileStamp unchanged: tpkg/file_stamp.h)
// finds each source's scan in the analysis store (analysis_store.h) without
// reading the source to hash it.
//
//   ArchiveDigests d(stamp);
//   d.Add(RecordContentId::Of(entry), Sha256(bytes));
//   std::string bytes = EncodeArchiveDigests(d);
//   std::optional<ArchiveDigests> back = DecodeArchiveDigests(bytes, &why);  // settled
//   if (back && back->stamp() == *TrustedStampOf(fd)) ... back->Find(content) ...
//
// Layout (integers little-endian): "tpkg-archive-digests\n" (21 bytes),
// u32 format version (1), the stamp (cache_file_format.h PutStamp: 7 u64), u32 entry
// count, then per entry: u64 local header offset, u64 compressed size, u64
// size, u32 CRC-32, 32-byte SHA-256 of the record's bytes; then the SHA-256
// of every byte before it (cache_file_format.h). A file is trusted whole or
// not at all; an entry is used only for a record whose whole
// RecordContentId matches.
//
// Thread safety: a value type (its owner guards it); the functions are
// stateless.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/sha256.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/file_stamp.h"

namespace tpkg {

// Held as one vector of 64-byte entries (a map node per source would cost
// twice that: about half a MiB more for 5,000 sources at the analysis's
// peak). Add() appends; Settle() sorts what was appended into the part
// Find() searches, so that appending costs no search and no reordering.
class ArchiveDigests {
 public:
  struct Entry {
    RecordContentId content;
    Sha256Digest digest{};
  };
  explicit ArchiveDigests(const FileStamp& stamp) : stamp_(stamp) {}

  const FileStamp& stamp() const { return stamp_; }
  // The digest of the bytes at `content` (its whole id must match), or
  // nullptr; entries added since the last Settle() are not searched.
  const Sha256Digest* Find(const RecordContentId& content) const;
  void Add(const RecordContentId& content, const Sha256Digest& digest) {
    entries_.push_back({content, digest});
  }
  void Reserve(size_t entries) { entries_.reserve(entries); }
  // Sorts the added entries in; of two for one place (both describe the
  // bytes there) one stays.
  void Settle();
  size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  FileStamp stamp_;
  std::vector<Entry> entries_;  // [0, settled_) sorted by local header offset
  size_t settled_ = 0;
};

std::string EncodeArchiveDigests(const ArchiveDigests& digests);
std::optional<ArchiveDigests> DecodeArchiveDigests(std::string_view bytes, std::string* why);

}  // namespace tpkg
