// zip_repack.h: rewrite an archive through the torch-compatible writer.
//
//   const tpkg::ZipReader in = tpkg::ZipReader::Open("in.pt");
//   tpkg::RepackArchive(in, "out.pt", in.prefix());   // `tpkg repack in.pt out.pt`
//
// Every record of `src` is copied raw, in archive order (ZipWriter::
// CopyRawRecord: bytes, compression and CRC unchanged, data re-aligned to 64
// bytes), under `prefix` as the new prefix folder; ZIP directory entries
// (`dir/`, written by zip tools, never by torch) are dropped. A torch-written
// archive repacked under its own prefix comes out byte for byte identical.
// Each record's data is verified (its CRC-32, and that it inflates) before it
// is copied: a damaged record fails the repack, naming it, rather than be
// copied into a file that looks freshly written.
//
// `out_path` is replaced atomically (a temporary file beside it, fsync,
// rename): readers see the old file or the complete new one; on any failure
// it is untouched and the temporary file removed. `out_path` may be the
// archive `src` reads (src keeps its descriptor to the old file). The new
// file keeps the permission bits of the file it replaces.
//
// Thread safety: reads `src` with pread only; several threads may repack the
// same reader into different files.
#pragma once

#include <cstdint>
#include <string>

#include "tpkg/progress.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

// Returns the size of the new archive. Throws Error naming the file and the
// reason (kInvalidArgument for a bad prefix, kCorrupt for a record that
// cannot be copied, the OS error otherwise). `progress` (tpkg/progress.h)
// follows the record bytes copied, one call per record.
uint64_t RepackArchive(const ZipReader& src, const std::string& out_path,
                       const std::string& prefix, const ProgressCallback& progress = {});

}  // namespace tpkg
