// Telling model files apart (model_file.h).
#include "tpkg/model_file.h"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <unordered_set>

#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

}  // namespace

std::string_view FileKindName(FileKind kind) {
  switch (kind) {
    case FileKind::kTorchPackage: return "torch.package";
    case FileKind::kTorchExport: return "torch.export";
    case FileKind::kTorchScript: return "torchscript";
    case FileKind::kTorchSave: return "torch.save";
    case FileKind::kZip: return "zip";
  }
  return "zip";
}

FileKind DetectFileKind(const RecordSource& records) {
  const std::vector<std::string> names = records.RecordNames();
  const std::unordered_set<std::string_view> has(names.begin(), names.end());
  if (has.contains(".data/version") || has.contains(".data/extern_modules"))
    return FileKind::kTorchPackage;
  if (has.contains("serialized_exported_program.json") || has.contains("archive_format"))
    return FileKind::kTorchExport;
  if (has.contains("data.pkl")) {
    const bool has_code = std::any_of(names.begin(), names.end(),
                                      [](const std::string& n) { return n.starts_with("code/"); });
    if (has.contains("constants.pkl") || has_code) return FileKind::kTorchScript;
    return FileKind::kTorchSave;
  }
  return FileKind::kZip;
}

FileKind DetectFileKind(const ZipReader& zip) { return DetectFileKind(ZipRecordSource(zip)); }

ModelFile OpenModelFile(const std::string& path) {
  try {
    ZipReader zip = ZipReader::Open(path);
    const FileKind kind = DetectFileKind(zip);
    return ModelFile{kind, std::move(zip)};
  } catch (const Error& strict_failure) {
    // torch.export.save writes through Python's zipfile: no prefix folder,
    // which strict mode refuses. Only that kind is accepted this way.
    std::optional<ZipReader> zip;
    try {
      zip.emplace(ZipReader::Open(path, ZipReaderOptions{.strict = false}));
    } catch (const Error&) {
      throw strict_failure;
    }
    if (DetectFileKind(*zip) != FileKind::kTorchExport) throw;
    return ModelFile{FileKind::kTorchExport, std::move(zip)};
  }
}

}  // namespace tpkg
