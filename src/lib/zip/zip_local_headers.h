// zip_local_headers.h: read every local file header, find each record's data (private).
//
//   ReadLocalHeaders(fd, file_size, entries, by_offset, strict, problems);
//   // now entries[i].data_offset is the absolute offset of the (compressed) data
//   ReadLocalHeader(fd, file_size, entry, i, strict, problems);  // one entry alone
//
// Headers are visited in file order and neighbours are fetched together
// (one pread per window of about 64 KiB at most), so a package of many tiny
// records costs a handful of system calls; headers 16 KiB or more apart
// (records of 16 KiB or more) get one small pread each, which costs less
// than copying the data between them (zip_local_headers.cc says where that
// line lies on which machine).
// Always refused: a missing local header, data running past the end of the
// file. Strict: a local header disagreeing with the central directory (name,
// method, flags, and CRC/sizes unless a data descriptor carries them).
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tpkg/zip_reader.h"
#include "zip/file_bytes.h"
#include "zip/record_tails.h"
#include "zip/zip_problems.h"

namespace tpkg {

// `by_offset`: entry indices sorted by local_header_offset. With `tails`,
// keeps the bytes after each record's data that its windows hold
// (zip/record_tails.h), for CheckGaps.
void ReadLocalHeaders(int fd, uint64_t file_size, std::vector<ZipEntry>& entries,
                      std::span<const uint32_t> by_offset, bool strict, Problems& problems,
                      RecordTails* tails = nullptr);

// The same checks for one entry (number `index` of the central directory),
// in one pread: what a reader opened with deferred record checks runs when
// the record is first read (zip/zip_deferred_checks.h). Sets data_offset.
// With `prefetched` holding the header's first bytes, the header is taken
// from there (no pread when it is all there): the same checks and reasons.
void ReadLocalHeader(int fd, uint64_t file_size, ZipEntry& entry, size_t index, bool strict,
                     Problems& problems, const FileBytes* prefetched = nullptr);

}  // namespace tpkg
