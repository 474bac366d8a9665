// zip_gaps.h: every byte before the central directory belongs to a record (private).
//
// Torch reads a record from where the central directory points and ignores
// whatever lies between records. Bytes there are invisible to torch and to
// any tool that follows the central directory, yet a scanner walking local
// headers (or a human with `unzip -l` on a repaired copy) would find them:
// a hidden record holding a pickle that calls os.system, say. Strict mode
// therefore accepts, between the end of one record's data and the next
// local header (and before the central directory), exactly that record's
// data descriptor when its flags announce one, and nothing else:
//
//   | after the data of a record            | verdict                             |
//   | ------------------------------------- | ----------------------------------- |
//   | next local header                     | ok (no bit 3)                        |
//   | descriptor agreeing with the CD       | ok (bit 3; signed or not, 32/64-bit) |
//   | descriptor with other CRC/sizes       | "data descriptor disagrees ..."      |
//   | bit 3 set, no room for a descriptor   | "data descriptor missing"            |
//   | anything else                         | "N bytes at offset X belong to no    |
//   |                                       |  record" (+ "a local header ...")     |
//
// Torch's reader (miniz) never reads a data descriptor: it takes CRC and
// sizes from the central directory, so a disagreeing descriptor changes
// nothing it loads; non-strict mode therefore serves the record as the
// central directory describes it.
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tpkg/zip_reader.h"
#include "zip/file_bytes.h"
#include "zip/record_tails.h"
#include "zip/zip_problems.h"

namespace tpkg {

// `by_offset`: entry indices sorted by local_header_offset; every entry's
// data_offset known (call after ReadLocalHeaders found no problem). The
// bytes after a record's data that `tails` holds are taken from there.
void CheckGaps(int fd, const std::vector<ZipEntry>& entries, std::span<const uint32_t> by_offset,
               uint64_t cd_offset, Problems& problems, const RecordTails* tails = nullptr);

// The same rule split for deferred checks (zip/zip_deferred_checks.h): bytes
// before the first record (known from the central directory alone), and, for
// one record whose data_offset is known and whose data ends by `region_end`
// (the next record's local header, or the central directory), the bytes
// between its data and `region_end`: its descriptor and nothing else.
// `next_record` is the full name of the record that follows, nullptr for
// the central directory (named in a problem only: no text is built for a
// record that passes); problems are reported as the record's. Bytes
// `prefetched` holds are taken from there instead of the file: the same
// verdicts without the pread.
void CheckLeadingBytes(int fd, const std::vector<ZipEntry>& entries,
                       std::span<const uint32_t> by_offset, uint64_t cd_offset,
                       Problems& problems);
void CheckRecordTail(int fd, const ZipEntry& entry, size_t index, uint64_t region_end,
                     const std::string* next_record, Problems& problems,
                     const FileBytes* prefetched = nullptr);

}  // namespace tpkg
