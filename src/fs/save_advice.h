// save_advice.h: what to tell the user to do with the edits a failed save
// kept in the journal; the last line of the failure, in the daemon's log and
// the save log (save_edits.h), which `tpkgfs -u` prints.
//
//   const std::string advice = KeptEditsAdvice(journal);   // after WriteBack threw
//
// What the next mount does with the journal decides it
// (Journal::JudgeArchiveNow, the rule the journal's open applies). When the
// file at A is still the archive the edits were made for (same size and
// central directory), a mount takes them:
//   "the edits are kept in J: mount A again to fix them (the next unmount
//    saves them), or delete J to discard them"
// When A is the archive this save renamed into place (a step after the
// rename failed), the save is done and the next mount removes J. When A is
// gone, or another archive (replaced or rewritten while it was mounted: the
// next mount serves it read-only, "holds edits of a different archive"), it
// says what does work: putting the archive they were made for back at A,
// named where it still is (the file the daemon opened, found by device and
// inode in A's folder), or a copy of it when it is gone; or deleting J,
// which keeps A as it is now.
//
// Thread safety: call from the saving thread, with no other user of the journal.
#pragma once

#include <optional>
#include <string>

#include "tpkg/journal.h"

namespace tpkg::fs {

// `kept_copy`: where Journal::KeepDeletedArchive put the archive the edits
// were made for, when it was deleted while mounted and another file took
// its path (that copy is what to put back).
std::string KeptEditsAdvice(const Journal& journal,
                            const std::optional<std::string>& kept_copy = std::nullopt);

}  // namespace tpkg::fs
