// sha256.h: SHA-256 digests (private), by GNU Nettle (Debian's nettle-dev):
// a well-kept library with the x86 SHA extensions (about 0.9 GB/s on one
// core here), small enough to load at every mount.
//
//   Sha256Digest d = Sha256(text);
//   std::string hex = HexOf(d);
//
// Thread safety: stateless functions, safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace tpkg {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::span<const char> bytes);
// Lower-case hexadecimal, 64 characters.
std::string HexOf(const Sha256Digest& digest);

}  // namespace tpkg
