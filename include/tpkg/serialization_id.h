// serialization_id.h: `.data/serialization_id`, the record PyTorch 2.x's
// writer (PyTorchStreamWriter) adds last to every archive it writes.
//
// It is 40 decimal digits derived from the other records (doc/format.md
// §12): no torch reader checks it, but an archive whose records changed and
// still carries the old id is not what torch would write for them, so the
// write-back regenerates it (write_back.h) through
// ZipWriter::AddSerializationId().
//
//   std::vector<tpkg::RecordDigest> records = {{"data.pkl", crc, size, head}, ...};
//   std::string id = tpkg::TorchSerializationId("model", records);  // "13263068698938530805..."
//
// The rule, established by experiment against torch 2.6 (Debian 13's
// python3-torch; tests/data/torch2 holds the evidence). With
// hash_combine(seed, v) = seed ^ (v + 0x9e3779b9 + (seed << 6) + (seed >> 2))
// over uint64 (c10::hash_combine):
//   * digits 1-20, the names: hash_combine folded over std::hash<std::string>
//     of the record names (prefix folder stripped), visited in the iteration
//     order of the std::unordered_set<std::string> torch inserts them into in
//     write order;
//   * digits 21-40, the contents: torch's output callback folds in bytes 4-7
//     of every write of 8 bytes or more that starts with "PK\x07\x08", the
//     data-descriptor signature. That is each record's data descriptor, so
//     its CRC-32 (none for a 0-byte record: it has no descriptor), but also,
//     before it, any write that merely looks like one: the record's full
//     name "<prefix>/<name>" and its data (written in one piece) when they
//     start with those 4 bytes;
//   each half as a zero-padded 20-digit decimal.
// The name half depends on libstdc++'s std::hash (MurmurHash64A, seed
// 0xc70f6907) and on its hash-table layout (prime bucket counts, a new node
// first in its bucket); this file uses that very container, so it must be
// built with libstdc++ on a 64-bit target, as Debian's and PyPI's torch are.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tpkg {

inline constexpr std::string_view kSerializationIdRecord = ".data/serialization_id";

// One record as the id sees it.
struct RecordDigest {
  std::string_view name;  // without the prefix folder
  uint32_t crc32 = 0;     // of the uncompressed bytes
  uint64_t size = 0;      // uncompressed; 0: no descriptor, so no CRC in the id
  std::string_view head;  // the first min(8, size) bytes as written (only a
                          // descriptor look-alike start matters)
};

// The id torch 2.x writes into an archive with prefix folder `prefix` whose
// other records are `records`, in write order (`.data/serialization_id`
// itself excluded). Always 40 digits.
std::string TorchSerializationId(std::string_view prefix, std::span<const RecordDigest> records);

}  // namespace tpkg
