// inflate_stream.h: a raw-deflate decoder that streams one record's
// compressed bytes from the archive file with bounded memory.
//
//   InflateStream s(zip.fd(), entry.data_offset, entry.compressed_size);
//   char buf[65536];
//   while (size_t n = s.Produce(buf)) Consume(buf, n);   // 0: end of stream
//
// Memory: zlib's state (about 44 KiB, including its 32 KiB history) plus a
// 64 KiB input buffer, whatever the record's size.
//
// Thread safety: none; one owner at a time (DeflatedRecordReader locks).
#pragma once

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <span>

namespace tpkg::fs {

class InflateStream {
 public:
  static constexpr size_t kInputChunk = 64 * 1024;

  // Throws Error(kIo) if zlib cannot start (out of memory).
  InflateStream(int fd, uint64_t data_offset, uint64_t compressed_size);
  ~InflateStream();
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;

  // Decodes up to out.size() bytes into `out`. Returns 0 once the deflate
  // stream has ended. Throws Error(kCorrupt) on invalid data or when the
  // compressed bytes run out before the stream ends, Error(kIo) on a read error.
  size_t Produce(std::span<char> out);

 private:
  void Refill();

  z_stream zs_{};
  const int fd_;
  uint64_t next_offset_;     // file offset of the next compressed byte to read
  uint64_t remaining_;       // compressed bytes not yet read from the file
  bool ended_ = false;
  std::unique_ptr<Bytef[]> input_;
};

// pread() until `out` is full or the file ends; retries EINTR. Returns the
// count; throws Error (with errno) on a read error.
size_t PreadFully(int fd, std::span<char> out, uint64_t offset);

}  // namespace tpkg::fs
