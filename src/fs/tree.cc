#include "tree.h"

#include <algorithm>
#include <unordered_map>

#include "tpkg/error.h"
#include "tpkg/record_path.h"

namespace tpkg::fs {
namespace {

bool NameLess(const std::pair<std::string, InodeId>& a, std::string_view b) { return a.first < b; }

std::string Joined(std::span<const std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

// Appends a node under `parent` (counting it in the parent's st_nlink when it
// is a directory) and returns its inode. Linking it into the parent's
// children is the caller's: the bulk build appends and sorts once, later
// additions insert in order.
InodeId AppendNode(std::vector<Node>& nodes, InodeId parent, const std::string& name, NodeKind kind,
                   FileSource source) {
  Node n;
  n.name = name;
  n.parent = parent;
  n.kind = kind;
  n.source = std::move(source);
  nodes.push_back(std::move(n));
  if (kind == NodeKind::kDirectory) ++nodes[parent - 1].subdirectories;
  return nodes.size();
}

}  // namespace

std::optional<std::vector<std::string_view>> SplitRecordPath(std::string_view path) {
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::vector<std::string_view> parts;
  if (path.empty()) return parts;
  // NAME_MAX: the kernel refuses longer names (and a readdir reply holding
  // one would fail as a whole), so such records cannot be shown.
  if (CheckRecordPath(path, {.name_max = true})) return std::nullopt;
  for (size_t start = 0;;) {
    const size_t slash = path.find('/', start);
    parts.push_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

// Build() keeps children unsorted and finds them through one hash map keyed
// by the full path; sorting once at the end keeps building a 5,000-record
// archive linear instead of quadratic.
class TreeBuilder {
 public:
  explicit TreeBuilder(std::vector<Node>* nodes) : nodes_(*nodes) {}

  // `path` is the components of `dirs` joined by '/' (the record name's
  // folder part, already validated). Consecutive records usually share
  // their folder, so the last answer is remembered.
  std::optional<InodeId> Directory(std::string_view path, std::span<const std::string_view> dirs) {
    if (last_dir_ && path == last_dir_path_) return last_dir_;
    InodeId current = kRootInode;
    std::string prefix;
    for (std::string_view d : dirs) {
      if (!prefix.empty()) prefix += '/';
      prefix += d;
      auto it = by_path_.find(prefix);
      if (it == by_path_.end()) {
        current = Add(current, std::string(d), NodeKind::kDirectory, {});
        by_path_.emplace(prefix, current);
      } else if (nodes_[it->second - 1].kind != NodeKind::kDirectory) {
        return std::nullopt;
      } else {
        current = it->second;
      }
    }
    last_dir_path_.assign(path);
    last_dir_ = current;
    return current;
  }

  // Returns false when a directory already has this path.
  bool File(InodeId parent, std::string_view path, std::string_view name, FileSource source) {
    auto it = by_path_.find(std::string(path));
    if (it == by_path_.end()) {
      by_path_.emplace(path, Add(parent, std::string(name), NodeKind::kFile, source));
      return true;
    }
    Node& existing = nodes_[it->second - 1];
    if (existing.kind == NodeKind::kDirectory) return false;
    existing.source = source;  // a twin torch's lookup skips is never passed here
    return true;
  }

 private:
  InodeId Add(InodeId parent, std::string name, NodeKind kind, FileSource source) {
    const InodeId ino = AppendNode(nodes_, parent, name, kind, source);
    nodes_[parent - 1].children.emplace_back(std::move(name), ino);  // sorted once, at the end
    return ino;
  }

  std::vector<Node>& nodes_;
  std::unordered_map<std::string, InodeId> by_path_;
  std::string last_dir_path_;
  std::optional<InodeId> last_dir_;
};

Tree::Tree() { nodes_.emplace_back(); }  // the root: a directory named ""

Tree Tree::Build(std::span<const ZipEntry> entries, std::vector<std::string>* warnings) {
  Tree tree;
  tree.nodes_.reserve(entries.size() + 1);
  TreeBuilder builder(&tree.nodes_);
  auto warn = [&](const ZipEntry& e, const char* why) {
    if (warnings) warnings->push_back("skipping record '" + e.full_name + "': " + why);
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    const ZipEntry& e = entries[i];
    if (e.shadowed) {  // torch's reader never returns this entry
      warn(e, e.outside_prefix ? "outside the prefix folder (torch never reads it)"
                               : "torch's reader returns another record of this name");
      continue;
    }
    auto parts = SplitRecordPath(e.name);
    if (!parts) {
      warn(e, "empty, '.', '..' or over-long (> 255 bytes) path component");
      continue;
    }
    // Valid components mean the name is already canonical: "a/b/c" or "a/b/".
    std::string_view path = e.name;
    if (!path.empty() && path.back() == '/') path.remove_suffix(1);
    std::span<const std::string_view> all(*parts);
    if (e.is_directory() || path.size() != e.name.size() || all.empty()) {
      const std::optional<InodeId> dir = builder.Directory(path, all);
      if (!dir) {
        warn(e, "a file has the same path");
      } else if (e.mode || e.mtime) {  // a folder entry's attributes are the folder's
        tree.nodes_[*dir - 1].mode = e.mode;
        tree.nodes_[*dir - 1].mtime = e.mtime;
      }
      continue;
    }
    const size_t slash = path.rfind('/');
    const std::string_view folder = slash == std::string_view::npos ? "" : path.substr(0, slash);
    auto parent = builder.Directory(folder, all.first(all.size() - 1));
    if (!parent) {
      warn(e, "a parent folder is a file");
      continue;
    }
    if (!builder.File(*parent, path, all.back(), RecordRef{i})) {
      warn(e, "a folder has the same path");
    }
  }
  tree.SortChildren();
  return tree;
}

void Tree::SortChildren() {
  for (Node& n : nodes_) {
    std::sort(n.children.begin(), n.children.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
}

InodeId Tree::NewNode(InodeId parent, std::string name, NodeKind kind, FileSource source) {
  const InodeId ino = AppendNode(nodes_, parent, name, kind, source);
  auto& siblings = nodes_[parent - 1].children;
  auto pos = std::lower_bound(siblings.begin(), siblings.end(), std::string_view(name), NameLess);
  siblings.emplace(pos, std::move(name), ino);
  return ino;
}

std::pair<std::string, InodeId>* Tree::FindChild(InodeId parent, std::string_view name) {
  auto& siblings = nodes_[parent - 1].children;
  auto pos = std::lower_bound(siblings.begin(), siblings.end(), name, NameLess);
  if (pos == siblings.end() || pos->first != name) return nullptr;
  return &*pos;
}

std::optional<InodeId> Tree::EnsureDirectories(std::span<const std::string_view> dirs) {
  InodeId current = kRootInode;
  for (std::string_view d : dirs) {
    auto* child = FindChild(current, d);
    if (!child) {
      current = NewNode(current, std::string(d), NodeKind::kDirectory, {});
    } else if (nodes_[child->second - 1].kind != NodeKind::kDirectory) {
      return std::nullopt;
    } else {
      current = child->second;
    }
  }
  return current;
}

InodeId Tree::AddVirtualFile(std::string_view path, size_t slot) {
  auto parts = SplitRecordPath(path);
  if (!parts || parts->empty()) {
    throw Error(Errc::kInvalidArgument, "invalid virtual file path '" + std::string(path) + "'");
  }
  std::span<const std::string_view> all(*parts);
  auto parent = EnsureDirectories(all.first(all.size() - 1));
  if (!parent) throw Error(Errc::kNotDir, "a parent of '" + std::string(path) + "' is a file");
  if (auto* existing = FindChild(*parent, all.back())) {
    Node& n = nodes_[existing->second - 1];
    if (n.kind == NodeKind::kDirectory) {
      throw Error(Errc::kIsDir, "'" + std::string(path) + "' is a folder in the archive");
    }
    n.source = VirtualRef{slot};
    return existing->second;
  }
  return NewNode(*parent, std::string(all.back()), NodeKind::kFile, VirtualRef{slot});
}

std::optional<InodeId> Tree::Lookup(InodeId parent, std::string_view name) const {
  if (!Contains(parent)) return std::nullopt;
  const auto& siblings = node(parent).children;
  auto pos = std::lower_bound(siblings.begin(), siblings.end(), name, NameLess);
  if (pos == siblings.end() || pos->first != name) return std::nullopt;
  return pos->second;
}

std::optional<InodeId> Tree::Resolve(std::string_view path) const {
  auto parts = SplitRecordPath(path);
  if (!parts) return std::nullopt;
  InodeId current = kRootInode;
  for (std::string_view part : *parts) {
    auto next = Lookup(current, part);
    if (!next) return std::nullopt;
    current = *next;
  }
  return current;
}

std::string Tree::PathOf(InodeId ino) const {
  if (!Contains(ino)) return "?";
  std::vector<std::string_view> parts;
  for (InodeId i = ino; i != kRootInode; i = node(i).parent) parts.push_back(node(i).name);
  std::reverse(parts.begin(), parts.end());
  return Joined(parts);
}

}  // namespace tpkg::fs
