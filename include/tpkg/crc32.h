// crc32.h: the CRC-32 of ZIP and zlib (reflected polynomial 0xEDB88320), one
// implementation for the whole project.
//
//   uint32_t crc = tpkg::Crc32(0, first_chunk);
//   crc = tpkg::Crc32(crc, next_chunk);                     // continue
//   uint32_t ab = tpkg::Crc32Combine(crc_a, crc_b, len_b);  // crc of A then B
//
// Crc32 is ISA-L's (Debian's libisal 2.30), the fastest CRC-32 Debian 12
// packages: it picks carry-less multiplication (VPCLMULQDQ on AVX-512, else
// PCLMULQDQ, else a table) at run time. On the development machine, a 1 MiB
// buffer in cache: ISA-L 52 GB/s, libdeflate 1.14 13 GB/s, zlib 1.2.13
// 5 GB/s; checksumming had been the daemon's largest cost on cold sequential
// reads. Crc32Combine is zlib's (ISA-L has none).
//
// Thread safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <span>

namespace tpkg {

// The CRC-32 of `data` continued from `crc` (0 to start), as ZIP stores it.
// Strings and string_views convert to the span.
uint32_t Crc32(uint32_t crc, std::span<const char> data);

// The CRC-32 of A followed by B, from `crc_a`, `crc_b` and B's length: lets
// chunks hashed out of order (or by several threads) be joined without their
// bytes.
uint32_t Crc32Combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

}  // namespace tpkg
