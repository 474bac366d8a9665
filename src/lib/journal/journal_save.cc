// journal_save.cc: what tpkg::Journal offers a write-back (write_back.h):
// the temp file of the next archive, the check that nobody else changed the
// archive, and the commit mark.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

#include "base/file_util.h"
#include "journal/journal_impl.h"
#include "tpkg/error.h"
#include "tpkg/journal.h"
#include "tpkg/scoped_fd.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

Journal::SaveFile Journal::CreateSaveFile() {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  impl_->EnsureCreated();
  ::unlinkat(impl_->dir_fd.get(), kSaveTempName, 0);
  const std::string path = impl_->dir + "/" + kSaveTempName;
  return SaveFile{
      OpenAtOrThrow(impl_->dir_fd.get(), kSaveTempName, O_RDWR | O_CREAT | O_EXCL, 0600, path),
      path};
}

namespace {

// The identity of the archive now at `path`, as the journal's Open() reads it;
// throws when it cannot be read as an archive.
ArchiveIdentity IdentityAt(const std::string& path) {
  return ArchiveIdentity::Of(ZipReader::Open(path, {.defer_record_checks = true}));
}

// The identity of the archive the edits were made for, its digest computed
// now when the journal's first change has not needed it yet.
ArchiveIdentity MadeFor(const JournalState& impl) {
  ArchiveIdentity made_for = impl.identity;
  if (made_for.digest == 0) made_for.digest = ArchiveIdentity::DigestOf(impl.zip);
  return made_for;
}

}  // namespace

namespace {

// Throws (kIo, ESTALE) unless `now`, the stat of the file at `path`, is the
// archive the journal opened, by the rule of Journal::CheckArchiveUnchanged.
void ThrowUnlessOpenedArchive(const JournalState& impl, const std::string& path,
                              const struct stat& now, const struct stat& opened) {
  const ArchiveIdentity& at_open = impl.identity;
  const bool same = now.st_dev == opened.st_dev && now.st_ino == opened.st_ino &&
                    static_cast<uint64_t>(now.st_size) == at_open.size &&
                    now.st_mtim.tv_sec == at_open.mtime_sec &&
                    now.st_mtim.tv_nsec == at_open.mtime_nsec;
  if (same) return;
  try {
    if (MadeFor(impl).SameArchive(IdentityAt(path))) return;
  } catch (const std::exception&) {  // not an archive any more: changed
  }
  ArchiveIdentity then = at_open, seen = at_open;
  seen.size = static_cast<uint64_t>(now.st_size);
  seen.mtime_sec = now.st_mtim.tv_sec;
  seen.mtime_nsec = now.st_mtim.tv_nsec;
  throw Error(Errc::kIo,
              "'" + impl.archive_path + "' was changed by another program while it was mounted (" +
                  (now.st_ino != opened.st_ino ? std::string("replaced by another file; ") : "") +
                  "its records differ; " + "when opened: " + then.Describe(false) +
                  "; now: " + seen.Describe(false) + "); saving would overwrite that change",
              ESTALE);
}

}  // namespace

Journal::ArchiveAtPath Journal::CheckArchiveUnchanged() const {
  std::lock_guard lock(impl_->mu);
  const struct stat opened = FstatOrThrow(impl_->zip.fd(), impl_->archive_path);
  struct stat now;
  if (::stat(impl_->archive_path.c_str(), &now) != 0) {
    const int err = errno;
    if (err == ENOENT && opened.st_nlink == 0) return ArchiveAtPath::kDeleted;
    ThrowSystemError("Cannot stat '" + impl_->archive_path + "'", err);
  }
  ThrowUnlessOpenedArchive(*impl_, impl_->archive_path, now, opened);
  return ArchiveAtPath::kUnchanged;
}

void Journal::CheckDisplacedArchive(const std::string& path) const {
  std::lock_guard lock(impl_->mu);
  const struct stat opened = FstatOrThrow(impl_->zip.fd(), impl_->archive_path);
  struct stat now;
  if (::stat(path.c_str(), &now) != 0) {
    const int err = errno;
    ThrowSystemError("Cannot stat '" + path + "'", err);
  }
  ThrowUnlessOpenedArchive(*impl_, path, now, opened);
}

std::optional<std::string> Journal::KeepDeletedArchive() {
  std::lock_guard lock(impl_->mu);
  const std::string& archive = impl_->archive_path;
  const struct stat opened = FstatOrThrow(impl_->zip.fd(), archive);
  if (opened.st_nlink != 0) return std::nullopt;
  std::string temp = archive + ".tpkgfs-XXXXXX";
  const ScopedFd out(::mkostemp(temp.data(), O_CLOEXEC));
  if (!out.valid()) {
    const int err = errno;
    ThrowSystemError("Cannot create a temp file beside '" + archive + "'", err);
  }
  try {
    CopyRange(impl_->zip.fd(), 0, out.get(), 0, static_cast<uint64_t>(opened.st_size), archive);
    if (::fchmod(out.get(), opened.st_mode & 07777) != 0) {
      const int err = errno;
      ThrowSystemError("Cannot chmod '" + temp + "'", err);
    }
    FsyncOrThrow(out.get(), temp);
    std::optional<std::string> to;
    if (RenameNoReplace(temp, archive))
      to = archive;
    else
      to = RenameToFreeName(temp, archive + ".tpkgfs-original");
    if (!to)
      throw Error(Errc::kExists, "'" + archive + ".tpkgfs-original' and 99 more are taken", EEXIST);
    FsyncDirectory(DirName(archive));
    return to;
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

Journal::ArchiveNow Journal::JudgeArchiveNow() const {
  std::lock_guard lock(impl_->mu);
  try {
    // With edits pending (has_archive_changes): never dropped as empty.
    switch (
        FateOfJournal(MadeFor(*impl_), impl_->last_commit, true, IdentityAt(impl_->archive_path))) {
      case JournalFate::kTakeEdits: return ArchiveNow::kSameArchive;
      case JournalFate::kSaveCompleted: return ArchiveNow::kSaveCompleted;
      case JournalFate::kDropEmpty:
      case JournalFate::kAnotherArchive: return ArchiveNow::kAnotherArchive;
    }
  } catch (const Error& e) {
    if (e.code() == Errc::kNotFound) return ArchiveNow::kMissing;
  } catch (const std::exception&) {  // out of memory on a hostile file: not ours either way
  }
  return ArchiveNow::kAnotherArchive;
}

void Journal::MarkCommitting(const ZipReader& new_archive) {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  impl_->EnsureCreated();
  const ArchiveIdentity committed = ArchiveIdentity::Of(new_archive);
  impl_->log->Append(IdentityEntry(LogOp::kCommit, committed));
  impl_->last_commit = committed;
}

bool Journal::CommitNamesNewIdentity() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last_commit && !impl_->last_commit->SameArchive(impl_->identity);
}

}  // namespace tpkg
