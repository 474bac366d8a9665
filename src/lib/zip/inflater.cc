#include "zip/inflater.h"

#include <algorithm>
#include <climits>

#include "tpkg/error.h"

namespace tpkg {
namespace {

constexpr int kRawDeflateWindowBits = -15;
constexpr size_t kMaxChunk = UINT_MAX;  // zlib counts in uInt

}  // namespace

Inflater::Inflater() {
  if (inflateInit2(&stream_, kRawDeflateWindowBits) != Z_OK) {
    throw Error(Errc::kIo, "zlib: cannot initialise an inflate stream");
  }
}

Inflater::~Inflater() { inflateEnd(&stream_); }

void Inflater::Reset() {
  inflateReset(&stream_);
  ended_ = false;
}

Inflater::Step Inflater::Inflate(std::span<const char> in, std::span<char> out) {
  Step step;
  if (ended_) {
    step.ended = true;
    return step;
  }
  stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  stream_.avail_in = static_cast<uInt>(std::min(in.size(), kMaxChunk));
  stream_.next_out = reinterpret_cast<Bytef*>(out.data());
  stream_.avail_out = static_cast<uInt>(std::min(out.size(), kMaxChunk));
  const uInt in_before = stream_.avail_in, out_before = stream_.avail_out;
  const int rc = inflate(&stream_, Z_NO_FLUSH);
  step.consumed = in_before - stream_.avail_in;
  step.produced = out_before - stream_.avail_out;
  if (rc == Z_STREAM_END) {
    ended_ = step.ended = true;
  } else if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR) {
    step.error = stream_.msg ? stream_.msg : "invalid deflate data";
  }
  // Z_BUF_ERROR only means "no progress possible with these buffers"; the
  // caller sees produced == consumed == 0 and decides (truncated input).
  return step;
}

}  // namespace tpkg
