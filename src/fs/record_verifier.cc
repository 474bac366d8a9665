#include "record_verifier.h"

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "tpkg/crc32.h"
#include "tpkg/error.h"
#include "tpkg/file_io.h"

namespace tpkg::fs {
namespace {

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

}  // namespace

std::shared_ptr<RecordVerifier::Slot> RecordVerifier::SlotFor(uint64_t data_offset) {
  std::lock_guard lock(table_mu_);
  std::shared_ptr<Slot>& slot = slots_[data_offset];
  if (!slot) slot = std::make_shared<Slot>();
  return slot;
}

void RecordVerifier::Check(const ZipEntry& entry) {
  const uint64_t data_offset = zip_.DataOffset(entry);
  const std::shared_ptr<Slot> slot = SlotFor(data_offset);
  std::lock_guard lock(slot->pass_mu);
  const bool same = slot->size == entry.size && slot->crc32 == entry.crc32;
  if (!same || slot->state.load() == State::kUnknown) {
    slot->size = entry.size;
    slot->crc32 = entry.crc32;
    Pass(entry, data_offset, *slot);
  }
  if (slot->state.load() == State::kBad) throw Error(Errc::kCorrupt, slot->failure);
}

// One sequential read of the record. The kernel is told about the next chunk
// before the current one is hashed, so the disk stays busy while we work.
void RecordVerifier::Pass(const ZipEntry& entry, uint64_t data_offset, Slot& slot) {
  const size_t chunk = static_cast<size_t>(std::min<uint64_t>(kPassChunk, entry.size));
  std::unique_ptr<char[]> buffer(new char[std::max<size_t>(chunk, 1)]);
  uint32_t crc = 0;
  uint64_t done = 0;
  posix_fadvise(fd_, static_cast<off_t>(data_offset),
                static_cast<off_t>(std::min<uint64_t>(entry.size, 2 * kPassChunk)),
                POSIX_FADV_WILLNEED);
  while (done < entry.size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, entry.size - done));
    const uint64_t next = done + want;
    if (next < entry.size) {
      // Two chunks ahead: the one after the next is read while both are hashed.
      posix_fadvise(fd_, static_cast<off_t>(data_offset + next + kPassChunk),
                    static_cast<off_t>(kPassChunk), POSIX_FADV_WILLNEED);
    }
    const size_t got =
        PreadFull(fd_, std::span(buffer.get(), want), data_offset + done, "the archive");
    if (got < want) {
      slot.failure = "the archive ends inside the record";
      slot.state = State::kBad;
      return;
    }
    crc = Crc32(crc, std::span<const char>(buffer.get(), got));
    done = next;
  }
  if (crc != entry.crc32) {
    slot.failure = "CRC-32 mismatch: the archive says " + Hex32(entry.crc32) + ", the data gives " +
                   Hex32(crc);
    slot.state = State::kBad;
    return;
  }
  slot.state = State::kGood;
}

}  // namespace tpkg::fs
