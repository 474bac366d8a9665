// free_space.cc: the free-space check before a write-back (free_space.h).
#include "journal/free_space.h"

#include <sys/statfs.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>

#include "base/file_util.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

// Per record, at most: local header (30) + ZIP64 extra (20) + alignment
// extra (4 + 63 padding) + data descriptor (24) + central header (46) +
// its ZIP64 extra (28), besides the name twice and the data.
constexpr uint64_t kRecordOverhead = 30 + 20 + 4 + 63 + 24 + 46 + 28;
// ZIP64 end record, its locator and the end record, with some slack.
constexpr uint64_t kEndOverhead = 56 + 20 + 22 + 64;

constexpr long kBtrfsMagic = 0x9123683E;
constexpr long kXfsMagic = 0x58465342;

std::string Amount(uint64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f MiB (%llu bytes)", static_cast<double>(bytes) / (1 << 20),
                static_cast<unsigned long long>(bytes));
  return text;
}

}  // namespace

SpaceNeeded EstimateSaveSize(const WritePlan& plan, const Journal& journal) {
  SpaceNeeded need;
  const uint64_t prefix = journal.original().prefix().size() + 1;
  need.archive_bytes = kEndOverhead;
  for (const PlannedRecord& r : plan.records) {
    uint64_t data = 0;
    switch (r.source) {
      case PlannedRecord::Source::kRaw:
        data = r.entry->compressed_size;
        need.shareable_bytes += data;
        break;
      case PlannedRecord::Source::kJournal:
        if (const std::optional<JournalNode> node = journal.Stat(r.name)) data = node->size;
        break;
      case PlannedRecord::Source::kRegenerated: data = r.bytes->size(); break;
      case PlannedRecord::Source::kSerializationId:
      case PlannedRecord::Source::kFolder: break;
    }
    need.archive_bytes += kRecordOverhead + 2 * (prefix + r.name.size()) + data;
  }
  return need;
}

void CheckFreeSpace(const SpaceNeeded& need, const std::string& directory) {
  struct statvfs vfs;
  struct statfs fs;
  if (::statvfs(directory.c_str(), &vfs) != 0) {
    const int err = errno;
    ThrowSystemError("Cannot measure the free space of '" + directory + "'", err);
  }
  const bool may_share =
      ::statfs(directory.c_str(), &fs) == 0 &&
      (static_cast<long>(fs.f_type) == kBtrfsMagic || static_cast<long>(fs.f_type) == kXfsMagic);
  const uint64_t needed = need.archive_bytes - (may_share ? need.shareable_bytes : 0);
  const uint64_t available = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (needed > available) {
    throw Error(Errc::kNoSpace,
                "No space left on device: the new archive needs up to " + Amount(needed) +
                    " beside the old one until it replaces it, and '" + directory + "' has " +
                    Amount(available) + " available; nothing was written",
                ENOSPC);
  }
  // The new archive is a new file: with no inode free its creation fails
  // with the ENOSPC of a full disk while `df` shows room, so say which.
  if (HasNoFreeInode(vfs)) {
    throw Error(Errc::kNoSpace,
                "No space left on device: '" + directory +
                    "' has no free inode (`df -i`) for the new archive, though " +
                    Amount(available) + " are available; nothing was written",
                ENOSPC);
  }
}

}  // namespace tpkg
