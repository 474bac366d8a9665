// save_edits.h: what the read/write mount does once it is unmounted: save
// the journal's edits into the archive (tpkg/write_back.h), and record how
// it went in the archive's save log (tpkg/save_log.h).
//
//   int status = SaveEdits(journal, cache);   // after the FUSE loop has returned
//
// Steps: nothing changed (journal not dirty) -> drop the journal, the
// archive untouched. Otherwise, for a torch.package, regenerate
// `.data/extern_modules` from the current contents (metadata.h); a package
// that would no longer load (any metadata problem: a syntax error, a missing
// module the edit removed, ...) blocks the save. Then WriteBack(): atomic
// replace, or the original intact on any failure. The new archive file is
// locked (archive_lock.h) before it is renamed into place, so a mount
// started during the save waits for this daemon to finish.
//
// What the user sees, whatever unmounted the file system: one entry in
// the save log, SaveLogPathFor(archive) (saved / unchanged / failed with
// every reason and the advice below), fdatasync'd, created with the
// archive's read/write bits; `tpkgfs -u` prints it, the next mount and the `tpkg`
// commands warn about a failure. On the daemon's log (stderr in the
// foreground, syslog in the background): the summary, or every problem
// ("Cannot save <archive>: <reason>"), then where the edits are kept and
// what to do (save_advice.h): "the edits are kept in <journal>: mount
// <archive> again to fix them (the next unmount saves them), or delete
// <journal> to discard them"; when the archive file was replaced by another
// archive while mounted, how to put back the one the edits were made for.
// The journal stays, so the next mount of that archive recovers every edit.
//
// Thread safety: call from main's thread with no other user of the journal.
#pragma once

#include <functional>
#include <memory>

#include "tpkg/analysis_cache.h"
#include "tpkg/journal.h"
#include "tpkg/save_log.h"

namespace tpkg::fs {

// The daemon's exit status: 0 saved (or nothing to save), 1 not saved.
// `cache`: the mount's per-record analysis results (tpkg/analysis_cache.h):
// only the records it lacks (the edited ones, and whatever the background
// analysis had not reached) are scanned again; the metadata is the same.
// `unlogged` is given the outcome when the save log could not take it (its
// disk full), so that it can be kept elsewhere (mount_registry.h).
int SaveEdits(Journal& journal, std::shared_ptr<RecordAnalysisCache> cache = nullptr,
              const std::function<void(const SaveLogEntry&)>& unlogged = {}) noexcept;

}  // namespace tpkg::fs
