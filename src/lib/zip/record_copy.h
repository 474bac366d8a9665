// record_copy.h (private): materialize a record's uncompressed bytes from an
// archive into a file, streaming with bounded memory.
//
//   ScopedFd out = ...;                             // an empty journal data file
//   CopyRecordToFd(zip, *zip.Find("a/b.py"), out.get(), UINT64_MAX, "journal/data/7");
//
// Stored records go through copy_file_range (in-kernel; a reflink where the
// filesystem shares extents); deflated ones are inflated by a RecordStream
// (bounded memory), which verifies their size and CRC-32.
//
// Thread safety: stateless; safe from any thread (the archive is read with pread).
#pragma once

#include <cstdint>
#include <string>

#include "tpkg/zip_reader.h"

namespace tpkg {

// Writes the first min(limit, entry.size) uncompressed bytes of `entry` at
// offset 0 of `dst_fd`. Throws Error naming `what` (the destination) and the
// record: kCorrupt when a deflated record does not inflate to its declared
// size and CRC, an OS error otherwise.
void CopyRecordToFd(const ZipReader& zip, const ZipEntry& entry, int dst_fd, uint64_t limit,
                    const std::string& what);

}  // namespace tpkg
