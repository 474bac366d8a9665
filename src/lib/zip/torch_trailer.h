// torch_trailer.h: the records torch's writer adds when it finishes an
// archive, which a rewrite must keep last, in torch's order (private).
//
// PyTorchStreamWriter's finish step writes, after everything its caller
// wrote (doc/format.md §3.1, §12):
//   torch 1.13: the version record (`.data/version` in packages).
//   torch 2.x:  the version record (`.data/version`, or `version` in
//               torch.save checkpoints) unless the caller wrote it, then
//               `byteorder` unless the caller wrote it, then
//               `.data/serialization_id`, always.
//
//   archive as opened                                       trailer
//   ..., .data/extern_modules, ..., .data/version           .data/version
//   ..., .data/version, byteorder, .data/serialization_id   the same three
//   data.pkl, byteorder, data/0, version, .data/serial...   version, .data/serialization_id
//   data.pkl, data/0, version, byteorder, .data/serial...   version, byteorder, .data/serial...
//
// An archive with `.data/serialization_id` anywhere is a torch 2.x archive.
// Its `byteorder` belongs to the trailer when only trailer records follow it
// (the finish step wrote it; torch.save writes its own right after
// `data.pkl`). 1.13 archives keep exactly the rule the write-back always
// had: `.data/version` last, `version` left in place.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "tpkg/zip_reader.h"

namespace tpkg {

// The trailer records of `entries` (names, prefix stripped) in the order
// torch writes them. Not all of them need exist in `entries`: a 1.13
// archive's trailer is `.data/version` even without one (a version record
// the user creates still goes last).
std::vector<std::string> TorchTrailer(const std::vector<ZipEntry>& entries);

}  // namespace tpkg
