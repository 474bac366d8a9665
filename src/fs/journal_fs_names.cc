// JournalFsOps: the namespace (lookup, listing, mkdir, unlink, rmdir,
// rename) and the refusal of special files.
#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "journal_fs_ops_internal.h"

namespace tpkg::fs {
namespace {

// "a/b/c" -> "a/b"; "c" -> "" (the root).
std::string ParentPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// A generated file exists while its folder does (a package always has .data).
bool GeneratedFileVisible(const Journal& journal, const VirtualFiles& vf, const std::string& path) {
  if (!vf.SlotOf(path)) return false;
  const std::optional<JournalNode> dir = journal.Stat(ParentPath(path));
  return dir && dir->is_dir;
}

}  // namespace

int JournalFsOps::Lookup(InodeId parent, std::string_view name, struct stat* out) noexcept {
  return GuardFuseOp(
      "look up", [&] { return PathForLog(parent, name); },
      [&]() -> int {
        std::shared_lock ns(ns_mu_);
        const std::string path = ChildPath(parent, name);
        const bool generated = GeneratedFileVisible(journal_, virtual_files_, path);
        if (!generated) {
          if (ValidateRecordPath(path) != 0) return -ENOENT;
          if (!journal_.Stat(path)) return -ENOENT;
        }
        FillAttr(Intern(path), path, out);
        return 0;
      });
}

int JournalFsOps::OpenDir(InodeId ino) noexcept {
  return GuardFuseOp(
      "open", [&] { return PathForLog(ino); },
      [&]() -> int {
        std::shared_lock ns(ns_mu_);
        const std::optional<std::string> path = PathOf(ino);
        if (!path) return -ENOENT;
        const std::optional<JournalNode> node = journal_.Stat(*path);
        if (!node) return -ENOENT;
        return node->is_dir ? 0 : -ENOTDIR;
      });
}

int JournalFsOps::ReadDir(InodeId ino, int64_t offset, bool plus, const DirFiller& fill) noexcept {
  return GuardFuseOp(
      "list", [&] { return PathForLog(ino); },
      [&]() -> int {
        std::shared_lock ns(ns_mu_);
        const std::optional<std::string> dir = PathOf(ino);
        if (!dir) return -ENOENT;
        std::vector<JournalChild> children = journal_.List(*dir);
        for (size_t slot = 0; slot < virtual_files_.size(); ++slot) {
          const std::string& vpath = virtual_files_.path(slot);
          if (ParentPath(vpath) != *dir) continue;
          JournalChild child{vpath.substr(vpath.rfind('/') + 1), false};
          auto at = std::lower_bound(
              children.begin(), children.end(), child.name,
              [](const JournalChild& c, const std::string& n) { return c.name < n; });
          if (at == children.end() || at->name != child.name) children.insert(at, child);
        }
        const std::string parent_path = ParentPath(*dir);
        const InodeId parent = dir->empty() ? ino : Intern(parent_path);
        auto emit = [&](std::string_view name, const std::string& path, InodeId target, bool is_dir,
                        int64_t next) {
          const bool virt = virtual_files_.SlotOf(path).has_value();
          DirEntry e{name, {}, plus && (!virt || virtual_files_.IsGenerated()), next};
          if (e.attr_complete) {
            FillAttr(target, path, &e.attr);
          } else {
            e.attr.st_ino = target;
            e.attr.st_mode = is_dir ? S_IFDIR : S_IFREG;
          }
          return fill(e);
        };
        // Cookies: 0 -> ".", 1 -> "..", 2 + i -> children[i].
        for (int64_t pos = std::max<int64_t>(offset, 0);; ++pos) {
          bool taken;
          if (pos == 0) {
            taken = emit(".", *dir, ino, true, 1);
          } else if (pos == 1) {
            taken = emit("..", parent_path, parent, true, 2);
          } else if (static_cast<size_t>(pos - 2) < children.size()) {
            const JournalChild& c = children[static_cast<size_t>(pos - 2)];
            const std::string path = JoinPath(*dir, c.name);
            taken = emit(c.name, path, Intern(path), c.is_dir, pos + 1);
          } else {
            return 0;
          }
          if (!taken) return 0;
        }
      });
}

// One change of the name `name` in `parent`: under the exclusive namespace
// lock, `change(path)` returns 0 or -errno; a change that happened makes the
// generated files stale.
template <class Change>
int JournalFsOps::ChangeName(const char* verb, InodeId parent, std::string_view name,
                             Change&& change) noexcept {
  return GuardFuseOp(
      verb, [&] { return PathForLog(parent, name); },
      [&]() -> int {
        std::unique_lock ns(ns_mu_);
        const int rc = change(ChildPath(parent, name));
        if (rc == 0) Changed();
        return rc;
      });
}

int JournalFsOps::Mkdir(InodeId parent, std::string_view name, mode_t mode, struct stat* out,
                        std::optional<Caller> caller) noexcept {
  return ChangeName("make directory", parent, name, [&](const std::string& path) {
    if (virtual_files_.SlotOf(path)) return -EEXIST;
    journal_.Mkdir(path, mode & 07777, OwnerOf(caller));
    FillAttr(Intern(path), path, out);
    return 0;
  });
}

int JournalFsOps::Unlink(InodeId parent, std::string_view name) noexcept {
  return ChangeName("remove", parent, name, [&](const std::string& path) {
    if (virtual_files_.SlotOf(path)) RefuseGenerated(path, "remove");
    CaptureBeforeLosingName(path);
    journal_.Unlink(path);
    Forget(path);
    return 0;
  });
}

int JournalFsOps::Rmdir(InodeId parent, std::string_view name) noexcept {
  return ChangeName("remove directory", parent, name, [&](const std::string& path) {
    journal_.Rmdir(path);
    Forget(path);
    return 0;
  });
}

int JournalFsOps::Rename(InodeId parent, std::string_view name, InodeId new_parent,
                         std::string_view new_name, bool no_replace, bool exchange) noexcept {
  return GuardFuseOp(
      "rename", [&] { return PathForLog(parent, name); },
      [&]() -> int {
        if (exchange) return -EINVAL;  // the journal has no atomic exchange
        std::unique_lock ns(ns_mu_);
        const std::string from = ChildPath(parent, name);
        const std::string to = ChildPath(new_parent, new_name);
        if (virtual_files_.SlotOf(from)) RefuseGenerated(from, "rename");
        if (virtual_files_.HoldsGenerated(from)) {
          // Its generated files would go with it and stop being generated.
          TPKG_LOG(kWarning) << "Cannot rename '" << Describe(from)
                             << "': it holds files generated from the package's contents";
          return -EACCES;
        }
        if (virtual_files_.SlotOf(to)) RefuseGenerated(to, "replace");
        if (from != to) CaptureBeforeLosingName(to);
        journal_.Rename(from, to, no_replace);
        {
          std::lock_guard lock(table_mu_);
          inodes_.Rename(from, to);
        }
        Changed();
        return 0;
      });
}

int JournalFsOps::RefuseSpecialFile(const char* what, InodeId parent,
                                    std::string_view name) noexcept {
  return GuardFuseOp(
      "create", [&] { return PathForLog(parent, name); },
      [&]() -> int {
        TPKG_LOG(kWarning) << "Cannot create " << what << " '" << PathForLog(parent, name)
                           << "': a package holds only regular files and directories";
        return -EPERM;
      });
}

}  // namespace tpkg::fs
