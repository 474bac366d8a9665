#include "zip/torch_lookup.h"

#include <utility>

#include "zip/zip_names.h"

namespace tpkg {
namespace {

// miniz's MZ_TOLOWER on unsigned bytes, then length as the tie-break:
// mz_zip_filename_compare's sign.
int Compare(std::string_view l, std::string_view r) {
  const size_t n = std::min(l.size(), r.size());
  for (size_t i = 0; i < n; ++i) {
    const auto a = static_cast<unsigned char>(FoldAscii(l[i]));
    const auto b = static_cast<unsigned char>(FoldAscii(r[i]));
    if (a != b) return a < b ? -1 : 1;
  }
  return l.size() == r.size() ? 0 : (l.size() < r.size() ? -1 : 1);
}

// Sift-down of miniz's heap sort, with its "less" and its bounds.
void SiftDown(const std::vector<ZipEntry>& entries, std::vector<uint32_t>& idx, uint64_t root,
              uint64_t end) {
  auto less = [&entries](uint32_t a, uint32_t b) {
    return Compare(entries[a].full_name, entries[b].full_name) < 0;
  };
  for (;;) {
    uint64_t child = (root << 1) + 1;
    if (child >= end) break;
    if (child + 1 < end && less(idx[child], idx[child + 1])) ++child;
    if (!less(idx[root], idx[child])) break;
    std::swap(idx[root], idx[child]);
    root = child;
  }
}

}  // namespace

std::vector<uint32_t> MinizSortedOrder(const std::vector<ZipEntry>& entries) {
  const uint64_t size = entries.size();
  std::vector<uint32_t> idx(size);
  for (uint32_t i = 0; i < size; ++i) idx[i] = i;
  if (size <= 1) return idx;
  for (uint64_t start = (size - 2) >> 1;; --start) {
    SiftDown(entries, idx, start, size);
    if (start == 0) break;
  }
  for (uint64_t end = size - 1; end > 0; --end) {
    std::swap(idx[end], idx[0]);
    SiftDown(entries, idx, 0, end);
  }
  return idx;
}

std::optional<uint32_t> MinizLocate(const std::vector<ZipEntry>& entries,
                                    std::span<const uint32_t> sorted, std::string_view full_name) {
  int64_t l = 0, h = static_cast<int64_t>(sorted.size()) - 1;
  while (l <= h) {
    const int64_t m = l + ((h - l) >> 1);
    const uint32_t index = sorted[static_cast<size_t>(m)];
    const int comp = Compare(entries[index].full_name, full_name);
    if (comp == 0) return index;
    if (comp < 0) {
      l = m + 1;
    } else {
      h = m - 1;
    }
  }
  return std::nullopt;
}

}  // namespace tpkg
