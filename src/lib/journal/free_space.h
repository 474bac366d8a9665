// free_space.h (private): whether the file system of a journal can take the
// archive a write-back is about to write, checked before anything is written.
//
// A save writes a whole new archive beside the old one, which is removed
// only by the final rename: it needs about one archive's worth of free
// space. The estimate bounds every header, padding and end record from
// above. On file systems that may share extents (btrfs, XFS: the raw copies
// go through copy_file_range, a reflink where the blocks line up) the bytes
// of raw-copied records are not counted: whether they will be shared cannot
// be told in advance, and an ENOSPC during the write still fails the save
// cleanly (write_back.h). Unprivileged callers are measured against what an
// unprivileged process may use (f_bavail).
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>

#include "tpkg/journal.h"
#include "tpkg/write_back.h"

namespace tpkg {

struct SpaceNeeded {
  uint64_t archive_bytes = 0;    // upper bound of the new archive's size
  uint64_t shareable_bytes = 0;  // raw-copied record data a reflink could share
};

SpaceNeeded EstimateSaveSize(const WritePlan& plan, const Journal& journal);

// Throws Error(kNoSpace, ENOSPC) naming what is needed and what is available
// in `directory` (where the new archive is written), when it cannot fit, or
// when the file system there has no free inode for it.
void CheckFreeSpace(const SpaceNeeded& need, const std::string& directory);

}  // namespace tpkg
