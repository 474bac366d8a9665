// zip_deferred_checks.h: the per-record checks a reader opened with
// ZipReaderOptions::defer_record_checks runs when a record is first read
// (private).
//
// Opening such a reader reads the end records and the central directory
// only, and checks there everything they can show (names, duplicates, the
// prefix folder, records overlapping by their central sizes, bytes before
// the first record). What needs the bytes around a record waits for its
// first DataOffset(): the record's region runs from its local header to the
// next record's local header (or the central directory), and one pread or
// two (none when the caller hands over the region's bytes: ZipWriter reads a
// run of small records with one pread) check it with the rules of an eager
// open:
//
//   | check                                   | eager open          | deferred      |
//   | --------------------------------------- | ------------------- | ------------- |
//   | local header present, agrees with CD    | ReadLocalHeaders    | ReadLocalHeader |
//   | data ends inside its region (overlaps)  | CheckOverlaps       | same rule     |
//   | descriptor, then nothing, to the next   | CheckGaps (strict)  | CheckRecordTail |
//
// The verdict is kept: a good record costs one atomic load afterwards; a bad
// one throws the same Error (kCorrupt, naming the archive, the record and the
// problem) on every call. An I/O error is not a verdict and is retried.
//
//   DeferredRecordChecks checks(entries, by_offset, cd_offset, file_size, strict);
//   uint64_t at = checks.DataOffset(fd, archive, entries, i);  // throws if record i is bad
//
// Thread safety: DataOffset() may be called from any thread; a record's
// first check runs without a lock (a pread or two, or bytes the caller
// read) and publishes its verdict under one mutex, once (two threads
// checking one record at once: the first verdict stays); later calls read
// the record's atomic state only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/zip_reader.h"
#include "zip/file_bytes.h"

namespace tpkg {

// Which of `entries` `entry` is: itself, or a copy of one (same local header
// offset); nullopt when it is neither. `by_offset` as below.
std::optional<size_t> EntryIndex(const std::vector<ZipEntry>& entries,
                                 std::span<const uint32_t> by_offset, const ZipEntry& entry);

class DeferredRecordChecks {
 public:
  // `by_offset`: entry indices sorted by local_header_offset (kept).
  DeferredRecordChecks(std::span<const uint32_t> by_offset, uint64_t cd_offset,
                       uint64_t file_size, bool strict);

  // The data offset of entries[index] once its region passed the checks;
  // throws Error(kCorrupt) when it did not (or kIo when it cannot be read).
  // A first check takes the bytes `prefetched` holds from there (a caller's
  // one pread of a run of records) and preads only the rest: the same
  // checks, errors and kept verdict.
  uint64_t DataOffset(int fd, const std::string& archive, const std::vector<ZipEntry>& entries,
                      size_t index, const FileBytes* prefetched = nullptr) const;
  // Which of `entries` `entry` is (EntryIndex below).
  std::optional<size_t> IndexOf(const std::vector<ZipEntry>& entries, const ZipEntry& entry) const {
    return EntryIndex(entries, by_offset_, entry);
  }

 private:
  enum State : uint8_t { kUnchecked, kGood, kBad };
  struct Verdict {
    std::atomic<uint8_t> state{kUnchecked};
    uint64_t data_offset = 0;  // written under mu_ before state becomes kGood
  };
  uint64_t Check(int fd, const std::string& archive, const std::vector<ZipEntry>& entries,
                 size_t index, const FileBytes* prefetched) const;
  // The published verdict of a checked record: its data offset, or its Error thrown.
  uint64_t Published(const Verdict& v, size_t index) const;

  const std::vector<uint32_t> by_offset_;
  std::vector<uint32_t> next_;  // entry whose local header ends entry i's region; kNone: the CD
  const uint64_t cd_offset_;
  const uint64_t file_size_;
  const bool strict_;
  const std::unique_ptr<Verdict[]> verdicts_;
  mutable std::mutex mu_;  // publishes verdicts: a state leaves kUnchecked once
  mutable std::unordered_map<size_t, Error> failures_;  // guarded by mu_
};

}  // namespace tpkg
