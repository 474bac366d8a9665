// inode_table.h: stable inode numbers for the names of a read/write mount.
//
// The journal (tpkg/journal.h) knows files by path; the kernel knows them by
// inode number. The table hands out a number the first time a path is seen
// and keeps it while the name exists, moves it (with every name below a
// directory) on rename, and drops it on unlink, so that the kernel's idea of
// "this file" matches the journal's after every namespace change:
//
//   InodeTable t;                     // the root "" is inode 1
//   InodeId a = t.Intern("pkg/a.py");  // 2
//   t.Rename("pkg/a.py", "pkg/b.py");  // PathOf(a) == "pkg/b.py"
//   t.Forget("pkg/b.py");              // PathOf(a) == nullopt
//
// Numbers are never reused while the daemon runs, and the table does not
// implement FUSE forget: it holds one entry per name that exists and was
// looked up, which is bounded by the package's size.
//
// Thread safety: none; JournalFsOps guards it with its namespace lock.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tree.h"  // InodeId, kRootInode

namespace tpkg::fs {

class InodeTable {
 public:
  InodeTable();

  // The inode of `path`, allocated on first use.
  InodeId Intern(const std::string& path);
  // The inode of `path` if it was interned.
  std::optional<InodeId> Find(const std::string& path) const;
  // The current path of `ino`; nullopt when its name is gone (or never was).
  std::optional<std::string> PathOf(InodeId ino) const;

  // `from` and every path below it now live under `to`; whatever was at
  // `to` (and below) loses its name.
  void Rename(const std::string& from, const std::string& to);
  // `path` and every path below it lose their names.
  void Forget(const std::string& path);

 private:
  // [first, last) of the paths strictly below `dir` in by_path_.
  std::pair<std::map<std::string, InodeId>::iterator, std::map<std::string, InodeId>::iterator>
  Below(const std::string& dir);

  InodeId next_ = kRootInode + 1;
  std::map<std::string, InodeId> by_path_;  // sorted: a subtree is one range
  std::unordered_map<InodeId, std::string> by_inode_;
};

// "a/b" + "c" -> "a/b/c"; "" + "c" -> "c".
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace tpkg::fs
