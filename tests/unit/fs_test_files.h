// Small helpers for the daemon's unit tests: temporary files and raw
// deflate streams made with the real zlib.
#pragma once

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace tpkg::fs::testing {

// A file in /tmp holding `content`, removed (and closed) on destruction.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/tpkgfs_test_XXXXXX";
    fd_ = mkstemp(name);
    if (fd_ < 0) throw std::runtime_error("mkstemp failed");
    path_ = name;
    if (write(fd_, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
      throw std::runtime_error("write failed");
    }
  }
  ~TempFile() {
    close(fd_);
    unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

// Raw deflate (no zlib header), as ZIP stores method 8.
inline std::string RawDeflate(const std::string& data, int level = 9) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

inline uint32_t Crc32Of(const std::string& s) {
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

// Deterministic bytes that compress somewhat (not all-equal, not random).
inline std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>('a' + ((x >> 16) % 16));
  }
  return s;
}

}  // namespace tpkg::fs::testing
