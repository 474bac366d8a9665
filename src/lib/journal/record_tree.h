// record_tree.h (private): the current namespace of an archive being edited,
// as POSIX sees it: files (whose bytes are an original record or a journal
// data file) and directories, with the checks rename(2), unlink(2), mkdir(2)
// and rmdir(2) specify.
//
// The Journal checks an operation here, logs it, then applies it; replaying
// the log after a crash applies the same operations again, so live state and
// recovered state cannot diverge.
//
//   RecordTree tree(zip.entries());
//   if (int err = tree.CheckRename("a", "b", false)) return -err;   // e.g. ENOTEMPTY
//   tree.Rename("a", "b");
//
// Paths are record names relative to the archive's prefix folder, '/'
// separated, no leading or trailing slash; "" is the root directory.
//
// Directories: every ancestor of an original record is a directory, and so is
// every ZIP directory entry ("x/"); removing the last file of a directory
// leaves it in place (POSIX), so directories are tracked explicitly, not
// derived from file names.
//
// Thread safety: none; the Journal guards its tree with its mutex.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tpkg/journal.h"  // ValidateRecordPath
#include "tpkg/zip_reader.h"

namespace tpkg {

// A file's or folder's attributes; absent ones fall back to defaults (the
// mode: the daemon's; times: the mtime, else the archive file's; owner: the
// mount's). An original record starts with what its ZIP entry holds
// (ZipEntry::mode, ::mtime), a folder with what its folder entry holds.
struct TreeAttr {
  std::optional<uint32_t> mode;  // permission bits (07777)
  std::optional<struct timespec> mtime;
  std::optional<struct timespec> atime;  // kept apart from mtime; never saved
  std::optional<struct timespec> ctime;  // the last change of name, mode or times
  // The mtime last set by utimens: saved while the mtime still is that (a
  // later write or listing change makes the mtime incidental again).
  std::optional<struct timespec> chosen_mtime;
  std::optional<uint32_t> uid, gid;      // who created it, when not the mount's owner
};

struct TreeFile {
  const ZipEntry* original = nullptr;  // content source while journal_id == 0
  uint64_t journal_id = 0;             // != 0: content is journal data file <id>
  TreeAttr attr;
  // With journal_id: the data file is a patch over this original record
  // (tpkg/record_patch.h), not the whole content.
  const ZipEntry* patch_base = nullptr;
};

struct TreeDir {
  TreeAttr attr;
  const ZipEntry* entry = nullptr;  // the folder entry ("x/") the archive had for it, if any
  bool made = false;                // made by mkdir (not implied by the archive's records)
};

struct TreeChild {
  std::string name;  // one component
  bool is_dir = false;
};

class RecordTree {
 public:
  // Builds the namespace of an archive as it was written. `entries` must
  // outlive the tree (files point at them).
  explicit RecordTree(const std::vector<ZipEntry>& entries);

  const TreeFile* FindFile(std::string_view path) const;
  const TreeDir* FindDir(std::string_view path) const;
  bool Exists(std::string_view path) const { return FindFile(path) || FindDir(path); }
  bool IsEmptyDir(std::string_view path) const;
  // Children of a directory, sorted by name. Precondition: FindDir(dir).
  std::vector<TreeChild> List(std::string_view dir) const;
  // How many folders `dir` holds directly (for st_nlink). Precondition: FindDir(dir).
  size_t CountSubdirs(std::string_view dir) const;
  const std::map<std::string, TreeFile, std::less<>>& files() const { return files_; }
  const std::map<std::string, TreeDir, std::less<>>& dirs() const { return dirs_; }

  // Each Check returns 0 when the operation is allowed, else the errno POSIX
  // specifies for it (see the table in record_tree.cc).
  int CheckCreate(std::string_view path) const;
  int CheckFileExists(std::string_view path) const;  // SetContent, open for write
  int CheckUnlink(std::string_view path) const;
  int CheckRename(std::string_view from, std::string_view to, bool no_replace) const;
  int CheckMkdir(std::string_view path) const;
  int CheckRmdir(std::string_view path) const;
  int CheckAttr(std::string_view path) const;  // chmod, utimens: file or directory

  // Torch's reader looks names up as miniz does, folding ASCII case
  // (zip/zip_names.h): of two files whose whole names differ only in case,
  // or a file and a folder, it could not tell which is meant, and a save
  // refuses them; two folders are fine (`Res/x.txt` beside `res/y.txt`:
  // only whole names collide). So a live create, mkdir or rename refuses to
  // make such a pair (not a replay: an older journal may hold one, and
  // recovery must not fail on it). The first call indexes every path;
  // mutations keep the index.
  //
  // The path that would pair with a new file (or, `is_dir`, folder) at
  // `path`, or nullopt.
  std::optional<std::string> CaseTwin(std::string_view path, bool is_dir = false) const;
  // The same for rename(from, to): the name itself, and for a folder every
  // name below it at its new place (whatever lies below `from` moves along).
  struct CaseClash {
    std::string moved;  // `to`, or the new place of a name below `from`
    std::string twin;   // what it would pair with
  };
  std::optional<CaseClash> CaseTwinOfMove(std::string_view from, std::string_view to) const;

  // Mutations. Precondition: the matching Check returned 0. Each returns the
  // journal data ids the namespace no longer references (the caller deletes
  // those files).
  void Create(std::string_view path, uint64_t journal_id, const TreeAttr& attr);
  std::vector<uint64_t> SetContent(std::string_view path, uint64_t journal_id);
  // The original record at `path` becomes patched data file `journal_id`
  // (a patched file: a new patch over the same record, replacing one that
  // recovery found lost). Precondition: CheckFileExists(path) == 0 and the
  // file is an original or patched.
  std::vector<uint64_t> SetPatch(std::string_view path, uint64_t journal_id);
  // A patched file shows its original record again (its patch was lost).
  void RevertPatch(std::string_view path);
  std::vector<uint64_t> Unlink(std::string_view path);
  std::vector<uint64_t> Rename(std::string_view from, std::string_view to);
  void Mkdir(std::string_view path, const TreeAttr& attr);
  void Rmdir(std::string_view path);
  void SetMode(std::string_view path, uint32_t mode);
  void SetMtime(std::string_view path, struct timespec mtime);
  void SetAtime(std::string_view path, struct timespec atime);
  // nullopt: the mount's owner.
  void SetOwner(std::string_view path, std::optional<uint32_t> uid, std::optional<uint32_t> gid);
  // The ctime of `path` (file or folder), when it exists.
  void SetCtime(std::string_view path, struct timespec ctime);
  // A folder's listing changed at `at`: its mtime and ctime become `at`
  // (nothing when it does not exist).
  void StampDir(std::string_view dir, struct timespec at);

 private:
  // 0 when every ancestor of `path` is a directory; ENOENT or ENOTDIR otherwise.
  int CheckParent(std::string_view path) const;
  TreeAttr* MutableAttr(std::string_view path);
  void MoveSubtree(const std::string& from, const std::string& to);
  // The case index (CaseTwin), when built.
  void BuildCaseIndex() const;
  // A twin of `path` (a folder when `is_dir`): not `path` itself, nothing
  // at or below `moving` (it moves along), no folder when `is_dir`.
  std::optional<std::string> TwinOf(std::string_view path, bool is_dir,
                                    std::string_view moving) const;
  void Indexed(std::string_view path);
  void Unindexed(std::string_view path);

  std::map<std::string, TreeFile, std::less<>> files_;
  std::map<std::string, TreeDir, std::less<>> dirs_;  // always holds "" (the root)
  // Folded path -> path, of every file and folder; built by the first
  // CaseTwin (a mount that only reads never pays for it).
  mutable std::optional<std::unordered_multimap<std::string, std::string>> folded_;
};

}  // namespace tpkg
