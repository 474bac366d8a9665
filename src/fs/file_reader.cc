#include "file_reader.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "tpkg/error.h"
#include "tpkg/file_io.h"

namespace tpkg::fs {

StoredRecordReader::StoredRecordReader(const ZipReader& zip, const ZipEntry& entry,
                                       RecordVerifier& verifier)
    : fd_(zip.fd()), entry_(entry), data_offset_(zip.DataOffset(entry)), verifier_(verifier) {}

// Announces up to kReadAhead bytes past [offset, end) when the read starts
// inside what was announced before, or at 0 (a reader starting over: the
// read-only view keeps its readers across opens), and less than half of the
// window is left; a read past the announced end is random and announces
// nothing. One thread wins each step.
void StoredRecordReader::ReadAhead(uint64_t offset, uint64_t end) {
  uint64_t seen = announced_end_.load(std::memory_order_relaxed);
  const uint64_t announced = offset == 0 ? 0 : seen;
  if (offset > announced || end + kReadAhead / 2 <= announced) return;
  const uint64_t from = std::max(announced, end);
  const uint64_t to = std::min<uint64_t>(end + kReadAhead, entry_.size);
  if (from >= to || !announced_end_.compare_exchange_strong(seen, to)) return;
  posix_fadvise(fd_, static_cast<off_t>(data_offset_ + from), static_cast<off_t>(to - from),
                POSIX_FADV_WILLNEED);
}

size_t StoredRecordReader::Read(uint64_t offset, std::span<char> out) {
  if (!verified_.load(std::memory_order_acquire)) {
    verifier_.Check(entry_);  // throws for a corrupt record, before anything is served
    verified_.store(true, std::memory_order_release);
  }
  if (offset >= entry_.size) return 0;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), entry_.size - offset));
  ReadAhead(offset, offset + want);
  const size_t got = PreadFull(fd_, out.first(want), data_offset_ + offset, "the archive");
  // Verified, then shrunk under us: never serve what was not checked.
  if (got < want) throw Error(Errc::kCorrupt, "the archive ends inside the record");
  return got;
}

DeflatedRecordReader::DeflatedRecordReader(const ZipReader& zip, const ZipEntry& entry)
    : zip_(zip), entry_(entry) {
  zip.DataOffset(entry);  // a deferred record is checked before it is opened
}

bool DeflatedRecordReader::holds_buffers() const {
  std::lock_guard lock(mu_);
  return stream_ != nullptr || !window_.empty();
}

void DeflatedRecordReader::Fail(std::string reason) {
  failure_ = std::move(reason);
  stream_.reset();
  window_ = {};
  scratch_ = {};
  throw Error(Errc::kCorrupt, *failure_);
}

void DeflatedRecordReader::Restart() {
  stream_ = std::make_unique<RecordStream>(zip_, entry_);
  produced_ = 0;
  window_.clear();
  scratch_.resize(kChunk);
}

void DeflatedRecordReader::Append(std::span<const char> chunk) {
  window_.insert(window_.end(), chunk.begin(), chunk.end());
  if (window_.size() > kWindow) {
    window_.erase(window_.begin(), window_.begin() + static_cast<long>(window_.size() - kWindow));
  }
}

// Decodes the next chunk (RecordStream checks the size and the CRC-32 when
// it delivers the last byte), copies its overlap with the requested range
// [want_begin, want_begin + out.size()) into `out`, and remembers it.
void DeflatedRecordReader::ProduceChunk(uint64_t want_begin, std::span<char> out) {
  size_t n = 0;
  try {
    n = stream_->Read(scratch_);
  } catch (const Error& e) {
    if (e.code() != Errc::kCorrupt) throw;
    Fail(e.what());
  }
  if (n == 0) Fail("the record ends early");  // RecordStream throws first; kept as a guard
  std::span<const char> chunk(scratch_.data(), n);
  const uint64_t begin = std::max(produced_, want_begin);
  const uint64_t end = std::min(produced_ + n, want_begin + out.size());
  if (begin < end) {
    std::memcpy(out.data() + (begin - want_begin), chunk.data() + (begin - produced_), end - begin);
  }
  Append(chunk);
  produced_ += n;
  if (produced_ == entry_.size) {
    stream_.reset();  // verified; the page cache holds the data now
    scratch_ = {};
  }
}

size_t DeflatedRecordReader::Read(uint64_t offset, std::span<char> out) {
  std::lock_guard lock(mu_);
  if (failure_) throw Error(Errc::kCorrupt, *failure_);
  if (offset >= entry_.size) return 0;
  const uint64_t end = std::min<uint64_t>(offset + out.size(), entry_.size);
  out = out.first(end - offset);
  const uint64_t window_begin = produced_ - window_.size();
  if (offset < window_begin || (produced_ < end && !stream_)) Restart();
  if (offset < produced_) {  // the head of the range is still in the window
    const uint64_t have_end = std::min(end, produced_);
    const char* src = window_.data() + (offset - (produced_ - window_.size()));
    std::memcpy(out.data(), src, have_end - offset);
  }
  while (produced_ < end) ProduceChunk(offset, out);
  return out.size();
}

std::unique_ptr<RecordReader> OpenRecordReader(const ZipReader& zip, const ZipEntry& entry,
                                               RecordVerifier& verifier) {
  switch (entry.method) {
    case kMethodStored: return std::make_unique<StoredRecordReader>(zip, entry, verifier);
    case kMethodDeflate: return std::make_unique<DeflatedRecordReader>(zip, entry);
    default:
      throw Error(Errc::kUnsupported,
                  "compression method " + std::to_string(entry.method) + " is not supported");
  }
}

}  // namespace tpkg::fs
