// torch_lookup.h: which record torch's reader returns for a name (private).
//
// PyTorchStreamReader looks records up through miniz (2.1.0 in torch 1.13,
// the same code in 2.x): at open, miniz heap-sorts the central directory by
// ASCII-folded full name; a lookup is a binary search in that order. When
// several entries fold to the same name (duplicates, or names differing only
// in case) the one returned depends on where the heap sort left them, not
// simply on central-directory order, so this replays both exactly:
//
//   std::vector<uint32_t> sorted = MinizSortedOrder(entries);
//   std::optional<uint32_t> i = MinizLocate(entries, sorted, "archive/data.pkl");
//
// Strict mode refuses such archives; non-strict mode (ZipReader) marks every
// twin but torch's pick as ZipEntry::shadowed, so the mount serves exactly the
// bytes torch would load.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "tpkg/zip_reader.h"

namespace tpkg {

// Entry indices in the order miniz's mz_zip_reader_sort_central_dir_offsets_by_filename leaves them.
std::vector<uint32_t> MinizSortedOrder(const std::vector<ZipEntry>& entries);

// The entry miniz's binary search finds for `full_name` in `sorted`, or nullopt.
std::optional<uint32_t> MinizLocate(const std::vector<ZipEntry>& entries,
                                    std::span<const uint32_t> sorted, std::string_view full_name);

}  // namespace tpkg
