// TorchSerializationId(): what PyTorchStreamWriter::writeSerializationId()
// and its output callback compute in torch 2.x, with the same containers
// (rule in tpkg/serialization_id.h).
#include "tpkg/serialization_id.h"

#include <cstdio>
#include <functional>
#include <unordered_set>

// The name half is defined by libstdc++'s std::hash and hash-table layout
// (torch calls them through c10::hash); another library would give other ids.
#if !defined(__GLIBCXX__)
#error "TorchSerializationId() reproduces torch only with libstdc++"
#endif
static_assert(sizeof(size_t) == 8, "torch's ids are computed with a 64-bit size_t");

namespace tpkg {
namespace {

// c10::hash_combine.
uint64_t HashCombine(uint64_t seed, uint64_t value) {
  return seed ^ (value + 0x9e3779b9 + (seed << 6) + (seed >> 2));
}

uint32_t LittleEndian32(std::string_view bytes) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

// torch's ostream_write_func: a write that starts like a data descriptor
// contributes the CRC field it would have.
void FoldWrite(uint64_t& combined, std::string_view write) {
  constexpr std::string_view kDescriptorSignature("PK\x07\x08", 4);
  if (write.size() >= 8 && write.starts_with(kDescriptorSignature)) {
    combined = HashCombine(combined, LittleEndian32(write.substr(4, 4)));
  }
}

}  // namespace

std::string TorchSerializationId(std::string_view prefix, std::span<const RecordDigest> records) {
  // torch's files_written_: filled in write order, iterated in table order.
  std::unordered_set<std::string> files_written;
  uint64_t combined_crc32 = 0;
  std::string full_name;
  for (const RecordDigest& r : records) {
    files_written.emplace(r.name);
    // The writes of one record: local header (never a look-alike), full
    // name, extra field (never), data, descriptor.
    full_name.assign(prefix).append("/").append(r.name);
    FoldWrite(combined_crc32, full_name);
    if (r.size == 0) continue;
    FoldWrite(combined_crc32, r.head);
    combined_crc32 = HashCombine(combined_crc32, r.crc32);
  }
  uint64_t combined_name_hash = 0;
  for (const std::string& name : files_written) {
    combined_name_hash = HashCombine(combined_name_hash, std::hash<std::string>{}(name));
  }
  char digits[41];
  std::snprintf(digits, sizeof(digits), "%020llu%020llu",
                static_cast<unsigned long long>(combined_name_hash),
                static_cast<unsigned long long>(combined_crc32));
  return std::string(digits, 40);
}

}  // namespace tpkg
