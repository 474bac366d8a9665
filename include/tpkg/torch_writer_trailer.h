// torch_writer_trailer.h: the records torch's writer (PyTorchStreamWriter)
// adds when it finishes an archive, as found in an archive it wrote.
//
// In torch's order: the version record (`.data/version`, or `version` in a
// torch.save checkpoint); torch 2.x then `byteorder` (unless the writer's
// caller wrote its own) and `.data/serialization_id` (doc/format.md §3.1,
// §12; the rules are in src/lib/zip/torch_trailer.h). A copy of one
// archive's records into another torch archive leaves them out: the other
// archive's writer adds its own.
//
//   for (const std::string& name : tpkg::TorchWriterTrailer(zip)) skip.insert(name);
//
// Thread safety: a pure function of the reader's (immutable) entries.
#pragma once

#include <string>
#include <vector>

#include "tpkg/zip_reader.h"

namespace tpkg {

// The trailer records of `zip`'s archive. A name may be absent from `zip`:
// a torch 1.13 archive's trailer is `.data/version` even without one.
std::vector<std::string> TorchWriterTrailer(const ZipReader& zip);

}  // namespace tpkg
