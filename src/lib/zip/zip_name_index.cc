#include "zip/zip_name_index.h"

#include <algorithm>
#include <string>

#include "zip/zip_names.h"

namespace tpkg {

NameIndex::NameIndex(const std::vector<ZipEntry>& entries) : order_(entries.size()) {
  size_t total = 0;
  for (const auto& e : entries) total += e.name.size();
  arena_.reserve(total);
  starts_.reserve(entries.size() + 1);
  for (const auto& e : entries) {
    starts_.push_back(arena_.size());
    for (const char c : e.name) arena_.push_back(FoldAscii(c));
  }
  starts_.push_back(arena_.size());
  for (uint32_t i = 0; i < order_.size(); ++i) order_[i] = i;
  SortMostlyInOrder(order_, [this, &entries](uint32_t a, uint32_t b) {
    const int by_folded = folded(a).compare(folded(b));
    if (by_folded != 0) return by_folded < 0;
    const int exact = entries[a].name.compare(entries[b].name);
    return exact != 0 ? exact < 0 : a < b;
  });
}

size_t NameIndex::LowerBound(std::string_view folded_key) const {
  auto it = std::lower_bound(order_.begin(), order_.end(), folded_key,
                             [this](uint32_t i, std::string_view key) { return folded(i) < key; });
  return static_cast<size_t>(it - order_.begin());
}

const ZipEntry* NameIndex::Find(const std::vector<ZipEntry>& entries,
                                std::string_view record) const {
  const std::string key = Folded(record);
  const ZipEntry* found = nullptr;
  for (size_t i = LowerBound(key); i < order_.size() && folded(order_[i]) == key; ++i) {
    const ZipEntry& e = entries[order_[i]];
    if (e.name == record && !e.shadowed) found = &e;
  }
  return found;
}

std::vector<uint32_t> NameIndex::Twins() const {
  std::vector<uint32_t> twins;
  for (size_t i = 0; i < order_.size(); ++i) {
    const bool same_as_before = i > 0 && folded(order_[i - 1]) == folded(order_[i]);
    const bool same_as_next = i + 1 < order_.size() && folded(order_[i + 1]) == folded(order_[i]);
    if (same_as_before || same_as_next) twins.push_back(order_[i]);
  }
  return twins;
}

void NameIndex::Check(const std::vector<ZipEntry>& entries, Problems& problems) const {
  CheckTwins(entries, problems);
  CheckFileFolders(entries, problems);
}

void NameIndex::CheckTwins(const std::vector<ZipEntry>& entries, Problems& problems) const {
  for (size_t i = 1; i < order_.size(); ++i) {
    const ZipEntry& before = entries[order_[i - 1]];
    const ZipEntry& e = entries[order_[i]];
    if (folded(order_[i - 1]) != folded(order_[i])) continue;
    problems.Record(order_[i], e.full_name, Errc::kCorrupt,
                    before.name == e.name
                        ? std::string("duplicate name")
                        : "name differs only in case from " + QuoteName(before.full_name));
  }
}

// A file `f` clashes with any name starting with `f/`. In folded order those
// names sort after `f/` itself, so one search per file finds them; it starts
// at the file's own place (everything before it sorts before `f/`), where the
// answer usually is.
void NameIndex::CheckFileFolders(const std::vector<ZipEntry>& entries, Problems& problems) const {
  std::vector<uint32_t> place(order_.size());  // entry -> its position in order_
  for (size_t at = 0; at < order_.size(); ++at) place[order_[at]] = static_cast<uint32_t>(at);
  const auto folded_less = [this](uint32_t i, std::string_view key) { return folded(i) < key; };
  std::string key;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].is_directory() || entries[i].name.empty()) continue;
    key.assign(folded(static_cast<uint32_t>(i))).push_back('/');
    const size_t at =
        GallopLowerBound(order_, place[i] + size_t{1}, std::string_view(key), folded_less);
    if (at < order_.size() && folded(order_[at]).starts_with(key)) {
      problems.Record(
          i, entries[i].full_name, Errc::kCorrupt,
          "is both a file and a folder (see " + QuoteName(entries[order_[at]].full_name) + ")");
    }
  }
}

}  // namespace tpkg
