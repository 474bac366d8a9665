// file_reader.h: serve byte ranges of one original archive record.
//
// A stored record is read with pread() straight from the archive at
// data_offset + offset: nothing is buffered. A deflated record is inflated
// on demand by libtpkg's RecordStream, kept between reads, with a small
// window of recent output so that read-ahead chunks arriving slightly out of
// order do not force a restart; reading backwards past the window restarts
// from the start of the record (cheap for the small records ZIP tools
// deflate, and the kernel page cache absorbs re-reads).
//
// Integrity: a stored record is verified whole before its first byte is
// served, once per mount (RecordVerifier, record_verifier.h): a mismatch or
// a truncated archive throws Error(kCorrupt) from the first Read() and from
// every later one, so no byte of a corrupt stored record ever leaves the
// daemon. A deflated record is checked by RecordStream's own sequential pass
// when its last byte is decoded: invalid deflate data, a wrong size or CRC
// throws Error(kCorrupt) from that Read() and every later one.
//
//   RecordVerifier verifier(zip);  // one per mount
//   auto reader = OpenRecordReader(zip, entry, verifier);
//   size_t n = reader->Read(offset, std::span(buf, len));
//
// Thread safety: Read() may be called concurrently. Stored readers share
// only the RecordVerifier (guards itself); deflated readers serialize on a
// mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "record_verifier.h"
#include "tpkg/zip_reader.h"

namespace tpkg::fs {

class RecordReader {
 public:
  virtual ~RecordReader() = default;
  // Copies up to out.size() bytes of the uncompressed record starting at
  // `offset`; returns the count, short only at the end of the record.
  virtual size_t Read(uint64_t offset, std::span<char> out) = 0;
  // Whether this reader holds memory worth reclaiming (a live inflater).
  virtual bool holds_buffers() const { return false; }
};

// Sequential reads of a stored record are announced ahead to the kernel
// (POSIX_FADV_WILLNEED, kReadAhead bytes past them): one reader's FUSE
// requests reach the daemon on several threads, out of order, which the
// archive descriptor's own read-ahead takes for random reads, so without the
// announcement every 1 MiB request waits for the disk (measured: a cold
// sequential read of a 768 MiB storage took 2.3x longer). Random reads
// announce nothing.
class StoredRecordReader final : public RecordReader {
 public:
  static constexpr uint64_t kReadAhead = 16 * 1024 * 1024;

  StoredRecordReader(const ZipReader& zip, const ZipEntry& entry, RecordVerifier& verifier);
  size_t Read(uint64_t offset, std::span<char> out) override;

 private:
  void ReadAhead(uint64_t offset, uint64_t end);
  const int fd_;
  const ZipEntry& entry_;
  const uint64_t data_offset_;  // ZipReader::DataOffset(): a deferred record is checked first
  RecordVerifier& verifier_;
  std::atomic<bool> verified_{false};  // set once verifier_ said so: skips its table
  // End of the record range already announced to the kernel (ReadAhead).
  std::atomic<uint64_t> announced_end_{0};
};

class DeflatedRecordReader final : public RecordReader {
 public:
  static constexpr size_t kWindow = 256 * 1024;  // recent output kept for out-of-order reads
  static constexpr size_t kChunk = 64 * 1024;    // output produced per inflate step

  DeflatedRecordReader(const ZipReader& zip, const ZipEntry& entry);
  size_t Read(uint64_t offset, std::span<char> out) override;
  bool holds_buffers() const override;

 private:
  void Restart();
  void ProduceChunk(uint64_t want_begin, std::span<char> out);
  void Append(std::span<const char> chunk);
  [[noreturn]] void Fail(std::string reason);

  const ZipReader& zip_;
  const ZipEntry& entry_;
  mutable std::mutex mu_;
  // All below guarded by mu_.
  std::unique_ptr<RecordStream> stream_;  // null before the first read and after the end
  uint64_t produced_ = 0;                 // uncompressed bytes decoded so far
  std::vector<char> window_;              // bytes [produced_ - window_.size(), produced_)
  std::vector<char> scratch_;
  std::optional<std::string> failure_;  // sticky reason once the record proved corrupt
};

// The reader for `entry`; throws Error(kUnsupported) for methods other than
// stored and deflate, and Error(kCorrupt) for a record whose local header or
// region fails the checks a deferred ZipReader runs at its first read. `zip`, `entry` and `verifier` must outlive the reader.
std::unique_ptr<RecordReader> OpenRecordReader(const ZipReader& zip, const ZipEntry& entry,
                                               RecordVerifier& verifier);

}  // namespace tpkg::fs
