#include "record_copy.h"

#include <zlib.h>

#include <algorithm>
#include <vector>

#include "file_util.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

constexpr size_t kChunk = 256 * 1024;

// Owns a raw-deflate (no zlib header) inflate stream.
class RawInflater {
 public:
  explicit RawInflater(const std::string& what) {
    if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) throw Error(Errc::kIo, what + ": cannot start zlib");
  }
  ~RawInflater() { inflateEnd(&z_); }
  RawInflater(const RawInflater&) = delete;
  RawInflater& operator=(const RawInflater&) = delete;
  z_stream* get() { return &z_; }

 private:
  z_stream z_{};
};

std::string Describe(const ZipEntry& entry, const std::string& what) {
  return "Cannot copy record '" + entry.name + "' into '" + what + "'";
}

// Streams the inflated bytes of `entry` to `dst_fd`, keeping the first
// `limit` bytes, and checks the size and CRC of the whole record. Written by
// hand (a few lines of zlib) because the reader's ReadAt() restarts from the
// beginning on every call, which would make a chunked copy quadratic.
void InflateToFd(const ZipReader& zip, const ZipEntry& entry, int dst_fd, uint64_t limit,
                 const std::string& what) {
  RawInflater inflater(what);
  z_stream* z = inflater.get();
  std::vector<char> in(kChunk), out(kChunk);
  uint64_t in_offset = entry.data_offset, in_left = entry.compressed_size, produced = 0;
  uLong crc = crc32(0, nullptr, 0);
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (z->avail_in == 0 && in_left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(in_left, in.size()));
      PreadExact(zip.fd(), std::span<char>(in.data(), n), in_offset, zip.path());
      in_offset += n;
      in_left -= n;
      z->next_in = reinterpret_cast<Bytef*>(in.data());
      z->avail_in = static_cast<uInt>(n);
    }
    z->next_out = reinterpret_cast<Bytef*>(out.data());
    z->avail_out = static_cast<uInt>(out.size());
    rc = inflate(z, Z_NO_FLUSH);
    const size_t n = out.size() - z->avail_out;
    const bool starved = z->avail_in == 0 && in_left == 0;
    if ((rc == Z_BUF_ERROR || (rc == Z_OK && n == 0)) && starved)
      throw Error(Errc::kCorrupt, Describe(entry, what) + ": deflate data ends early");
    if (rc != Z_OK && rc != Z_STREAM_END)
      throw Error(Errc::kCorrupt, Describe(entry, what) + ": invalid deflate data");
    // Hostile data cannot make us write past the declared size.
    if (produced + n > entry.size)
      throw Error(Errc::kCorrupt, Describe(entry, what) + ": inflates past its declared size");
    crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data()), static_cast<uInt>(n));
    if (produced < limit) {
      const size_t keep = static_cast<size_t>(std::min<uint64_t>(n, limit - produced));
      PwriteAll(dst_fd, std::span<const char>(out.data(), keep), produced, what);
    }
    produced += n;
  }
  if (produced != entry.size || crc != entry.crc32)
    throw Error(Errc::kCorrupt, Describe(entry, what) + ": size or CRC-32 does not match the archive");
}

}  // namespace

void CopyRecordToFd(const ZipReader& zip, const ZipEntry& entry, int dst_fd, uint64_t limit,
                    const std::string& what) {
  if (entry.method == kMethodStored) {
    CopyRange(zip.fd(), entry.data_offset, dst_fd, 0, std::min(limit, entry.size), what);
    return;
  }
  if (entry.method == kMethodDeflate) return InflateToFd(zip, entry, dst_fd, limit, what);
  throw Error(Errc::kUnsupported, Describe(entry, what) + ": unsupported compression method " +
                                      std::to_string(entry.method));
}

}  // namespace tpkg
