// torch_records.h: the records torch's reader needs before it loads anything.
//
// The ZIP reader (zip_reader.h) judges the container; this judges the few
// records every torch archive must get right before any module or pickle is
// read, and that strict mode (tpkgfs's default) and `tpkg check` refuse:
//
//   | record                  | refused when                                      |
//   | ----------------------- | ------------------------------------------------- |
//   | `.data/version`,        | a torch archive (a `.data/` record or `data.pkl`) |
//   | `version`               | has neither: PyTorchStreamReader refuses it, for   |
//   |                         | torch.package, torch.save and TorchScript alike;   |
//   |                         | or the one torch reads is no number in 1..10       |
//   | `.data/extern_modules`  | not UTF-8 (PackageImporter's decode fails), over   |
//   |                         | 64 KiB, or a line that is not a dotted name: torch |
//   |                         | would take any text, but bytes that declare no     |
//   |                         | module only hide data                              |
//
// A ZIP without any torch record (no `.data/`, no `data.pkl`) is a generic
// archive: nothing here applies.
//
//   for (const tpkg::Error& e : tpkg::CheckTorchRecords(zip)) std::cerr << e.what() << "\n";
//
// Thread safety: a pure function of the (immutable) reader.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

inline constexpr uint64_t kMaxExternModulesBytes = 64 * 1024;

// A version record's value as torch's reader parses it (C strtoull in base
// 10, leading blanks skipped, trailing junk ignored); nullopt without digits.
std::optional<uint64_t> ParseTorchVersion(std::string_view text);

// Every problem, each an Error(kCorrupt or kUnsupported) naming the archive and the record:
//   model.pt: record '.data/extern_modules': line 1 is not a dotted module name ('\x89PNG...')
std::vector<Error> CheckTorchRecords(const ZipReader& zip);

}  // namespace tpkg
