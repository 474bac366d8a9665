// model_file.h: which kind of model file a path holds, and opening it.
//
//   tpkg::ModelFile f = tpkg::OpenModelFile("model.pt");
//   tpkg::FileKindName(f.kind);     // "torch.package"
//   for (const auto& e : f.zip->entries()) ...
//
// The kinds people have, told apart by their records (prefix folder stripped):
//
//   kind              written by                     tells it
//   torch.package     PackageExporter                `.data/version` or `.data/extern_modules`
//   torch.export      torch.export.save (.pt2)       `serialized_exported_program.json`
//                                                    (torch 2.x; Python's zipfile, no prefix
//                                                    folder) or an `archive_format` record
//   torchscript       torch.jit.save                 `data.pkl` and `code/` sources or
//                                                    `constants.pkl`
//   torch.save        torch.save (zip, torch >= 1.6) `data.pkl`
//   zip               anything else that is a ZIP
//
// A legacy torch.save file (torch < 1.6, `_use_new_zipfile_serialization=False`:
// a pickle stream starting with torch's magic number, or the older tar form)
// is no ZIP: OpenModelFile() refuses it with one line that says what it is.
// A `.pt2` is opened non-strictly (it has no prefix folder); every other kind
// strictly, as torch's reader needs.
//
// Thread safety: pure functions; a ModelFile is an immutable value (its
// ZipReader's const methods are thread-safe).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tpkg/metadata.h"  // RecordSource
#include "tpkg/zip_reader.h"

namespace tpkg {

enum class FileKind { kTorchPackage, kTorchExport, kTorchScript, kTorchSave, kZip };

// "torch.package", "torch.export", "torchscript", "torch.save", "zip": the
// stable names the tools print and put in their JSON.
std::string_view FileKindName(FileKind kind);

// The kind of an open archive, or of the records of a read/write mount
// (table above; one rule for both).
FileKind DetectFileKind(const RecordSource& records);
FileKind DetectFileKind(const ZipReader& zip);

struct ModelFile {
  FileKind kind;
  std::optional<ZipReader> zip;  // always set on return
};

// Opens `path` and tells its kind. Throws Error naming the path: ZipReader's
// reasons (a legacy torch.save file among them: IsLegacyTorchSave()).
ModelFile OpenModelFile(const std::string& path);

}  // namespace tpkg
