// record_verifier.h: check a stored record's CRC-32 once per mount, before
// any of its bytes is served.
//
// The CRC covers the whole record, so a range can only be trusted once every
// byte of the record has been hashed. The first read of a stored record
// therefore runs one sequential pass over it (large preads with the next
// chunk announced to the kernel with POSIX_FADV_WILLNEED, CRC-32 by ISA-L)
// and only then serves the read; the verdict is kept for the rest of the
// mount, so every later read of that record, in any order and from any open
// file, goes straight to the archive. The pass also leaves the record in the
// archive's page cache, where the reads that follow find it.
//
//   RecordVerifier verified(zip);
//   verified.Check(entry);  // returns, or throws Error(kCorrupt) now and on every later call
//
// Records are keyed by their data offset (unique in an archive); a check of
// an entry whose size or CRC differs from the one verified under that key
// starts a new pass (tests falsify copies of entries).
//
// Thread safety: Check() may be called from any thread. A table mutex guards
// the map; each record's pass runs under that record's own mutex, so a second
// reader of the same record waits for the first pass instead of repeating
// it, and readers of other records are not held up.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tpkg/zip_reader.h"

namespace tpkg::fs {

class RecordVerifier {
 public:
  static constexpr size_t kPassChunk = 4 * 1024 * 1024;  // bytes per pread of a pass

  explicit RecordVerifier(const ZipReader& zip) : zip_(zip), fd_(zip.fd()) {}

  // Returns when `entry` (a stored record) matches its CRC-32; throws
  // Error(kCorrupt) naming the mismatch or the truncation otherwise, or what
  // ZipReader::DataOffset() throws for a record whose deferred checks fail.
  void Check(const ZipEntry& entry);

 private:
  enum class State : uint8_t { kUnknown, kGood, kBad };
  struct Slot {
    std::mutex pass_mu;  // held for the whole pass
    std::atomic<State> state{State::kUnknown};
    uint64_t size = 0;    // guarded by pass_mu
    uint32_t crc32 = 0;   // guarded by pass_mu
    std::string failure;  // guarded by pass_mu; set once state is kBad
  };
  std::shared_ptr<Slot> SlotFor(uint64_t data_offset);
  void Pass(const ZipEntry& entry, uint64_t data_offset, Slot& slot);

  const ZipReader& zip_;
  const int fd_;
  std::mutex table_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Slot>> slots_;  // guarded by table_mu_
};

}  // namespace tpkg::fs
