#include "save_edits.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "archive_lock.h"
#include "log.h"
#include "save_advice.h"
#include "tpkg/error.h"
#include "tpkg/journal_records.h"
#include "tpkg/metadata.h"
#include "tpkg/save_log.h"
#include "tpkg/write_back.h"
#include "virtual_files.h"

namespace tpkg::fs {
namespace {

// Whether the entry is in the save log.
bool Record(SaveLogEntry& entry) {
  entry.time = SaveLogTimeNow();
  entry.pid = ::getpid();
  struct stat st {};
  const mode_t mode = ::stat(entry.archive.c_str(), &st) == 0 ? (st.st_mode & 0666) : 0644;
  try {
    AppendToSaveLog(SaveLogPathFor(entry.archive), entry, {.mode = mode, .sync = true});
    return true;
  } catch (const Error& e) {
    TPKG_LOG(kWarning) << "the outcome of the save could not be logged: " << e.what();
    return false;
  }
}

// SaveMetadata, with what the cache saved it logged.
RegeneratedRecords AnalyseForSave(const Journal& journal, std::vector<std::string>& notes,
                                  const std::shared_ptr<RecordAnalysisCache>& cache) {
  const uint64_t hits_before = cache ? cache->hits() : 0;
  const uint64_t misses_before = cache ? cache->misses() : 0;
  const uint64_t disk_before = cache ? cache->disk_hits() : 0;
  const uint64_t known_before = cache ? cache->digests_known() : 0;
  const auto started = std::chrono::steady_clock::now();
  RegeneratedRecords metadata = SaveMetadata(journal, notes, cache);
  if (cache) {
    const uint64_t from_disk = cache->disk_hits() - disk_before;
    const uint64_t missed = cache->misses() - misses_before;  // found on disk or scanned
    TPKG_LOG(kDebug) << "analysis for the save: " << cache->hits() - hits_before
                     << " records reused, " << from_disk << " sources found in the disk cache ("
                     << cache->digests_known() - known_before
                     << " known by their place in the archive file, not read), "
                     << (missed > from_disk ? missed - from_disk : 0)
                     << " scanned (edited or not analysed before), "
                     << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                                  started)
                            .count()
                     << " ms";
  }
  return metadata;
}

}  // namespace

int SaveEdits(Journal& journal, std::shared_ptr<RecordAnalysisCache> cache,
              const std::function<void(const SaveLogEntry&)>& unlogged) noexcept {
  const std::string archive = journal.archive_path();
  SaveLogEntry entry{.kind = SaveLogKind::kUnchanged, .archive = archive, .details = {}};
  int status = 0;
  // The notes go to the log and to the save log alike: a daemon in the
  // background has no terminal, and the save log is what `tpkgfs -u` and
  // the user read. Filled by the analysis's thread (joined before they are read).
  std::vector<std::string> notes;
  try {
    if (!journal.dirty()) {
      journal.Drop();
      TPKG_LOG(kDebug) << archive << ": nothing changed, the archive was not touched";
      entry.details = {"no changes; " + archive + " left untouched"};
    } else {
      // The analysis runs beside the write-back's copy (write_back.h
      // PendingMetadata); its log lines come from its own thread.
      const PendingMetadata metadata{.expected = ExpectedSaveMetadata(journal),
                                     .regenerate = [&journal, &notes, &cache] {
                                       return AnalyseForSave(journal, notes, cache);
                                     }};
      ScopedFd saved_lock;  // held until the journal is dropped (WriteBack returns)
      WriteBackOptions options;
      options.validate = [&saved_lock](const std::string& temp) {
        saved_lock = LockSavedArchive(temp);
      };
      const auto started = std::chrono::steady_clock::now();
      const WriteBackResult result = WriteBackPending(journal, metadata, options);
      // The next mount of the saved archive reads only the sources the save wrote anew.
      if (cache && result.saved_archive) cache->RememberSavedArchive(*result.saved_archive);
      TPKG_LOG(kDebug) << "save (analysis and write-back): "
                       << std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - started)
                              .count()
                       << " ms";
      for (const std::string& note : notes) TPKG_LOG(kInfo) << note;
      TPKG_LOG(kInfo) << result.summary;
      entry.kind = result.written ? SaveLogKind::kSaved : SaveLogKind::kUnchanged;
      entry.details = {result.summary};
      if (result.written) entry.details.insert(entry.details.end(), notes.begin(), notes.end());
    }
  } catch (const std::exception& e) {
    // An archive deleted while mounted lives on only in the daemon's open
    // file, which goes when it exits: written back first, so that the edits
    // the journal keeps still have the archive they were made for.
    std::string kept_note;
    std::optional<std::string> kept_copy;
    try {
      // (Not after a save whose rename was done, which also leaves the
      // opened file without a name: a step after it failed.)
      const std::optional<std::string> kept =
          journal.JudgeArchiveNow() == Journal::ArchiveNow::kSaveCompleted
              ? std::nullopt
              : journal.KeepDeletedArchive();
      if (kept) {
        kept_note = "'" + journal.archive_path() +
                    "' was deleted while it was mounted; the archive as it was is now at " + *kept;
        if (*kept != journal.archive_path()) kept_copy = kept;
      }
    } catch (const std::exception& keep) {
      kept_note = "'" + journal.archive_path() +
                  "' was deleted while it was mounted, and the archive as it was could not be "
                  "written back: " +
                  keep.what();
    }
    std::string advice;
    try {
      advice = KeptEditsAdvice(journal, kept_copy);
    } catch (const std::exception&) {  // no memory for it: the plain advice
      advice = "the edits are kept in " + journal.directory();
    }
    if (!kept_note.empty()) TPKG_LOG(kError) << kept_note;
    for (const std::string& note : notes) TPKG_LOG(kInfo) << note;
    TPKG_LOG(kError) << e.what();
    TPKG_LOG(kError) << advice;
    entry.kind = SaveLogKind::kFailed;
    entry.details = SplitLines(e.what());
    if (!kept_note.empty()) entry.details.push_back(kept_note);
    entry.details.push_back(advice);
    status = 1;
  }
  if (!Record(entry) && unlogged) unlogged(entry);
  return status;
}

}  // namespace tpkg::fs
