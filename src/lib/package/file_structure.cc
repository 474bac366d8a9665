// file_structure() as text (file_structure.h), following torch's Directory.
#include "tpkg/file_structure.h"

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

namespace tpkg {
namespace {

// torch's Directory: children keyed by name in insertion order (a dict);
// only the is_dir flag of the node created first for a name counts.
struct Node {
  std::string name;
  bool is_dir = false;
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> children;

  Node* Child(const std::string& child_name) {
    for (auto& [key, node] : children) {
      if (key == child_name) return node.get();
    }
    return nullptr;
  }
  void Set(const std::string& child_name, bool dir) {
    auto node = std::make_unique<Node>(Node{child_name, dir, {}});
    for (auto& [key, existing] : children) {
      if (key == child_name) {
        existing = std::move(node);  // dict assignment keeps the key's place
        return;
      }
    }
    children.emplace_back(child_name, std::move(node));
  }
};

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    parts.emplace_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

void AddFile(Node& top, std::string_view path) {
  std::vector<std::string> parts = Split(path);
  Node* dir = &top;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!dir->Child(parts[i])) dir->Set(parts[i], true);
    dir = dir->Child(parts[i]);
  }
  dir->Set(parts.back(), false);
}

// torch's _stringify_tree, line for line.
void Stringify(const Node& node, std::string& out, std::string preamble, std::string_view dir_ptr) {
  static constexpr std::string_view kSpace = "    ", kBranch = "│   ", kTee = "├── ",
                                    kLast = "└── ";
  out.append(preamble).append(dir_ptr).append(node.name).push_back('\n');
  preamble += dir_ptr == kTee ? kBranch : kSpace;
  std::vector<const std::pair<std::string, std::unique_ptr<Node>>*> dirs, files;
  for (const auto& child : node.children) (child.second->is_dir ? dirs : files).push_back(&child);
  const auto by_key = [](const auto* a, const auto* b) { return a->first < b->first; };
  std::sort(dirs.begin(), dirs.end(), by_key);
  std::sort(files.begin(), files.end(), by_key);
  for (size_t i = 0; i < dirs.size(); ++i) {
    const bool last = i + 1 == dirs.size() && files.empty();
    Stringify(*dirs[i]->second, out, preamble, last ? kLast : kTee);
  }
  for (size_t i = 0; i < files.size(); ++i) {
    out.append(preamble).append(i + 1 == files.size() ? kLast : kTee).append(files[i]->first);
    out.push_back('\n');
  }
}

}  // namespace

std::string FileStructureText(std::string_view filename, const std::vector<std::string>& records,
                              const GlobGroup& filter) {
  Node top{std::string(filename), true, {}};
  for (const std::string& record : records) {
    if (filter.Matches(record)) AddFile(top, record);
  }
  std::string out;
  Stringify(top, out, "", "─── ");
  return out;
}

}  // namespace tpkg
