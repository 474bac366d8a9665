#include "inflate_stream.h"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "tpkg/error.h"

namespace tpkg::fs {

size_t PreadFully(int fd, std::span<char> out, uint64_t offset) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = pread(fd, out.data() + done, out.size() - done,
                            static_cast<off_t>(offset + done));
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      ThrowSystemError("cannot read the archive at offset " + std::to_string(offset + done), err);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

InflateStream::InflateStream(int fd, uint64_t data_offset, uint64_t compressed_size)
    : fd_(fd), next_offset_(data_offset), remaining_(compressed_size),
      input_(new Bytef[kInputChunk]) {
  // Negative window bits: a raw deflate stream, as ZIP stores it.
  if (inflateInit2(&zs_, -MAX_WBITS) != Z_OK) {
    throw Error(Errc::kIo, "cannot start zlib's inflate", ENOMEM);
  }
}

InflateStream::~InflateStream() { inflateEnd(&zs_); }

void InflateStream::Refill() {
  const size_t want = static_cast<size_t>(std::min<uint64_t>(remaining_, kInputChunk));
  std::span<char> buf(reinterpret_cast<char*>(input_.get()), want);
  const size_t got = PreadFully(fd_, buf, next_offset_);
  if (got < want) throw Error(Errc::kCorrupt, "the archive ends inside the compressed data");
  next_offset_ += got;
  remaining_ -= got;
  zs_.next_in = input_.get();
  zs_.avail_in = static_cast<uInt>(got);
}

size_t InflateStream::Produce(std::span<char> out) {
  if (ended_ || out.empty()) return 0;
  zs_.next_out = reinterpret_cast<Bytef*>(out.data());
  zs_.avail_out = static_cast<uInt>(std::min<size_t>(out.size(), 1u << 30));
  const uInt start = zs_.avail_out;
  while (zs_.avail_out == start) {
    if (zs_.avail_in == 0) {
      if (remaining_ == 0) throw Error(Errc::kCorrupt, "the deflate stream is truncated");
      Refill();
    }
    const int rc = inflate(&zs_, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      ended_ = true;
      break;
    }
    // Z_BUF_ERROR only means "give me more input"; with input left it would
    // mean no progress at all, which must not turn into a busy loop.
    const bool needs_input = rc == Z_BUF_ERROR && zs_.avail_in == 0;
    if (rc != Z_OK && !needs_input) {
      throw Error(Errc::kCorrupt, std::string("invalid deflate data: ") +
                                      (zs_.msg ? zs_.msg : "zlib error " + std::to_string(rc)));
    }
  }
  return start - zs_.avail_out;
}

}  // namespace tpkg::fs
