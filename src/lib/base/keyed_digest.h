// keyed_digest.h: a 128-bit digest of byte strings under a secret key
// (private), by GNU Nettle: UMAC-128's hash under one half of the key, then
// AES-128 under the other half. The disk layer of the analysis cache keys
// source scans by it (package/analysis_store.h).
//
//   KeyedDigest::Key key = KeyedDigest::NewKey();   // random, kept secret
//   KeyedDigest digest(key);
//   KeyedDigest::Value v = digest.Of(text);
//
// Why not SHA-256: the cache hashes every source of a package at each mount
// and save (17 MB for a package of 5,000 sources), and SHA-256 costs about
// 10 ms of CPU there against 3 ms for this. Why it is as safe for the cache:
// what the cache needs is that nobody can make a record whose digest equals
// another record's. SHA-256 gives that to everyone; this gives it to anyone
// who does not know the key, which lives in the user's private cache folder,
// where a reader of the key could as well write the scans themselves.
// UMAC's hash is universal (two given strings collide under a random key
// with probability about 2^-120), and applying a block cipher to its output
// makes the digest a pseudo-random function of the string: digests seen by
// someone without the key tell them nothing about the key, so they cannot
// aim at a collision either. (UMAC alone, with the one fixed nonce a cache
// key needs, would leak the hash of one string XOR another's.)
//
// Thread safety: a KeyedDigest is immutable after construction; Of() may be
// called from any thread (it works on a copy of the keyed state).
#pragma once

#include <nettle/aes.h>
#include <nettle/umac.h>

#include <array>
#include <cstdint>
#include <span>

namespace tpkg {

class KeyedDigest {
 public:
  static constexpr size_t kKeySize = UMAC_KEY_SIZE + AES128_KEY_SIZE;
  using Key = std::array<uint8_t, kKeySize>;
  using Value = std::array<uint8_t, UMAC128_DIGEST_SIZE>;

  explicit KeyedDigest(const Key& key);
  Value Of(std::span<const char> bytes) const;

  // kKeySize bytes from the kernel's random source (getrandom(2)); throws
  // Error if the kernel cannot give them.
  static Key NewKey();

 private:
  umac128_ctx hash_;   // keyed; copied by each Of()
  aes128_ctx cipher_;  // encryption key schedule; read only
};

}  // namespace tpkg
