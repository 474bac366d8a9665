#include "save_advice.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <memory>
#include <optional>

#include "tpkg/scoped_fd.h"

namespace tpkg::fs {
namespace {

// The path, in the folder of `archive`, of the file (`dev`, `ino`); nullopt
// when it has no name there.
std::optional<std::string> NameInFolder(const std::string& archive, dev_t dev, ino_t ino) {
  const size_t slash = archive.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : archive.substr(0, slash);
  const ScopedDir dir(::opendir(folder.empty() ? "/" : folder.c_str()));
  if (!dir) return std::nullopt;
  while (const dirent* entry = ::readdir(dir.get())) {
    if (entry->d_ino != ino) continue;  // readdir's inode is the file's on local file systems
    struct stat st;
    if (::fstatat(::dirfd(dir.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == dev && st.st_ino == ino)
      return folder + "/" + entry->d_name;
  }
  return std::nullopt;
}

}  // namespace

std::string KeptEditsAdvice(const Journal& journal, const std::optional<std::string>& kept_copy) {
  const std::string& archive = journal.archive_path();
  const std::string& kept = journal.directory();
  const std::string discard = "delete " + kept + " to discard them";
  if (journal.DirectoryDeleted()) {
    return "the edits are lost: their journal " + kept +
           " was deleted while the archive was mounted (by another program); " + archive +
           " is as it was before the mount";
  }
  const Journal::ArchiveNow now = journal.JudgeArchiveNow();
  if (now == Journal::ArchiveNow::kSameArchive) {
    return "the edits are kept in " + kept + ": mount " + archive +
           " again to fix them (the next unmount saves them), or " + discard;
  }
  if (now == Journal::ArchiveNow::kSaveCompleted) {
    return archive +
           " is the saved archive (the step that failed came after it was in "
           "place): the next mount of it removes " +
           kept;
  }
  // The file at `archive` is gone, or another archive now (a mount of it
  // would be read-only while the journal is there). The daemon's file may
  // live on.
  std::string put_back =
      "a copy of the archive they were made for (the same bytes: that file was "
      "deleted or rewritten)";
  struct stat opened;
  if (kept_copy) {
    put_back = *kept_copy + " (the archive they were made for, written there when the save failed)";
  } else if (::fstat(journal.original().fd(), &opened) == 0 && opened.st_nlink > 0) {
    const std::optional<std::string> name = NameInFolder(archive, opened.st_dev, opened.st_ino);
    if (!name) {
      put_back = "the archive they were made for (it has another name now, inode " +
                 std::to_string(opened.st_ino) + ")";
    } else if (*name != archive) {
      put_back = *name + " (the archive they were made for)";
    }
  }
  const std::string mount_again =
      ", then mount " + archive + " again (the next unmount saves them); or " + discard;
  if (now == Journal::ArchiveNow::kMissing) {
    return "the edits are kept in " + kept + ", but there is no " + archive +
           " any more; to keep them, put " + put_back + " back at " + archive + mount_again;
  }
  return "the edits are kept in " + kept + ", but " + archive +
         " is now another archive, which a mount shows read-only while they are there; to keep "
         "them, move " +
         archive + " aside and put " + put_back + " back at " + archive + mount_again +
         " and use " + archive + " as it is";
}

}  // namespace tpkg::fs
