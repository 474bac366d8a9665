// pending_edits.cc: Journal::PendingEdits(), the difference between the
// journal's namespace and its archive, as people read it (`tpkg edits`, the
// line a recovery prints), and
// Journal::FileNames(), the names a save plans with.
#include <mutex>
#include <set>

#include "journal/journal_impl.h"
#include "tpkg/journal.h"

namespace tpkg {

std::vector<Journal::PendingEdit> EditsOf(const JournalState& impl) {
  using PendingEdit = Journal::PendingEdit;
  const ZipReader& zip = impl.zip;
  std::vector<PendingEdit> edits;
  std::set<const ZipEntry*> kept;  // original records still present under some name
  for (const auto& [path, file] : impl.tree.files()) {
    if (file.original) kept.insert(file.original);
    if (file.journal_id != 0) {
      const bool had_name = zip.Find(path) != nullptr;
      edits.push_back(
          {had_name ? PendingEdit::Kind::kWritten : PendingEdit::Kind::kAdded, path, {}});
    } else if (file.original && file.original->name != path) {
      edits.push_back({PendingEdit::Kind::kRenamed, path, file.original->name});
    }
  }
  for (const ZipEntry& e : zip.entries()) {
    if (!e.is_directory() && !e.shadowed && !kept.count(&e) && !impl.tree.FindFile(e.name))
      edits.push_back({PendingEdit::Kind::kDeleted, e.name, {}});
  }
  return edits;
}

std::vector<Journal::PendingEdit> Journal::PendingEdits() const {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  return EditsOf(*impl_);
}

std::vector<std::string> Journal::FileNames() const {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  std::vector<std::string> names;
  names.reserve(impl_->tree.files().size());
  for (const auto& [path, file] : impl_->tree.files()) names.push_back(path);
  return names;
}

}  // namespace tpkg
