// zip_end_records.h: find the central directory through the end records (private).
//
// Reads the classic end-of-central-directory record (searching back over a
// possible comment) and, when its locator is present, the ZIP64 end record,
// then checks that the central directory lies inside the file.
//
//   CentralDirectoryLocation cd = LocateCentralDirectory(fd, size, strict, problems);
//   // read cd.size bytes at cd.offset, expect cd.count entries
//
// Thread safety: stateless.
#pragma once

#include <cstdint>

#include "zip/zip_problems.h"

namespace tpkg {

struct CentralDirectoryLocation {
  uint64_t offset = 0;       // of the first central directory header
  uint64_t size = 0;         // bytes of all central directory headers
  uint64_t count = 0;        // number of entries
  uint64_t end_records = 0;  // where the (ZIP64) end records begin
  bool zip64 = false;
};

// Fatal for anything that leaves no readable central directory (not a ZIP,
// truncation, out-of-range offsets, multi-disk, no entries); in strict mode
// also reports inconsistencies between the end records.
CentralDirectoryLocation LocateCentralDirectory(int fd, uint64_t file_size, bool strict,
                                                Problems& problems);

}  // namespace tpkg
