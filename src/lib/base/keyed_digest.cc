#include "base/keyed_digest.h"

#include <sys/random.h>

#include <cerrno>

#include "tpkg/error.h"

namespace tpkg {

KeyedDigest::KeyedDigest(const Key& key) {
  umac128_set_key(&hash_, key.data());
  aes128_set_encrypt_key(&cipher_, key.data() + UMAC_KEY_SIZE);
}

KeyedDigest::Value KeyedDigest::Of(std::span<const char> bytes) const {
  // One nonce for every string: the digest must be a function of the bytes
  // alone. The cipher on top is what makes a fixed nonce safe (header).
  static constexpr uint8_t kNonce[AES_BLOCK_SIZE] = {};
  umac128_ctx hash = hash_;
  umac128_set_nonce(&hash, sizeof kNonce, kNonce);
  umac128_update(&hash, bytes.size(), reinterpret_cast<const uint8_t*>(bytes.data()));
  Value out;
  umac128_digest(&hash, out.size(), out.data());
  aes128_encrypt(&cipher_, out.size(), out.data(), out.data());
  return out;
}

KeyedDigest::Key KeyedDigest::NewKey() {
  Key key;
  size_t filled = 0;
  while (filled < key.size()) {
    const ssize_t n = ::getrandom(key.data() + filled, key.size() - filled, 0);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      ThrowSystemError("Cannot read random bytes for the analysis cache's key", err);
    }
    filled += static_cast<size_t>(n);
  }
  return key;
}

}  // namespace tpkg
