#include "tpkg/crc32.h"

#include <isa-l/crc.h>
#include <zlib.h>

namespace tpkg {

uint32_t Crc32(uint32_t crc, std::span<const char> data) {
  // crc32_gzip_refl takes and returns the finished CRC (inversions inside),
  // so it continues from `crc` exactly as zlib's crc32() does.
  return crc32_gzip_refl(crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

uint32_t Crc32Combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b) {
  return static_cast<uint32_t>(crc32_combine64(crc_a, crc_b, static_cast<z_off64_t>(length_b)));
}

}  // namespace tpkg
