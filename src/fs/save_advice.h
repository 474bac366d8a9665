// save_advice.h: what to tell the user to do with the edits a failed save
// kept in the journal; the last line of the failure, in the daemon's log and
// the save log (save_edits.h), which `tpkgfs -u` prints.
//
//   const std::string advice = KeptEditsAdvice(journal);   // after WriteBack threw
//
// Mounting the archive again takes the edits (and the next unmount saves
// them) only while the file at its path is still the archive they were made
// for (Journal::ArchiveStillMatches: same size and central directory). The
// advice says so when it is:
//   "the edits are kept in J: mount A again to fix them (the next unmount
//    saves them), or delete J to discard them"
// and when the file was replaced by another archive (or rewritten) while it
// was mounted, which the next mount would serve read-only ("holds edits of a
// different archive"), says what does work: putting the archive they were
// made for back at A, named where it still is (the file the daemon opened,
// found by device and inode in A's folder), or a copy of it when it is gone;
// or deleting J, which keeps A as it is now.
//
// Thread safety: call from the saving thread, with no other user of the journal.
#pragma once

#include <string>

#include "tpkg/journal.h"

namespace tpkg::fs {

std::string KeptEditsAdvice(const Journal& journal);

}  // namespace tpkg::fs
