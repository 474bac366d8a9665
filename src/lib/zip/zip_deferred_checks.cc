#include "zip/zip_deferred_checks.h"

#include <algorithm>
#include <limits>

#include "zip/zip_gaps.h"
#include "zip/zip_local_headers.h"
#include "zip/zip_names.h"
#include "zip/zip_problems.h"

namespace tpkg {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

}  // namespace

DeferredRecordChecks::DeferredRecordChecks(std::span<const uint32_t> by_offset,
                                           uint64_t cd_offset, uint64_t file_size, bool strict)
    : by_offset_(by_offset.begin(), by_offset.end()),
      next_(by_offset.size(), kNone),
      cd_offset_(cd_offset),
      file_size_(file_size),
      strict_(strict),
      verdicts_(new Verdict[by_offset.size()]) {
  for (size_t k = 0; k + 1 < by_offset.size(); ++k) next_[by_offset[k]] = by_offset[k + 1];
}

std::optional<size_t> EntryIndex(const std::vector<ZipEntry>& entries,
                                 std::span<const uint32_t> by_offset, const ZipEntry& entry) {
  if (!entries.empty() && &entry >= entries.data() && &entry < entries.data() + entries.size())
    return static_cast<size_t>(&entry - entries.data());
  const auto it = std::lower_bound(by_offset.begin(), by_offset.end(), entry.local_header_offset,
                                   [&entries](uint32_t i, uint64_t offset) {
                                     return entries[i].local_header_offset < offset;
                                   });
  if (it == by_offset.end() || entries[*it].local_header_offset != entry.local_header_offset)
    return std::nullopt;
  return *it;
}

uint64_t DeferredRecordChecks::DataOffset(int fd, const std::string& archive,
                                          const std::vector<ZipEntry>& entries,
                                          size_t index, const FileBytes* prefetched) const {
  const Verdict& v = verdicts_[index];
  if (v.state.load(std::memory_order_acquire) == kGood) return v.data_offset;
  return Check(fd, archive, entries, index, prefetched);
}

uint64_t DeferredRecordChecks::Check(int fd, const std::string& archive,
                                     const std::vector<ZipEntry>& entries, size_t index,
                                     const FileBytes* prefetched) const {
  Verdict& v = verdicts_[index];
  if (v.state.load(std::memory_order_acquire) != kUnchecked) return Published(v, index);
  // Outside the lock: the checks only read the file and the entries, so the
  // analysis's threads and the save's copy check their records side by side
  // (under one lock they queued behind each other's preads). Two threads may
  // check one record at once; the first verdict published stays, and is the
  // one every caller gets (they differ only if the file changed meanwhile).
  Problems problems(archive, Problems::Mode::kThrowFirst);
  ZipEntry e = entries[index];
  try {
    ReadLocalHeader(fd, file_size_, e, index, strict_, problems, prefetched);
    const uint32_t next = next_[index];
    const uint64_t region_end = next == kNone ? cd_offset_ : entries[next].local_header_offset;
    if (e.data_offset + e.compressed_size > region_end) {
      problems.Record(index, e.full_name, Errc::kCorrupt,
                      next == kNone ? std::string("data overlaps the central directory")
                                    : "overlaps record " + QuoteName(entries[next].full_name));
    }
    if (strict_) {
      CheckRecordTail(fd, e, index, region_end, next == kNone ? nullptr : &entries[next].full_name,
                      problems, prefetched);
    }
  } catch (const Error& error) {
    if (error.code() != Errc::kCorrupt && error.code() != Errc::kUnsupported) throw;  // kIo
    {
      std::lock_guard lock(mu_);
      if (v.state.load(std::memory_order_relaxed) == kUnchecked) {
        failures_.emplace(index, error);
        v.state.store(kBad, std::memory_order_release);
        throw;
      }
    }
    return Published(v, index);  // another thread's verdict came first: every caller gets it
  }
  {
    std::lock_guard lock(mu_);
    if (v.state.load(std::memory_order_relaxed) == kUnchecked) {
      v.data_offset = e.data_offset;
      v.state.store(kGood, std::memory_order_release);
      return e.data_offset;
    }
  }
  return Published(v, index);
}

uint64_t DeferredRecordChecks::Published(const Verdict& v, size_t index) const {
  if (v.state.load(std::memory_order_acquire) == kGood) return v.data_offset;
  std::lock_guard lock(mu_);
  throw failures_.at(index);
}

}  // namespace tpkg
