#include "zip_name_index.h"

#include <algorithm>
#include <string>

#include "zip_names.h"

namespace tpkg {

NameIndex::NameIndex(const std::vector<ZipEntry>& entries) : order_(entries.size()) {
  for (uint32_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::sort(order_.begin(), order_.end(), [&entries](uint32_t a, uint32_t b) {
    const int folded = CompareFolded(entries[a].name, entries[b].name);
    if (folded != 0) return folded < 0;
    const int exact = entries[a].name.compare(entries[b].name);
    return exact != 0 ? exact < 0 : a < b;
  });
}

size_t NameIndex::LowerBound(const std::vector<ZipEntry>& entries, std::string_view key) const {
  auto it = std::lower_bound(order_.begin(), order_.end(), key,
                             [&entries](uint32_t i, std::string_view k) {
                               return CompareFolded(entries[i].name, k) < 0;
                             });
  return static_cast<size_t>(it - order_.begin());
}

const ZipEntry* NameIndex::Find(const std::vector<ZipEntry>& entries, std::string_view record) const {
  const ZipEntry* found = nullptr;
  for (size_t i = LowerBound(entries, record);
       i < order_.size() && CompareFolded(entries[order_[i]].name, record) == 0; ++i) {
    if (entries[order_[i]].name == record) found = &entries[order_[i]];
  }
  return found;
}

void NameIndex::Check(const std::vector<ZipEntry>& entries, Problems& problems) const {
  CheckTwins(entries, problems);
  CheckFileFolders(entries, problems);
}

void NameIndex::CheckTwins(const std::vector<ZipEntry>& entries, Problems& problems) const {
  for (size_t i = 1; i < order_.size(); ++i) {
    const ZipEntry& before = entries[order_[i - 1]];
    const ZipEntry& e = entries[order_[i]];
    if (CompareFolded(before.name, e.name) != 0) continue;
    problems.Record(order_[i], e.full_name, Errc::kCorrupt,
                    before.name == e.name
                        ? std::string("duplicate name")
                        : "name differs only in case from " + QuoteName(before.full_name));
  }
}

// A file `f` clashes with any name starting with `f/`. In folded order those
// names sort after `f/` itself, so one binary search per file finds them.
void NameIndex::CheckFileFolders(const std::vector<ZipEntry>& entries, Problems& problems) const {
  std::string key;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].is_directory() || entries[i].name.empty()) continue;
    key.assign(entries[i].name).push_back('/');
    const size_t at = LowerBound(entries, key);
    if (at == order_.size()) continue;
    const std::string_view other = entries[order_[at]].name;
    if (CompareFolded(other.substr(0, key.size()), key) == 0) {
      problems.Record(i, entries[i].full_name, Errc::kCorrupt,
                      "is both a file and a folder (see " + QuoteName(entries[order_[at]].full_name) + ")");
    }
  }
}

}  // namespace tpkg
