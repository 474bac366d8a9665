// save_edits.h: what the read/write mount does once it is unmounted: save
// the journal's edits into the archive (tpkg/write_back.h).
//
//   int status = SaveEdits(journal);   // after the FUSE loop has returned
//
// Steps: nothing changed (journal not dirty) -> drop the journal, the
// archive untouched. Otherwise, for a torch.package, regenerate
// `.data/extern_modules` from the current contents (metadata.h); a package
// that would no longer load (any metadata problem: a syntax error, a missing
// module the edit removed, ...) blocks the save. Then WriteBack(): atomic
// replace, or the original intact on any failure.
//
// What blocks a save, and what the user sees: every problem on the log
// (stderr in the foreground, syslog in the background), "Cannot save
// <archive>: <reason>", then where the edits are kept
// ("the edits are kept in <journal>; mount the archive again to fix them,
// then unmount"), and a non-zero exit status. The journal stays, so the
// next mount recovers every edit.
//
// Thread safety: call from main's thread with no other user of the journal.
#pragma once

#include "tpkg/journal.h"

namespace tpkg::fs {

// The daemon's exit status: 0 saved (or nothing to save), 1 not saved.
int SaveEdits(Journal& journal) noexcept;

}  // namespace tpkg::fs
