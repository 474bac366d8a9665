// zip_attributes.h: the Unix attributes a ZIP entry can carry besides its
// bytes (private): permission bits in the external attributes, the
// modification time in the DOS date/time fields and in Info-ZIP's 0x5455
// extended-timestamp extra field ("UT"). torch writes none of them
// (doc/format.md §2.5); zip tools and a tpkgfs save of an edited file do.
//
//   RecordAttributes a{.mode = 0600, .mtime = 1700000000};
//   std::string ut = TimestampBlock(*a.mtime);          // 9 bytes
//   ReadAttributes(central_header, extra, &entry);     // fills entry.mode / .mtime
//
// Thread safety: pure functions (localtime_r / mktime read the time zone).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"  // RecordAttributes

namespace tpkg {

struct DosDateTime {
  uint16_t time = 0;
  uint16_t date = 0;  // 0: no date (what torch writes)
};

// `mtime` as a DOS date and time in local time, clamped to 1980..2107.
DosDateTime ToDosDateTime(int64_t mtime);
// A valid DOS date and time (local time) in seconds since the epoch; nullopt
// for date 0 or impossible fields.
std::optional<int64_t> FromDosDateTime(DosDateTime dos);

// The UT block holding only the modification time (local and central
// headers alike): id, length 5, flags 1, u32 seconds.
std::string TimestampBlock(int64_t mtime);

// "version made by" and the external attributes for a file or folder with
// these attributes: 0 and 0 (torch's) when there is no mode, except the DOS
// folder bit for folders.
uint16_t VersionMadeBy(const RecordAttributes& attrs);
uint32_t ExternalAttributes(const RecordAttributes& attrs, bool directory);

// Fills entry->mode and entry->mtime from a central-directory header (its
// fixed part at `header`) and its extra field.
void ReadAttributes(const char* header, std::string_view extra, ZipEntry* entry);

}  // namespace tpkg
