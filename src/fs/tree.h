// tree.h: the mount's inode table: directories implied by record paths,
// files backed by an archive record, and generated (virtual) files.
//
// Inode numbers are indices into one vector plus one, so the root is
// FUSE_ROOT_ID (1) and a number never changes while the daemon runs. A file
// node says where its bytes come from (FileSource). (The read/write mount
// uses InodeTable over the journal instead: its names change.)
//
//   Tree tree = Tree::Build(zip.entries());
//   InodeId ino = *tree.Resolve(".data/version");
//   const Node& n = tree.node(ino);   // n.kind == NodeKind::kFile
//
// Build() turns record names into nodes like this:
//
//   record name          result
//   ""  (prefix folder)  the root itself
//   "a/b/"               directories a and a/b
//   "a/b/c.py"           directories a, a/b and the file c.py
//   "a//b", "a/../b"     skipped with a warning ("", ".", ".." components)
//   a 256-byte component skipped with a warning (longer than NAME_MAX)
//   "a" then "a/b"       the file a; "a/b" is skipped (a parent is a file)
//   "a/b" then "a"       the directory a; the file "a" is skipped
//   "x" twice            the one torch's reader returns (the others are
//                        ZipEntry::shadowed: skipped with a warning)
//   outside the prefix   skipped with a warning (shadowed: torch never reads it)
//
// (The strict ZipReader refuses the last four cases; they only reach the
// tree with -o nostrict.)
//
// Thread safety: a Tree is immutable after Build() and AddVirtualFile();
// const methods are safe from any number of threads.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "tpkg/zip_reader.h"

namespace tpkg::fs {

using InodeId = uint64_t;
inline constexpr InodeId kRootInode = 1;  // FUSE_ROOT_ID

enum class NodeKind : uint8_t { kDirectory, kFile };

// An original archive record: the index into ZipReader::entries().
struct RecordRef {
  size_t entry_index = 0;
};
// A generated file: the slot in VirtualFiles.
struct VirtualRef {
  size_t slot = 0;
};
using FileSource = std::variant<std::monostate, RecordRef, VirtualRef>;

struct Node {
  std::string name;  // one path component; "" for the root
  InodeId parent = kRootInode;
  NodeKind kind = NodeKind::kDirectory;
  FileSource source;  // std::monostate for directories
  // Directories: children sorted by name (binary-searched by Lookup; the
  // position is the readdir cookie). Empty for files.
  std::vector<std::pair<std::string, InodeId>> children;
  uint32_t subdirectories = 0;  // for st_nlink
  // Directories: what the archive's folder entry ("a/") says, if it has one
  // (files take theirs from their ZipEntry).
  std::optional<uint32_t> mode;
  std::optional<int64_t> mtime;
};

class Tree {
 public:
  // Builds the tree of `entries` (names already prefix-stripped). Records
  // that cannot be placed are skipped and described in `warnings`.
  static Tree Build(std::span<const ZipEntry> entries,
                    std::vector<std::string>* warnings = nullptr);

  // Adds (or turns an existing record file into) a virtual file at `path`,
  // creating parent directories. Returns its inode. Throws Error(kNotDir /
  // kIsDir / kInvalidArgument) when the path cannot hold a file.
  InodeId AddVirtualFile(std::string_view path, size_t slot);

  bool Contains(InodeId ino) const { return ino >= 1 && ino <= nodes_.size(); }
  // Precondition: Contains(ino).
  const Node& node(InodeId ino) const { return nodes_[ino - 1]; }
  size_t size() const { return nodes_.size(); }

  // The child `name` of directory `parent`; nullopt when absent or when
  // `parent` is not a directory.
  std::optional<InodeId> Lookup(InodeId parent, std::string_view name) const;
  // A '/'-separated path relative to the root ("" is the root).
  std::optional<InodeId> Resolve(std::string_view path) const;
  // The path of `ino` relative to the root, for messages ("a/b.py").
  std::string PathOf(InodeId ino) const;

 private:
  Tree();
  InodeId NewNode(InodeId parent, std::string name, NodeKind kind, FileSource source);
  // The directory at the components of `dirs`, creating missing ones.
  // nullopt when a file is in the way.
  std::optional<InodeId> EnsureDirectories(std::span<const std::string_view> dirs);
  std::pair<std::string, InodeId>* FindChild(InodeId parent, std::string_view name);
  void AddEntry(const ZipEntry& entry, size_t index, std::vector<std::string>* warnings);
  void SortChildren();

  std::vector<Node> nodes_;
};

// Splits a record name into components; nullopt when one is "", "." or
// "..", longer than 255 bytes, or holds a NUL. A trailing '/' (directory
// entry) is ignored.
std::optional<std::vector<std::string_view>> SplitRecordPath(std::string_view path);

}  // namespace tpkg::fs
