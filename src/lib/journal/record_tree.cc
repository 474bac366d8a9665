#include "journal/record_tree.h"

#include <algorithm>
#include <cerrno>

#include "tpkg/record_path.h"
#include "zip/zip_names.h"  // Folded: the folding torch's reader does

namespace tpkg {
namespace {

// The errno each check returns, as rename(2), unlink(2), mkdir(2), rmdir(2)
// and Linux specify them (first matching row wins):
//
//   operation       condition                                errno
//   any             an ancestor is missing                   ENOENT
//   any             an ancestor is a file                    ENOTDIR
//   create, mkdir   the name exists (file or directory)      EEXIST
//   open for write  the name is a directory / is missing     EISDIR / ENOENT
//   unlink          the name is a directory / is missing     EISDIR / ENOENT
//   rmdir           the root / a file / missing              EBUSY / ENOTDIR / ENOENT
//   rmdir           the directory has children               ENOTEMPTY
//   rename          either side is the root                  EBUSY
//   rename          `from` is missing                        ENOENT
//   rename          from == to                               0 (nothing to do)
//   rename          `to` is inside `from` (a/b -> a/b/c)     EINVAL
//   rename          NOREPLACE and `to` exists                EEXIST
//   rename          dir over a file                          ENOTDIR
//   rename          dir over a non-empty dir (a/b -> a too)  ENOTEMPTY
//   rename          file over a dir                          EISDIR

std::string_view Parent(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

// "" for the root, "dir/" otherwise: the key prefix of everything inside `dir`.
std::string ChildPrefix(std::string_view dir) {
  return dir.empty() ? std::string() : std::string(dir) + "/";
}

// Appends the immediate children of `prefix` found among the keys of `map`,
// jumping over deeper subtrees in one lower_bound each.
template <class Map>
void CollectChildren(const Map& map, const std::string& prefix, bool is_dir,
                     std::vector<TreeChild>* out) {
  auto it = map.lower_bound(prefix);
  while (it != map.end() && it->first.starts_with(prefix)) {
    const std::string_view rest = std::string_view(it->first).substr(prefix.size());
    const size_t slash = rest.find('/');
    if (rest.empty()) {
      ++it;
    } else if (slash == std::string_view::npos) {
      out->push_back({std::string(rest), is_dir});
      ++it;
    } else {
      // '0' is the character after '/': the first key past "<prefix><child>/...".
      it = map.lower_bound(prefix + std::string(rest.substr(0, slash)) + '0');
    }
  }
}

// The attributes the archive holds for an entry.
TreeAttr AttrOf(const ZipEntry& e) {
  TreeAttr attr;
  attr.mode = e.mode;
  if (e.mtime) attr.mtime = timespec{static_cast<time_t>(*e.mtime), 0};
  return attr;
}

}  // namespace

RecordPathProblem JournalPathProblem(std::string_view path) {
  if (path.empty()) return {};  // the root
  return CheckRecordPath(path, {.name_max = true, .path_max = true, .utf8 = true});
}

int ValidateRecordPath(std::string_view path) {
  const RecordPathProblem p = JournalPathProblem(path);
  if (!p) return 0;
  return p.too_long ? ENAMETOOLONG : p.not_utf8 ? EILSEQ : EINVAL;
}

bool IsBytecodeCachePath(std::string_view path) {
  if (path.ends_with(".pyc")) return true;
  for (size_t start = 0; start <= path.size();) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (path.substr(start, slash - start) == "__pycache__") return true;
    start = slash + 1;
  }
  return false;
}

RecordTree::RecordTree(const std::vector<ZipEntry>& entries) {
  dirs_.emplace("", TreeDir{});
  for (const ZipEntry& e : entries) {
    // What torch never reads is not in the namespace (a non-strict reader
    // lists it): a second entry of a name, or one outside the prefix folder.
    // The mount's tree skips the same entries (src/fs/tree.cc).
    if (e.shadowed) continue;
    std::string_view name = e.name;
    if (e.is_directory()) {
      while (name.ends_with('/')) name.remove_suffix(1);
      if (!name.empty()) {
        TreeDir& dir = dirs_[std::string(name)];  // an ancestor of an earlier record, maybe
        dir.attr = AttrOf(e);
        dir.entry = &e;
      }
    } else {
      // Central directories list names mostly in order: the hint makes each
      // such insert a comparison or two instead of a search from the root
      // (a wrong hint only costs that search; a duplicate is ignored as before).
      files_.emplace_hint(files_.end(), std::string(name), TreeFile{&e, 0, AttrOf(e)});
    }
    // Every folder in dirs_ has its ancestors there too: the climb stops at
    // the first known one, so a package of many records in few folders
    // builds its tree (at every mount) without a string per ancestor.
    for (std::string_view p = Parent(name); !p.empty() && !dirs_.contains(p); p = Parent(p))
      dirs_.emplace(std::string(p), TreeDir{});
  }
}

const TreeFile* RecordTree::FindFile(std::string_view path) const {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : &it->second;
}

const TreeDir* RecordTree::FindDir(std::string_view path) const {
  auto it = dirs_.find(path);
  return it == dirs_.end() ? nullptr : &it->second;
}

bool RecordTree::IsEmptyDir(std::string_view path) const {
  if (path.empty()) return files_.empty() && dirs_.size() == 1;
  const std::string prefix = ChildPrefix(path);
  auto f = files_.lower_bound(prefix);
  if (f != files_.end() && f->first.starts_with(prefix)) return false;
  auto d = dirs_.lower_bound(prefix);
  return d == dirs_.end() || !d->first.starts_with(prefix);
}

size_t RecordTree::CountSubdirs(std::string_view dir) const {
  std::vector<TreeChild> subdirs;
  CollectChildren(dirs_, ChildPrefix(dir), true, &subdirs);
  return subdirs.size();
}

std::vector<TreeChild> RecordTree::List(std::string_view dir) const {
  const std::string prefix = ChildPrefix(dir);
  std::vector<TreeChild> out;
  CollectChildren(dirs_, prefix, true, &out);
  CollectChildren(files_, prefix, false, &out);
  std::sort(out.begin(), out.end(),
            [](const TreeChild& a, const TreeChild& b) { return a.name < b.name; });
  return out;
}

int RecordTree::CheckParent(std::string_view path) const {
  for (size_t slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    const std::string_view ancestor = path.substr(0, slash);
    if (FindFile(ancestor)) return ENOTDIR;
    if (!FindDir(ancestor)) return ENOENT;
  }
  return 0;
}

int RecordTree::CheckCreate(std::string_view path) const {
  if (int err = CheckParent(path)) return err;
  return Exists(path) ? EEXIST : 0;
}

int RecordTree::CheckFileExists(std::string_view path) const {
  if (int err = CheckParent(path)) return err;
  if (FindDir(path)) return EISDIR;
  return FindFile(path) ? 0 : ENOENT;
}

int RecordTree::CheckUnlink(std::string_view path) const { return CheckFileExists(path); }

int RecordTree::CheckMkdir(std::string_view path) const { return CheckCreate(path); }

int RecordTree::CheckRmdir(std::string_view path) const {
  if (path.empty()) return EBUSY;
  if (int err = CheckParent(path)) return err;
  if (FindFile(path)) return ENOTDIR;
  if (!FindDir(path)) return ENOENT;
  return IsEmptyDir(path) ? 0 : ENOTEMPTY;
}

int RecordTree::CheckAttr(std::string_view path) const {
  if (path.empty()) return 0;
  if (int err = CheckParent(path)) return err;
  return Exists(path) ? 0 : ENOENT;
}

int RecordTree::CheckRename(std::string_view from, std::string_view to, bool no_replace) const {
  if (from.empty() || to.empty()) return EBUSY;
  if (int err = CheckParent(from)) return err;
  if (!Exists(from)) return ENOENT;
  if (int err = CheckParent(to)) return err;
  if (from == to) return 0;
  if (to.starts_with(from) && to[from.size()] == '/') return EINVAL;
  if (!Exists(to)) return 0;
  if (no_replace) return EEXIST;
  if (FindDir(from)) {
    if (FindFile(to)) return ENOTDIR;
    return IsEmptyDir(to) ? 0 : ENOTEMPTY;
  }
  return FindDir(to) ? EISDIR : 0;
}

void RecordTree::Create(std::string_view path, uint64_t journal_id, const TreeAttr& attr) {
  if (files_.emplace(std::string(path), TreeFile{nullptr, journal_id, attr}).second) Indexed(path);
}

std::vector<uint64_t> RecordTree::SetContent(std::string_view path, uint64_t journal_id) {
  TreeFile& file = files_.find(path)->second;
  std::vector<uint64_t> freed;
  if (file.journal_id != 0 && file.journal_id != journal_id) freed.push_back(file.journal_id);
  file.journal_id = journal_id;
  file.original = nullptr;
  file.patch_base = nullptr;
  // From now on the data file's own mtime tells when the content changed.
  file.attr.mtime.reset();
  return freed;
}

void RecordTree::RevertPatch(std::string_view path) {
  TreeFile& file = files_.find(path)->second;
  file.original = file.patch_base;
  file.patch_base = nullptr;
  file.journal_id = 0;
}

std::vector<uint64_t> RecordTree::SetPatch(std::string_view path, uint64_t journal_id) {
  TreeFile& file = files_.find(path)->second;
  std::vector<uint64_t> freed;
  if (file.patch_base && file.journal_id != journal_id) freed.push_back(file.journal_id);
  if (file.original) file.patch_base = file.original;
  file.original = nullptr;
  file.journal_id = journal_id;
  file.attr.mtime.reset();  // as SetContent: the data file's mtime from now on
  return freed;
}

void RecordTree::BuildCaseIndex() const {
  if (folded_) return;
  folded_.emplace();
  folded_->reserve(files_.size() + dirs_.size());
  for (const auto& [name, file] : files_) folded_->emplace(Folded(name), name);
  for (const auto& [name, dir] : dirs_) folded_->emplace(Folded(name), name);
}

std::optional<std::string> RecordTree::TwinOf(std::string_view path, bool is_dir,
                                              std::string_view moving) const {
  const auto [first, last] = folded_->equal_range(Folded(path));
  for (auto it = first; it != last; ++it) {
    const std::string& other = it->second;
    if (other == path) continue;
    if (!moving.empty() && other.starts_with(moving) &&
        (other.size() == moving.size() || other[moving.size()] == '/'))
      continue;
    if (is_dir && FindDir(other)) continue;  // two folders: no whole name collides
    return other;
  }
  return std::nullopt;
}

std::optional<std::string> RecordTree::CaseTwin(std::string_view path, bool is_dir) const {
  BuildCaseIndex();
  return TwinOf(path, is_dir, {});
}

std::optional<RecordTree::CaseClash> RecordTree::CaseTwinOfMove(std::string_view from,
                                                                std::string_view to) const {
  BuildCaseIndex();
  const bool is_dir = FindDir(from) != nullptr;
  if (std::optional<std::string> twin = TwinOf(to, is_dir, from))
    return CaseClash{std::string(to), std::move(*twin)};
  if (!is_dir) return std::nullopt;
  const std::string prefix = ChildPrefix(from);
  const std::string moved_prefix = ChildPrefix(to);
  const auto check_below = [&](const auto& map, bool dirs) -> std::optional<CaseClash> {
    for (auto it = map.lower_bound(prefix); it != map.end() && it->first.starts_with(prefix);
         ++it) {
      std::string moved = moved_prefix + it->first.substr(prefix.size());
      if (std::optional<std::string> twin = TwinOf(moved, dirs, from))
        return CaseClash{std::move(moved), std::move(*twin)};
    }
    return std::nullopt;
  };
  if (std::optional<CaseClash> clash = check_below(files_, false)) return clash;
  return check_below(dirs_, true);
}

void RecordTree::Indexed(std::string_view path) {
  if (folded_) folded_->emplace(Folded(path), std::string(path));
}

void RecordTree::Unindexed(std::string_view path) {
  if (!folded_) return;
  const auto [first, last] = folded_->equal_range(Folded(path));
  for (auto it = first; it != last; ++it) {
    if (it->second == path) {
      folded_->erase(it);
      return;
    }
  }
}

std::vector<uint64_t> RecordTree::Unlink(std::string_view path) {
  Unindexed(path);
  auto it = files_.find(path);
  std::vector<uint64_t> freed;
  if (it->second.journal_id != 0) freed.push_back(it->second.journal_id);
  files_.erase(it);
  return freed;
}

std::vector<uint64_t> RecordTree::Rename(std::string_view from, std::string_view to) {
  if (from == to) return {};
  std::vector<uint64_t> freed;
  if (auto it = files_.find(from); it != files_.end()) {
    TreeFile moved = it->second;
    files_.erase(it);
    Unindexed(from);
    if (auto old = files_.find(to); old != files_.end()) {
      if (old->second.journal_id != 0) freed.push_back(old->second.journal_id);
      files_.erase(old);
      Unindexed(to);
    }
    files_.emplace(std::string(to), moved);
    Indexed(to);
    return freed;
  }
  if (dirs_.erase(std::string(to))) Unindexed(to);  // an empty directory being replaced, if any
  MoveSubtree(std::string(from), std::string(to));
  return freed;
}

void RecordTree::MoveSubtree(const std::string& from, const std::string& to) {
  const std::string prefix = from + "/";
  auto rekey = [&](auto& map) {
    std::vector<std::string> keys;
    for (auto it = map.lower_bound(prefix); it != map.end() && it->first.starts_with(prefix); ++it)
      keys.push_back(it->first);
    if (map.count(from)) keys.push_back(from);
    for (const std::string& key : keys) {
      auto node = map.extract(key);
      node.key() = to + key.substr(from.size());
      Unindexed(key);
      Indexed(node.key());
      map.insert(std::move(node));
    }
  };
  rekey(dirs_);
  rekey(files_);
}

void RecordTree::Mkdir(std::string_view path, const TreeAttr& attr) {
  if (dirs_.emplace(std::string(path), TreeDir{attr, nullptr, /*made=*/true}).second) Indexed(path);
}

void RecordTree::Rmdir(std::string_view path) {
  if (dirs_.erase(std::string(path))) Unindexed(path);
}

TreeAttr* RecordTree::MutableAttr(std::string_view path) {
  if (auto it = files_.find(path); it != files_.end()) return &it->second.attr;
  return &dirs_.find(path)->second.attr;
}

void RecordTree::SetMode(std::string_view path, uint32_t mode) {
  MutableAttr(path)->mode = mode & 07777;
}

void RecordTree::SetMtime(std::string_view path, struct timespec mtime) {
  TreeAttr* attr = MutableAttr(path);
  attr->chosen_mtime = mtime;
  // An edited file's mtime is its data file's (Journal::SetMtime sets it).
  const TreeFile* file = FindFile(path);
  if (!file || file->journal_id == 0) attr->mtime = mtime;
}

void RecordTree::SetAtime(std::string_view path, struct timespec atime) {
  MutableAttr(path)->atime = atime;
}

void RecordTree::SetOwner(std::string_view path, std::optional<uint32_t> uid,
                          std::optional<uint32_t> gid) {
  TreeAttr* attr = MutableAttr(path);
  attr->uid = uid;
  attr->gid = gid;
}

void RecordTree::SetCtime(std::string_view path, struct timespec ctime) {
  if (Exists(path)) MutableAttr(path)->ctime = ctime;
}

void RecordTree::StampDir(std::string_view dir, struct timespec at) {
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return;
  it->second.attr.mtime = at;
  it->second.attr.ctime = at;
}

}  // namespace tpkg
