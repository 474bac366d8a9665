// journal_records.h: the current contents of a journal (a read/write mount's
// edits over its archive) as a
// metadata RecordSource (tpkg/metadata.h), for the regenerated
// `.data/extern_modules` and `.data/deps.dot` and for the check before a save.
//
//   JournalRecords records(journal);
//   tpkg::Metadata m = tpkg::RegenerateMetadata(records, options);
//
// Record order is the order the next write-back will write, folder entries
// ("dir/", empty) included
// (tpkg::WriteBackOrder, whose rules write_back.h states). The exporter graph
// is rebuilt in record order, so this keeps the virtual files equal to what
// the saved archive will hold. Paths not in the journal (the
// generated `.data/deps.dot`) are never records.
//
// Thread safety: const methods only; the Journal serializes its own calls,
// so several threads may read through one JournalRecords.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tpkg/journal.h"
#include "tpkg/metadata.h"
#include "tpkg/package_files.h"  // IsTorchPackage: only a torch.package gets metadata
#include "tpkg/write_back.h"

namespace tpkg {

class JournalRecords : public RecordSource {
 public:
  explicit JournalRecords(const Journal& journal) : journal_(journal) {}
  std::vector<std::string> RecordNames() const override;
  std::string ReadRecord(const std::string& name) const override;
  std::string ReadPrefix(const std::string& name, size_t n) const override;
  uint64_t RecordSize(const std::string& name) const override;
  bool knows_sizes() const override { return true; }
  bool concurrent_reads() const override { return true; }  // the Journal locks its own calls
  // The original record a file still holds unchanged (also after a rename):
  // what the analysis cache keys it by. Edited and created files have none.
  std::optional<RecordContentId> ContentOf(const std::string& name) const override;
  // The archive's first checks of the records still in the archive (edited
  // ones live in the journal).
  void PrepareReads(std::span<const std::string> names) const override;
  // The records still in the archive, read there together (ZipReader::
  // ReadSmallRecords); nullopt for edited ones.
  std::vector<std::optional<std::string>> ReadSmallRecords(
      std::span<const std::string> names) const override;
  // Whether the file now named `name` was written, created or renamed since
  // the archive was opened (MetadataOptions::edited).
  bool IsEdited(const std::string& name) const;

 private:
  std::string Read(const std::string& name, size_t limit) const;
  // The archive records that `names` still hold unchanged, in order; with
  // `at`, the index in `names` of each.
  std::vector<const ZipEntry*> Originals(std::span<const std::string> names,
                                         std::vector<size_t>* at) const;
  const Journal& journal_;
};

// The names of the original archive's records (prefix stripped, no
// directory entries): MetadataOptions::baseline_records of an edited package.
std::vector<std::string> OriginalRecordNames(const ZipReader& zip);

// The options of a save check (or of the virtual files of a read/write
// mount): the original records as baseline, the journal's edits as
// `edited`, and `cache` (analysis_cache.h; nullptr: none) for the
// per-record results of this journal's archive. The journal must outlive them.
MetadataOptions SaveCheckOptions(const Journal& journal,
                                 std::shared_ptr<RecordAnalysisCache> cache = nullptr);

// The metadata a save of `journal` writes (`.data/extern_modules` of a
// torch.package; nothing for other archives), after the checks every save
// runs (metadata.h "Rules for a save"): throws Error(kPolicy) "Cannot save
// <archive>: the package would no longer load:" and every problem, one per
// line, when the edited package would not load. A torch.save or TorchScript
// archive is checked for what its loader needs (SerializedArchiveProblems):
// "Cannot save <archive>: the torch.save archive would no longer load:". `notes` receives one line
// per module the save makes extern ("<archive>: json is now extern (an
// edited source imports it)"). Used by the daemon's save and by
// `tpkg edits --save-to`. With `cache` (filled by the mount's analyses or
// WarmAnalysisCache over journal.original()) only records it lacks are read
// and scanned; the result is the same. With `save_to` (another file the
// edited package goes to, `--save-to`), the refusal names it: "Cannot save
// the edits of <archive> to <save_to>: ...".
RegeneratedRecords SaveMetadata(const Journal& journal, std::vector<std::string>& notes,
                                std::shared_ptr<RecordAnalysisCache> cache = nullptr,
                                const std::string& save_to = {});

// What SaveMetadata most likely returns: the metadata the archive already
// has, which is what it returns when no edit changed what the package
// imports (the common save). WriteBack plans with it while SaveMetadata runs
// (PendingMetadata); a wrong guess costs time, never correctness.
RegeneratedRecords ExpectedSaveMetadata(const Journal& journal);

}  // namespace tpkg
