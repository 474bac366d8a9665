#include "crc_tracker.h"

#include "tpkg/crc32.h"

namespace tpkg::fs {

CrcTracker::Verdict CrcTracker::Feed(uint64_t offset, std::span<const char> data) {
  std::lock_guard lock(mu_);
  if (verdict_ == Verdict::kGood || verdict_ == Verdict::kBad) return verdict_;
  if (verdict_ == Verdict::kGaveUp) {
    if (offset != 0) return verdict_;
    Reset();
  }
  const uint64_t end = offset + data.size();
  if (end > size_) return verdict_ = Verdict::kGaveUp;  // cannot happen for a sane caller
  if (offset <= prefix_ && end > prefix_) {
    Extend(Crc32(0, data.subspan(prefix_ - offset)), end - prefix_);
    MergeParked();
  } else if (offset > prefix_ && !data.empty()) {
    auto next = parked_.lower_bound(offset);
    const bool overlaps_next = next != parked_.end() && next->first < end;
    const bool overlaps_prev =
        next != parked_.begin() && std::prev(next)->first + std::prev(next)->second.length > offset;
    if (next != parked_.end() && next->first == offset && next->second.length == data.size()) {
      return verdict_;  // the same chunk again
    }
    if (overlaps_next || overlaps_prev || parked_.size() >= kMaxParked) {
      return verdict_ = Verdict::kGaveUp;
    }
    parked_.emplace(offset, Parked{data.size(), Crc32(0, data)});
  }
  return Conclude();
}

void CrcTracker::Extend(uint32_t crc, uint64_t length) {
  crc_ = Crc32Combine(crc_, crc, length);
  prefix_ += length;
}

void CrcTracker::MergeParked() {
  while (!parked_.empty()) {
    auto first = parked_.begin();
    if (first->first > prefix_) return;
    if (first->first < prefix_) {  // overlaps what is already hashed
      verdict_ = Verdict::kGaveUp;
      return;
    }
    Extend(first->second.crc, first->second.length);
    parked_.erase(first);
  }
}

CrcTracker::Verdict CrcTracker::Conclude() {
  if (verdict_ == Verdict::kGaveUp) {
    parked_.clear();
    return verdict_;
  }
  if (prefix_ < size_) return verdict_ = Verdict::kPending;
  parked_.clear();
  return verdict_ = (crc_ == expected_ ? Verdict::kGood : Verdict::kBad);
}

void CrcTracker::Reset() {
  verdict_ = Verdict::kPending;
  prefix_ = 0;
  crc_ = 0;
  parked_.clear();
}

uint32_t CrcTracker::actual() const {
  std::lock_guard lock(mu_);
  return crc_;
}

}  // namespace tpkg::fs
