// crc_tracker.h: verify a record's CRC-32 from the chunks served to readers.
//
// The kernel issues read-ahead for one file from several threads at once, so
// chunks of a sequential read can arrive out of order. The tracker keeps the
// CRC of the contiguous prefix seen so far and parks early chunks as
// (offset, length, crc) triples, merged with Crc32Combine() once the gap
// closes: no data is kept, only 16 bytes per parked chunk.
//
//   CrcTracker t(size, entry.crc32);
//   switch (t.Feed(offset, chunk)) { case CrcTracker::Verdict::kBad: return -EIO; ... }
//
// Rules (size 300, chunks given as [begin, end)):
//   [0,100) [100,300)                -> kGood or kBad once 300 is reached
//   [100,200) [0,100) [200,300)      -> same: [100,200) is parked, then merged
//   [0,100) [50,150)                 -> the new tail [100,150) is hashed from the chunk
//   > kMaxParked chunks parked, or parked chunks overlapping -> kGaveUp
//   after kGaveUp, a chunk at offset 0 starts over
//
// Thread safety: Feed() may be called from any thread; a mutex guards the state.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <span>

namespace tpkg::fs {

class CrcTracker {
 public:
  enum class Verdict {
    kPending,  // not all bytes seen yet
    kGood,     // every byte seen and the CRC matches (sticky)
    kBad,      // every byte seen and the CRC differs (sticky)
    kGaveUp,   // the read pattern was too scattered to follow
  };
  static constexpr size_t kMaxParked = 64;

  CrcTracker(uint64_t size, uint32_t expected_crc) : size_(size), expected_(expected_crc) {}

  Verdict Feed(uint64_t offset, std::span<const char> data);
  // The CRC actually computed; meaningful once Feed() returned kGood or kBad.
  uint32_t actual() const;

 private:
  struct Parked {
    uint64_t length;
    uint32_t crc;
  };
  void Extend(uint32_t crc, uint64_t length);  // append to the prefix
  void MergeParked();
  Verdict Conclude();
  void Reset();

  const uint64_t size_;
  const uint32_t expected_;
  mutable std::mutex mu_;
  // All below guarded by mu_.
  Verdict verdict_ = Verdict::kPending;
  uint64_t prefix_ = 0;  // bytes [0, prefix_) are hashed into crc_
  uint32_t crc_ = 0;
  std::map<uint64_t, Parked> parked_;  // keyed by offset; all start beyond prefix_
};

}  // namespace tpkg::fs
