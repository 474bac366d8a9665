// cache_file_format.h (private): the framing both files of the analysis
// cache's disk layer share (analysis_pack.h, archive_digests.h): a magic
// line, then little-endian integers and length-prefixed strings, then the
// SHA-256 of every byte before it, so that a file cut short or damaged is
// refused whole.
//
//   std::string out(kMagic);
//   PutU32(out, 1);  // the format version
//   PutString(out, name); PutStamp(out, stamp);
//   SealWithChecksum(out);
//   std::optional<std::string_view> body = Unseal(bytes, kMagic, 1, "an analysis pack", &why);
//   CacheFileReader in(*body);  // throws std::out_of_range past the end
//
// Thread safety: stateless functions; a reader belongs to one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/sha256.h"
#include "tpkg/file_stamp.h"

namespace tpkg {

inline void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

inline void PutDigest(std::string& out, const Sha256Digest& d) {
  out.append(reinterpret_cast<const char*>(d.data()), d.size());
}

// The stamp's fields in order, each as a u64 (kStampBytes in all).
inline constexpr size_t kStampBytes = 7 * 8;
inline void PutStamp(std::string& out, const FileStamp& s) {
  for (const uint64_t v : {s.dev, s.ino, s.size, static_cast<uint64_t>(s.mtime_sec),
                           static_cast<uint64_t>(s.mtime_nsec), static_cast<uint64_t>(s.ctime_sec),
                           static_cast<uint64_t>(s.ctime_nsec)})
    PutU64(out, v);
}

// Appends the SHA-256 of `out` to it.
inline void SealWithChecksum(std::string& out) { PutDigest(out, Sha256(out)); }

// The bytes after `magic` and the u32 format `version` and before the
// checksum, or nullopt with `*why` ("not <what>", a damaged checksum,
// another format version).
std::optional<std::string_view> Unseal(std::string_view bytes, std::string_view magic,
                                       uint32_t version, std::string_view what, std::string* why);

// Reads what the Put functions wrote; throws std::out_of_range past the end.
class CacheFileReader {
 public:
  explicit CacheFileReader(std::string_view bytes) : bytes_(bytes) {}
  std::string_view Take(size_t n) {
    if (n > bytes_.size() - at_) throw std::out_of_range("the file ends inside an entry");
    const std::string_view out = bytes_.substr(at_, n);
    at_ += n;
    return out;
  }
  uint8_t U8() { return static_cast<uint8_t>(Take(1)[0]); }
  uint32_t U32() { return static_cast<uint32_t>(Little(4)); }
  uint64_t U64() { return Little(8); }
  std::string String() { return std::string(Take(U32())); }
  FileStamp Stamp() {  // what PutStamp wrote
    FileStamp s;
    s.dev = U64();
    s.ino = U64();
    s.size = U64();
    s.mtime_sec = static_cast<int64_t>(U64());
    s.mtime_nsec = static_cast<int64_t>(U64());
    s.ctime_sec = static_cast<int64_t>(U64());
    s.ctime_nsec = static_cast<int64_t>(U64());
    return s;
  }
  Sha256Digest Digest() {
    Sha256Digest d;
    const std::string_view b = Take(d.size());
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(b[i]);
    return d;
  }
  bool AtEnd() const { return at_ == bytes_.size(); }
  size_t left() const { return bytes_.size() - at_; }

 private:
  uint64_t Little(int n) {
    const std::string_view b = Take(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
    return v;
  }
  std::string_view bytes_;
  size_t at_ = 0;
};

}  // namespace tpkg
