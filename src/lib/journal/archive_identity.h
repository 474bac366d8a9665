// archive_identity.h (private): what makes a journal belong to one archive.
//
// A journal records edits relative to the records of one archive; replaying
// it onto another would corrupt both. The identity is the archive's size and
// a 64-bit digest of its central directory as the reader parsed it (every
// entry's stored name, method, CRC-32, sizes and offset); the mtime is kept
// for messages only, so `touch model.pt` or a copy of the same bytes does not
// orphan the edits.
//
//   ArchiveIdentity now = ArchiveIdentity::Of(zip);
//   if (!now.SameArchive(recorded)) ...refuse, naming now.Describe() and recorded.Describe()
//
// The digest reads every entry (about 0.5 ms for 5,000 records): a journal
// made at the first change takes the file's part at open (OfFile) and the
// digest only when it writes its header (DigestOf).
//
// Thread safety: a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tpkg/zip_reader.h"

namespace tpkg {

struct ArchiveIdentity {
  uint64_t size = 0;
  uint64_t digest = 0;  // FNV-1a over the central directory entries
  int64_t mtime_sec = 0;
  int64_t mtime_nsec = 0;

  static ArchiveIdentity Of(const ZipReader& zip);
  // The size and times of the opened file, digest 0 (not known yet).
  static ArchiveIdentity OfFile(const ZipReader& zip);
  static uint64_t DigestOf(const ZipReader& zip);
  bool SameArchive(const ArchiveIdentity& other) const {
    return size == other.size && digest == other.digest;
  }
  // "969 bytes, central directory digest 1f2e..., modified 2024-05-01 12:00:00 UTC"
  // (without the digest when it is not known).
  std::string Describe(bool with_digest = true) const;
};

// What opening a journal made for the archive `made_for` does, given the
// archive now at its path (`now`): takes its edits (the same archive), drops
// it because the save it belongs to completed (`last_commit`, the identity
// its last commit entry names, is the archive now), drops it because it holds
// no change of the archive, or refuses (another archive, edits pending).
// One rule for Journal::Open and for the advice after a failed save
// (Journal::JudgeArchiveNow).
enum class JournalFate { kTakeEdits, kSaveCompleted, kDropEmpty, kAnotherArchive };
JournalFate FateOfJournal(const ArchiveIdentity& made_for,
                          const std::optional<ArchiveIdentity>& last_commit,
                          bool has_archive_changes, const ArchiveIdentity& now);

}  // namespace tpkg
