// write_back.cc: WriteBack(), the atomic replacement of an archive by its
// edited version (rules in tpkg/write_back.h).
#include "tpkg/write_back.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>  // renameat2
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/background_fsync.h"
#include "base/file_util.h"
#include "journal/free_space.h"
#include "tpkg/background_thread.h"
#include "tpkg/counted.h"
#include "tpkg/error.h"
#include "tpkg/temp_file_cleanup.h"
#include "tpkg/zip_writer.h"
#include "zip/write_behind_sink.h"

namespace tpkg {
namespace {

// Removes the temp archive unless disarmed (after the rename), and says why
// if it could not, so that message joins the others. A signal that ends a
// program which asked for it removes it too (tpkg/temp_file_cleanup.h).
class TempFileGuard {
 public:
  // Made by mkostemp, which picks the name: registered and armed at once
  // after it, both under a TempFileSignalsHeld the caller holds.
  explicit TempFileGuard(std::string path)
      : path_(std::move(path)), cleanup_slot_(RegisterTempFile(path_)) {
    ArmTempFile(cleanup_slot_);
  }
  ~TempFileGuard() { Remove(); }
  void Disarm() {
    path_.clear();
    UnregisterTempFile(std::exchange(cleanup_slot_, kNoTempFileSlot));
  }
  // Returns "" or "; the temp file '<path>' could not be removed: <reason>".
  std::string Remove() {
    if (path_.empty()) return {};
    std::string problem;
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      const int err = errno;
      problem = "; the temp file '" + path_ + "' could not be removed: " + std::strerror(err);
    }
    Disarm();
    return problem;
  }

 private:
  std::string path_;
  size_t cleanup_slot_;
};

void WriteRecords(std::span<const PlannedRecord> records, const ZipReader& original,
                  const Journal& journal, ZipWriter& writer, WriteBackResult* result) {
  // Consecutive raw copies go together: the writer reads runs of small
  // records with one pread each.
  std::vector<RawRecordCopy> raw;
  const auto copy_raw = [&] {
    writer.CopyRawRecords(original, raw);
    result->raw_copied += raw.size();
    raw.clear();
  };
  for (const PlannedRecord& r : records) {
    if (r.source == PlannedRecord::Source::kRaw) {
      raw.push_back({r.entry, r.name.empty() ? std::string_view(r.entry->name) : r.name, r.attrs});
      continue;
    }
    if (!raw.empty()) copy_raw();
    switch (r.source) {
      case PlannedRecord::Source::kRaw:
        break;  // gathered above
      case PlannedRecord::Source::kJournal: {
        if (const std::shared_ptr<RecordPatch> patch = journal.FindPatch(r.name)) {
          // The archive's part must be what its CRC-32 says before it joins
          // bytes whose new CRC would vouch for it.
          patch->VerifyBase();
          writer.AddRecordFromSource(
              r.name, patch->size(),
              [&](uint64_t offset, std::span<char> out) {
                if (patch->Read(offset, out) != out.size())
                  throw Error(Errc::kIo, "'" + r.name + "' shrank while being saved");
              },
              r.attrs);
          ++result->from_journal;
          break;
        }
        ScopedFd fd = journal.OpenForRead(r.name);
        const uint64_t size = static_cast<uint64_t>(FstatOrThrow(fd.get(), r.name).st_size);
        writer.AddRecordFromFd(r.name, fd.get(), 0, size, r.attrs);
        ++result->from_journal;
        break;
      }
      case PlannedRecord::Source::kFolder:
        writer.AddDirectory(std::string_view(r.name).substr(0, r.name.size() - 1), r.attrs);
        ++result->folders;
        break;
      case PlannedRecord::Source::kRegenerated:
        writer.AddRecord(r.name, std::span<const char>(r.bytes->data(), r.bytes->size()));
        ++result->regenerated;
        break;
      case PlannedRecord::Source::kSerializationId:
        writer.AddSerializationId();
        ++result->regenerated;
        break;
    }
  }
  if (!raw.empty()) copy_raw();
}

// Runs PendingMetadata::regenerate beside the write (write_back.h); without
// one, the metadata is `expected`. The thread is joined before the task is
// destroyed, so whatever regenerate() uses must only outlive the task.
class MetadataTask {
 public:
  explicit MetadataTask(const PendingMetadata& metadata) : metadata_(metadata) {
    if (!metadata_.regenerate) {
      result_ = metadata_.expected;
      return;
    }
    try {
      thread_ = StartBackgroundThread([this] { Run(); });
    } catch (const std::system_error&) {
      Run();  // no thread: the analysis runs first, as it would without the overlap
    }
  }
  ~MetadataTask() { Join(); }
  MetadataTask(const MetadataTask&) = delete;
  MetadataTask& operator=(const MetadataTask&) = delete;

  // Waits for the metadata; rethrows what regenerate() threw.
  const RegeneratedRecords& Get() {
    RethrowIfFailed();
    return result_;
  }
  // Waits for regenerate() and rethrows what it threw, if anything.
  void RethrowIfFailed() {
    Join();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void Run() noexcept {
    try {
      result_ = metadata_.regenerate();
    } catch (...) {
      error_ = std::current_exception();
    }
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  const PendingMetadata& metadata_;
  RegeneratedRecords result_;
  std::exception_ptr error_;
  std::thread thread_;
};

bool SamePlannedRecord(const PlannedRecord& a, const PlannedRecord& b) {
  const bool same_bytes = a.bytes == b.bytes || (a.bytes && b.bytes && *a.bytes == *b.bytes);
  return a.name == b.name && a.source == b.source && a.entry == b.entry && same_bytes &&
         a.attrs == b.attrs;
}

// True when `plan` starts with the first `count` records of `written`.
bool StartsWith(const WritePlan& plan, const WritePlan& written, size_t count) {
  return plan.records.size() >= count &&
         std::equal(written.records.begin(),
                    written.records.begin() + static_cast<std::ptrdiff_t>(count),
                    plan.records.begin(), SamePlannedRecord);
}

// The new archive gets the owner, group and permission bits of the one it
// replaces, as far as this process may give them: a user who may not (not
// root, or not in the archive's group) still saves, with the owner or group
// it can give and a warning naming what changed. When the group could not be
// kept, the group bits grant no more than the "other" bits, so the saver's
// own group never gains access the archive did not give it.
void KeepModeAndOwner(int fd, const std::string& archive, const ZipReader& original,
                      const std::string& temp, std::vector<std::string>* warnings) {
  struct stat st;
  if (::stat(archive.c_str(), &st) != 0) {
    const int err = errno;
    if (err != ENOENT) ThrowSystemError("Cannot stat '" + archive + "'", err);
    st = FstatOrThrow(original.fd(), archive);  // deleted while mounted: the opened file's
  }
  struct stat now = FstatOrThrow(fd, temp);
  if ((now.st_uid != st.st_uid || now.st_gid != st.st_gid) &&
      ::fchown(fd, st.st_uid, st.st_gid) != 0) {
    const int err = errno;
    if (err != EPERM)
      ThrowSystemError("Cannot give '" + temp + "' the owner of '" + archive + "'", err);
    // Keep each one alone if possible (a non-root user may pick one of
    // their own groups, never another owner).
    if (now.st_gid != st.st_gid) (void)::fchown(fd, static_cast<uid_t>(-1), st.st_gid);
    if (now.st_uid != st.st_uid) (void)::fchown(fd, st.st_uid, static_cast<gid_t>(-1));
  }
  now = FstatOrThrow(fd, temp);
  mode_t mode = st.st_mode & 07777;
  if (now.st_uid != st.st_uid) {
    warnings->push_back("'" + archive + "' now belongs to user " + std::to_string(now.st_uid) +
                        " instead of " + std::to_string(st.st_uid) +
                        " (only root can give a file to another user)");
  }
  if (now.st_gid != st.st_gid) {
    mode = (mode & ~static_cast<mode_t>(S_IRWXG | S_ISGID)) |
           (((mode & S_IRWXO) << 3) & mode & S_IRWXG);
    warnings->push_back("'" + archive + "' now belongs to group " + std::to_string(now.st_gid) +
                        " instead of " + std::to_string(st.st_gid) +
                        " (the saver is not in that group); its group permissions are no more "
                        "than everybody's");
  }
  if (::fchmod(fd, mode) != 0) {
    const int err = errno;
    ThrowSystemError("Cannot chmod '" + temp + "'", err);
  }
}

// Renames `temp` to `archive`, where no file may be: a file that appeared
// there after the archive was deleted is someone's, never replaced.
void PutBack(const std::string& temp, const std::string& archive) {
  if (RenameNoReplace(temp, archive)) return;
  throw Error(Errc::kIo,
              "'" + archive +
                  "' was deleted while it was mounted and another file took its place; "
                  "saving would overwrite that file",
              ESTALE);
}

void Stage(const WriteBackOptions& options, WriteBackStage stage) {
  if (options.on_stage) options.on_stage(stage);
}

// Puts the finished `temp` at `archive` without ever overwriting a file
// another program put there after the save's last check: the two names are
// exchanged in one step and the file taken off the path is judged then
// (Journal::CheckDisplacedArchive); one that is not the archive the edits
// were made for goes back at once, and the save fails. Returns true when
// `temp` now names the replaced archive, to be removed once the new one is
// in place. A deleted archive is put back (PutBack), with a warning; a file
// system without RENAME_EXCHANGE gets the check and a plain rename.
//
// Disarms `guard` first: a signal's cleanup removes whatever the name
// names, which after the exchange is not the temp file. Removes `temp` itself
// when it throws while `temp` is still ours.
bool ReplaceArchive(Journal& journal, const std::string& temp, const std::string& archive,
                    TempFileGuard& guard, const WriteBackOptions& options,
                    std::vector<std::string>* warnings) {
  guard.Disarm();
  bool temp_is_ours = true;
  try {
    for (int attempt = 0;; ++attempt) {
      switch (ExchangeNames(temp, archive)) {
        case Exchange::kExchanged:
          temp_is_ours = false;
          Stage(options, WriteBackStage::kExchanged);
          try {
            journal.CheckDisplacedArchive(temp);
            return true;
          } catch (const std::exception&) {
            if (ExchangeNames(temp, archive) != Exchange::kExchanged) {
              throw Error(Errc::kIo,
                          "'" + archive +
                              "' was changed by another program while it was saved, and that "
                              "file could not be put back: it is at '" +
                              temp + "', the saved package at '" + archive + "'",
                          ESTALE);
            }
            temp_is_ours = true;
            FsyncDirectory(DirName(archive));  // theirs back for good, even after a power loss
            throw;
          }
        case Exchange::kUnsupported:
          if (journal.CheckArchiveUnchanged() == Journal::ArchiveAtPath::kUnchanged) {
            if (::rename(temp.c_str(), archive.c_str()) != 0) {
              const int err = errno;
              ThrowSystemError("Cannot rename '" + temp + "' to '" + archive + "'", err);
            }
            return false;
          }
          break;  // deleted
        case Exchange::kMissing:
          if (::access(temp.c_str(), F_OK) != 0) {  // not the archive: our own file went
            const int err = errno;
            ThrowSystemError("Cannot rename '" + temp + "' to '" + archive + "'", err);
          }
          // Deleted (put back below), moved away (throws), or back by now.
          if (journal.CheckArchiveUnchanged() == Journal::ArchiveAtPath::kDeleted) break;
          if (attempt < 3) continue;
          throw Error(Errc::kIo, "'" + archive + "' kept disappearing while it was saved", ESTALE);
      }
      PutBack(temp, archive);
      warnings->push_back("'" + archive +
                          "' was deleted while it was mounted: the save put the package, "
                          "with the edits, back at its path (delete it to discard them)");
      return false;
    }
  } catch (...) {
    if (temp_is_ours) ::unlink(temp.c_str());
    throw;
  }
}

// The records `plan` copied raw, by where their bytes were in the archive as
// opened and are in `written` (the saved archive read back).
std::vector<CarriedRecord> CarriedRecords(const WritePlan& plan, const ZipReader& written) {
  std::vector<CarriedRecord> out;
  for (const PlannedRecord& r : plan.records) {
    if (r.source != PlannedRecord::Source::kRaw) continue;
    const ZipEntry* now = written.Find(r.name.empty() ? r.entry->name : r.name);
    if (now) out.push_back({RecordContentId::Of(*r.entry), RecordContentId::Of(*now)});
  }
  return out;
}

// A writer of a new archive into `fd` (a new, empty file), with the
// original's prefix folder.
ZipWriter WriterInto(int fd, const std::string& path, const ZipReader& original) {
  return ZipWriter::ToSink(std::make_unique<WriteBehindSink>(fd, path), original.prefix());
}

// Writes, checks and renames the new archive: the records of `guess` (the
// plan for the metadata `planned_with`) that no metadata can change while
// `task` computes it, then the rest of the plan for what it computed
// (write_back.h PendingMetadata). Returns false, with nothing saved, when
// that plan changes nothing after all. Throws on any failure with the temp
// file removed.
bool SaveAtomically(const WritePlan& guess, const RegeneratedRecords& planned_with,
                    MetadataTask& task, Journal& journal, const WriteBackOptions& options,
                    WriteBackResult* result) {
  const ZipReader& original = journal.original();
  const std::string& archive = journal.archive_path();
  Journal::SaveFile save = journal.CreateSaveFile();
  TempFileGuard guard(save.path);
  bool displaced = false;  // save.path names the replaced archive
  try {
    std::optional<ZipWriter> writer(WriterInto(save.fd.get(), save.path, original));
    const size_t ahead = guess.before_metadata;
    WriteRecords(std::span<const PlannedRecord>(guess.records).first(ahead), original, journal,
                 *writer, result);
    // On disk while the analysis ends: the last fsync then commits only the rest.
    BackgroundFsync early(save.fd.get(), save.path,
                          options.early_fsync ? options.early_fsync : ::fsync);
    const RegeneratedRecords& metadata = task.Get();
    const bool guessed_right = metadata == planned_with;
    const WritePlan replanned = guessed_right ? WritePlan{} : PlanWriteBack(journal, metadata);
    const WritePlan& plan = guessed_right ? guess : replanned;
    if (!plan.changed) return false;  // save.tmp goes with the guard
    size_t kept = ahead;
    if (!StartsWith(plan, guess, ahead)) {
      // The metadata changed a record already written: start again.
      if (::ftruncate(save.fd.get(), 0) != 0 || ::lseek(save.fd.get(), 0, SEEK_SET) != 0) {
        const int err = errno;
        ThrowSystemError("Cannot truncate '" + save.path + "'", err);
      }
      *result = WriteBackResult{};
      writer.emplace(WriterInto(save.fd.get(), save.path, original));
      kept = 0;
    }
    WriteRecords(std::span<const PlannedRecord>(plan.records).subspan(kept), original, journal,
                 *writer, result);
    result->size = writer->Finish();
    writer.reset();  // its write-behind thread joined: nothing more to start
    KeepModeAndOwner(save.fd.get(), archive, original, save.path, &result->warnings);
    // Read back while the disk writes: the strict reader sees the same bytes
    // before the fsync as after it, and the two no longer add up.
    StartWriteback(save.fd.get());
    const ZipReader written = ZipReader::Open(save.path);  // strict: torch must be able to read it
    early.Finish();
    FsyncOrThrow(save.fd.get(), save.path);
    Stage(options, WriteBackStage::kTempWritten);
    if (options.validate) options.validate(save.path);
    journal.CheckArchiveUnchanged();  // refused before the commit entry, in the common case
    journal.MarkCommitting(written);
    Stage(options, WriteBackStage::kCommitted);
    const std::optional<FileStamp> replaced = TrustedStampOf(original.fd());
    displaced = ReplaceArchive(journal, save.path, archive, guard, options, &result->warnings);
    guard.Disarm();
    // After the rename, which sets the file's ctime: the stamp the next
    // open of the archive sees.
    const std::optional<FileStamp> saved = TrustedStampOf(save.fd.get());
    try {
      if (replaced && saved) {
        std::vector<std::string> names;
        names.reserve(written.entries().size());
        for (const ZipEntry& e : written.entries()) names.push_back(e.name);
        result->saved_archive =
            SavedArchive{*replaced, *saved, CarriedRecords(plan, written), std::move(names)};
      }
    } catch (const std::exception&) {  // out of memory: the next mount reads every source
    }
  } catch (const Error& e) {
    const std::string cleanup = guard.Remove();
    throw Error(e.code(), e.what() + cleanup, e.sys_errno());
  }
  Stage(options, WriteBackStage::kRenamed);
  // The replaced archive, now in the journal folder (a crash before this
  // leaves it to the next open's removal of the completed journal).
  if (displaced) ::unlink(save.path.c_str());
  FsyncDirectory(DirName(archive));
  return true;
}

std::string Counts(const WriteBackResult& r) {
  return Counted(r.from_journal, "record", "records") + " from the journal, " +
         std::to_string(r.regenerated) + " regenerated, " + std::to_string(r.raw_copied) +
         " copied raw, " +
         (r.folders ? Counted(r.folders, "folder entry", "folder entries") + ", " : std::string()) +
         Counted(r.size, "byte", "bytes");
}

// The warnings of a written save, in the result and at the end of its summary:
// what the save itself noted, then the entries and the emptied folders it left
// out (LeftOutEntries, LeftOutEmptiedFolders).
void AddWarnings(const Journal& journal, WriteBackResult* result) {
  if (std::string left_out = LeftOutEntries(journal.original()); !left_out.empty())
    result->warnings.push_back(std::move(left_out));
  if (std::string emptied = LeftOutEmptiedFolders(journal); !emptied.empty())
    result->warnings.push_back(std::move(emptied));
  if (std::string root = LeftOutRootAttributes(journal); !root.empty())
    result->warnings.push_back(std::move(root));
  for (const std::string& warning : result->warnings) result->summary += "; warning: " + warning;
}

std::string Summary(const std::string& archive, const WriteBackResult& r) {
  return "saved " + archive + ": " + Counts(r);
}

// The journal's own files come and go with it (its next open removes what
// it does not know): a copy written inside would be lost.
void RefuseInsideJournal(const Journal& journal, const std::string& out) {
  char* folder = ::realpath(DirName(out).c_str(), nullptr);
  char* journal_dir = ::realpath(journal.directory().c_str(), nullptr);
  const std::string at = folder ? folder : "", inside = journal_dir ? journal_dir : "";
  std::free(folder);
  std::free(journal_dir);
  if (!at.empty() && !inside.empty() && (at == inside || at.starts_with(inside + "/"))) {
    throw Error(Errc::kInvalidArgument,
                "'" + out + "' is inside the journal " + journal.directory() +
                    ", whose next open would remove it",
                EINVAL);
  }
}

void RefuseExisting(const std::string& out) {
  struct stat st {};
  if (::lstat(out.c_str(), &st) == 0) {
    throw Error(Errc::kExists, "'" + out + "' exists (never overwritten)", EEXIST);
  }
  if (errno != ENOENT) {
    const int err = errno;
    ThrowSystemError("Cannot stat '" + out + "'", err);
  }
}

// A new temp file beside `out`, readable and writable by the caller only
// until it gets the archive's permission bits.
ScopedFd CreateTempBeside(const std::string& out, std::string& temp) {
  temp = out + ".tpkg-XXXXXX";
  ScopedFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    ThrowSystemError("Cannot create a temp file beside '" + out + "'", err);
  }
  return fd;
}

void WriteCopy(const WritePlan& plan, const Journal& journal, const std::string& out,
               const WriteBackOptions& options, WriteBackResult* result) {
  const ZipReader& original = journal.original();
  std::string temp;
  std::optional<TempFileSignalsHeld> held(std::in_place);  // until the guard knows the file
  ScopedFd fd = CreateTempBeside(out, temp);
  TempFileGuard guard(temp);
  held.reset();
  try {
    result->size = [&] {  // the writer (and its write-behind thread) gone before the checks
      ZipWriter writer = WriterInto(fd.get(), temp, original);
      WriteRecords(plan.records, original, journal, writer, result);
      return writer.Finish();
    }();
    const mode_t mode = FstatOrThrow(original.fd(), journal.archive_path()).st_mode & 0777;
    if (::fchmod(fd.get(), mode) != 0) {
      const int err = errno;
      ThrowSystemError("Cannot chmod '" + temp + "'", err);
    }
    StartWriteback(fd.get());  // read back while the disk writes
    ZipReader::Open(temp);     // strict: torch must be able to read it
    FsyncOrThrow(fd.get(), temp);
    if (options.validate) options.validate(temp);
    if (::link(temp.c_str(), out.c_str()) != 0) {  // fails rather than replace a new `out`
      const int err = errno;
      ThrowSystemError("Cannot link '" + temp + "' to '" + out + "'", err);
    }
  } catch (const Error& e) {
    const std::string cleanup = guard.Remove();
    throw Error(e.code(), e.what() + cleanup, e.sys_errno());
  }
  (void)guard.Remove();
  FsyncDirectory(DirName(out));
}

}  // namespace

WriteBackResult WriteBack(Journal& journal, const RegeneratedRecords& metadata,
                          const WriteBackOptions& options) {
  return WriteBackPending(journal, PendingMetadata{metadata, nullptr}, options);
}

WriteBackResult WriteBackPending(Journal& journal, const PendingMetadata& metadata,
                                 const WriteBackOptions& options) {
  const std::string archive = journal.archive_path();
  WriteBackResult result;
  std::optional<MetadataTask> task;  // joined before `metadata` goes
  try {
    // Checked first (the raw copies read the archive) and again just before
    // the rename (the copy takes time). Without edits there is nothing to
    // protect and nothing to refuse.
    if (journal.dirty()) {
      journal.CheckArchiveUnchanged();
      task.emplace(metadata);
      WritePlan guess = PlanWriteBack(journal, metadata.expected);
      const RegeneratedRecords* planned_with = &metadata.expected;
      if (!guess.changed) {
        // Nothing to write ahead. The computed metadata decides: an edit of
        // the very record it regenerates shows only in its plan (and a
        // failed analysis still refuses the save).
        const RegeneratedRecords& computed = task->Get();
        if (computed != metadata.expected) {
          guess = PlanWriteBack(journal, computed);
          planned_with = &computed;
        }
      }
      if (guess.changed) {
        if (options.check_free_space)
          CheckFreeSpace(EstimateSaveSize(guess, journal), journal.directory());
        result.written = SaveAtomically(guess, *planned_with, *task, journal, options, &result);
      }
    }
    if (!result.written) {
      result.summary = "no changes; " + archive + " left untouched";
      if (std::string root = LeftOutRootAttributes(journal); !root.empty()) {
        result.summary += "; warning: " + root;
        result.warnings.push_back(std::move(root));
      }
      journal.Drop();
      return result;
    }
  } catch (const Error& e) {
    // The analysis's own Error, as it is, comes first (write_back.h).
    if (task) task->RethrowIfFailed();
    throw Error(e.code(), "Cannot save " + archive + ": " + e.what(), e.sys_errno());
  }
  result.summary = Summary(archive, result);
  AddWarnings(journal, &result);
  try {
    journal.DropSaved();
  } catch (const Error& e) {
    // The archive is saved; the leftover journal names it as committed and
    // the next OpenOrCreate removes it.
    result.summary += "; the journal could not be removed yet: " + std::string(e.what());
  }
  return result;
}

WriteBackResult WriteBackTo(const Journal& journal, const std::string& out,
                            const RegeneratedRecords& metadata, const WriteBackOptions& options) {
  const std::string archive = journal.archive_path();
  WriteBackResult result;
  try {
    RefuseExisting(out);
    RefuseInsideJournal(journal, out);
    journal.CheckArchiveUnchanged();  // the raw copies read the archive
    const WritePlan plan = PlanWriteBack(journal, metadata);
    if (options.check_free_space)
      CheckFreeSpace(EstimateSaveSize(plan, journal), DirName(out));
    WriteCopy(plan, journal, out, options, &result);
  } catch (const Error& e) {
    throw Error(e.code(), "Cannot save the edits of " + archive + " to " + out + ": " + e.what(),
                e.sys_errno());
  }
  result.written = true;
  result.summary = "saved the edits of " + archive + " to " + out + ": " + Counts(result) +
                   "; " + archive + " and its pending edits are unchanged";
  AddWarnings(journal, &result);
  return result;
}

}  // namespace tpkg
