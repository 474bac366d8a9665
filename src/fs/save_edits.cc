#include "save_edits.h"

#include "journal_records.h"
#include "log.h"
#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/write_back.h"
#include "virtual_files.h"

namespace tpkg::fs {
namespace {

// The regenerated metadata; throws Error(kPolicy) listing every problem
// when the package would not load as it is.
RegeneratedRecords RegenerateForSave(const Journal& journal) {
  if (!IsTorchPackage(journal.original())) return {};
  const Metadata m = RegenerateMetadata(JournalRecords(journal), SaveCheckOptions(journal));
  if (!m.ok()) {
    throw Error(Errc::kPolicy, "Cannot save " + journal.archive_path() +
                                   ": the package would no longer load:\n" + m.problems);
  }
  for (const std::string& module : m.new_externs) {
    TPKG_LOG(kInfo) << journal.archive_path() << ": " << module
                    << " is now extern (an edited source imports it)";
  }
  return {{kExternModulesPath, m.extern_modules_text}};
}

}  // namespace

int SaveEdits(Journal& journal) noexcept {
  const std::string archive = journal.archive_path();
  const std::string directory = journal.directory();
  try {
    if (!journal.dirty()) {
      journal.Drop();
      TPKG_LOG(kDebug) << archive << ": nothing changed, the archive was not touched";
      return 0;
    }
    const RegeneratedRecords metadata = RegenerateForSave(journal);
    const WriteBackResult result = WriteBack(journal, metadata);
    TPKG_LOG(kInfo) << result.summary;
    return 0;
  } catch (const std::exception& e) {
    TPKG_LOG(kError) << e.what();
    TPKG_LOG(kError) << "the edits are kept in " << directory
                     << "; mount the archive again to fix them, then unmount to save";
    return 1;
  }
}

}  // namespace tpkg::fs
