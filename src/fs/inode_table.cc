#include "inode_table.h"

#include <vector>

namespace tpkg::fs {

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty()) out += '/';
  out += name;
  return out;
}

InodeTable::InodeTable() {
  by_path_.emplace("", kRootInode);
  by_inode_.emplace(kRootInode, "");
}

InodeId InodeTable::Intern(const std::string& path) {
  if (auto it = by_path_.find(path); it != by_path_.end()) return it->second;
  const InodeId ino = next_++;
  by_path_.emplace(path, ino);
  by_inode_.emplace(ino, path);
  return ino;
}

std::optional<InodeId> InodeTable::Find(const std::string& path) const {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> InodeTable::PathOf(InodeId ino) const {
  auto it = by_inode_.find(ino);
  if (it == by_inode_.end()) return std::nullopt;
  return it->second;
}

// Paths below "a" are "a/..." : the range ["a/", "a0") since '0' follows '/'.
// Below the root "" is everything but the root itself.
auto InodeTable::Below(const std::string& dir)
    -> std::pair<std::map<std::string, InodeId>::iterator,
                 std::map<std::string, InodeId>::iterator> {
  if (dir.empty()) return {std::next(by_path_.find("")), by_path_.end()};
  return {by_path_.lower_bound(dir + '/'), by_path_.lower_bound(dir + '0')};
}

void InodeTable::Forget(const std::string& path) {
  if (path.empty()) return;  // the root keeps its name
  auto [first, last] = Below(path);
  for (auto it = first; it != last; ++it) by_inode_.erase(it->second);
  by_path_.erase(first, last);
  if (auto it = by_path_.find(path); it != by_path_.end()) {
    by_inode_.erase(it->second);
    by_path_.erase(it);
  }
}

void InodeTable::Rename(const std::string& from, const std::string& to) {
  if (from == to || from.empty()) return;
  std::vector<std::pair<std::string, InodeId>> moved;  // new path, inode
  if (auto it = by_path_.find(from); it != by_path_.end()) moved.emplace_back(to, it->second);
  auto [first, last] = Below(from);
  for (auto it = first; it != last; ++it) {
    moved.emplace_back(to + it->first.substr(from.size()), it->second);
  }
  Forget(from);
  Forget(to);
  for (auto& [path, ino] : moved) {
    by_inode_[ino] = path;
    by_path_[std::move(path)] = ino;
  }
}

}  // namespace tpkg::fs
