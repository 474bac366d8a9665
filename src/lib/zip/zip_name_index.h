// zip_name_index.h: sorted index of record names for lookup and collision checks (private).
//
// One vector of entry numbers sorted by (ASCII-folded name, exact name,
// position): exact lookups are a binary search, and every name clash torch's
// case-insensitive lookup would trip over sits next to its twin. The folded
// names are kept in one arena (one allocation) so that comparisons are
// memcmp, which keeps opening a 5,000-record archive in a few milliseconds.
// Central directories mostly list names in order already (torch writes a
// package's modules sorted, its .data records around them): the sort takes
// the entries that continue the ascending run in one pass and sorts only the
// others (SortMostlyInOrder), and the file-and-folder check searches from
// each file's own place outward (GallopLowerBound): about one comparison per
// entry each instead of a dozen.
//
//   | names in the archive     | Check() reports                         |
//   | ------------------------ | --------------------------------------- |
//   | `a.py`, `a.py`           | duplicate name                          |
//   | `res/A.txt`, `res/a.txt` | differ only in case                     |
//   | `a/b`, `a/b/c.py`        | 'a/b' is both a file and a folder       |
//   | `a/b`, `A/B/c.py`        | same (folded)                           |
//
//   NameIndex index(entries);
//   const ZipEntry* e = index.Find(entries, "model/model.pkl");
//
// Thread safety: immutable after construction; const methods are safe concurrently.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/zip_reader.h"
#include "zip/zip_problems.h"

namespace tpkg {

// Sorts `order` by `less`, a strict total order (ties broken, so that the
// result is the one std::sort gives): the entries that do not continue the
// ascending run of those before them are sorted apart and merged back, so an
// order that is mostly sorted costs about one comparison per entry.
template <class Less>
void SortMostlyInOrder(std::vector<uint32_t>& order, Less less) {
  std::vector<uint32_t> run, rest;
  run.reserve(order.size());
  for (const uint32_t i : order) {
    if (run.empty() || !less(i, run.back())) {
      run.push_back(i);
    } else {
      rest.push_back(i);
    }
  }
  if (rest.empty()) return;  // already in order
  std::sort(rest.begin(), rest.end(), less);
  std::merge(run.begin(), run.end(), rest.begin(), rest.end(), order.begin(), less);
}

// std::lower_bound(sorted.begin() + from, sorted.end(), key, less) found by
// galloping from `from`: 1, 2, 4... places on, then a binary search in the
// last step. Cheap when the answer is near `from`.
template <class T, class Key, class Less>
size_t GallopLowerBound(const std::vector<T>& sorted, size_t from, const Key& key, Less less) {
  size_t low = from, step = 1;
  while (low < sorted.size() && less(sorted[low], key)) {
    const size_t next = low + step;
    if (next >= sorted.size() || !less(sorted[next], key)) {
      auto it = std::lower_bound(
          sorted.begin() + static_cast<std::ptrdiff_t>(low + 1),
          sorted.begin() + static_cast<std::ptrdiff_t>(std::min(next, sorted.size())), key, less);
      return static_cast<size_t>(it - sorted.begin());
    }
    low = next;
    step *= 2;
  }
  return low;
}

// std::lower_bound(sorted, key, less) for a caller whose keys mostly come in
// order: searches on from `hint` (where its last search ended; updated to
// this one's answer) when the element before it is less than `key`, else
// from the start. About one comparison a key for keys in order; a key out of
// order costs a gallop from the start (about 2 log n comparisons).
template <class T, class Key, class Less>
size_t LowerBoundNear(const std::vector<T>& sorted, const Key& key, Less less, size_t& hint) {
  if (hint > sorted.size() || (hint > 0 && !less(sorted[hint - 1], key))) hint = 0;
  hint = GallopLowerBound(sorted, hint, key, less);
  return hint;
}

class NameIndex {
 public:
  NameIndex() = default;
  explicit NameIndex(const std::vector<ZipEntry>& entries);

  // The entry named exactly `record` that is not shadowed, or nullptr.
  const ZipEntry* Find(const std::vector<ZipEntry>& entries, std::string_view record) const;
  // Entries whose ASCII-folded name another entry shares (duplicates, case twins).
  std::vector<uint32_t> Twins() const;
  // Reports duplicate names, names differing only in case, and file-and-folder names.
  void Check(const std::vector<ZipEntry>& entries, Problems& problems) const;

 private:
  std::string_view folded(uint32_t entry) const {
    return std::string_view(arena_).substr(starts_[entry], starts_[entry + 1] - starts_[entry]);
  }
  // First position in order_ whose folded name is not less than `folded_key`.
  size_t LowerBound(std::string_view folded_key) const;
  void CheckTwins(const std::vector<ZipEntry>& entries, Problems& problems) const;
  void CheckFileFolders(const std::vector<ZipEntry>& entries, Problems& problems) const;

  std::string arena_;           // every folded name, back to back
  std::vector<size_t> starts_;  // entry i's folded name is arena_[starts_[i], starts_[i+1])
  std::vector<uint32_t> order_;
};

}  // namespace tpkg
