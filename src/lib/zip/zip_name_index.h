// zip_name_index.h: sorted index of record names for lookup and collision checks (private).
//
// One vector of entry numbers sorted by (ASCII-folded name, exact name,
// position): exact lookups are a binary search, and every name clash torch's
// case-insensitive lookup would trip over sits next to its twin. The folded
// names are kept in one arena (one allocation) so that comparisons are
// memcmp, which keeps opening a 5,000-record archive in a few milliseconds.
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

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/zip_reader.h"
#include "zip/zip_problems.h"

namespace tpkg {

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
