// zip_central_directory.h: parse the central directory into ZipEntry values (private).
//
//   std::vector<ZipEntry> entries = ParseCentralDirectory(cd_bytes, cd.count, strict, problems);
//
// Fills every ZipEntry field except `name` and `data_offset` (they need the
// prefix folder and the local headers). ZIP64 extra blocks replace the
// 32-bit fields that hold 0xFFFFFFFF. One allocation for the vector plus the
// names' own; nothing per extra field.
//
// Thread safety: stateless.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tpkg/zip_reader.h"
#include "zip/zip_problems.h"

namespace tpkg {

std::vector<ZipEntry> ParseCentralDirectory(std::string_view cd, uint64_t count, bool strict,
                                            Problems& problems);

}  // namespace tpkg
