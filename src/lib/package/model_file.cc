// Telling model files apart (model_file.h).
#include "tpkg/model_file.h"

#include <fcntl.h>

#include <array>
#include <cerrno>

#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

// torch/serialization.py's MAGIC_NUMBER (0x1950a86a20f9469cfc6c), as the
// LONG1 opcode of the legacy format's first pickle stores it: little-endian.
constexpr std::string_view kLegacyMagic = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
constexpr size_t kHeadSize = 512;

bool HasRecord(const ZipReader& zip, std::string_view name) { return zip.Find(name) != nullptr; }

bool HasRecordUnder(const ZipReader& zip, std::string_view folder) {
  for (const ZipEntry& e : zip.entries()) {
    if (e.name.starts_with(folder)) return true;
  }
  return false;
}

std::string ReadHead(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    ThrowSystemError(path, err);
  }
  std::string head(kHeadSize, '\0');
  head.resize(PreadFull(fd.get(), head, 0, path));
  return head;
}

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

FileKind DetectFileKind(const ZipReader& zip) {
  if (HasRecord(zip, ".data/version") || HasRecord(zip, ".data/extern_modules"))
    return FileKind::kTorchPackage;
  if (HasRecord(zip, "serialized_exported_program.json") || HasRecord(zip, "archive_format"))
    return FileKind::kTorchExport;
  if (HasRecord(zip, "data.pkl")) {
    if (HasRecord(zip, "constants.pkl") || HasRecordUnder(zip, "code/"))
      return FileKind::kTorchScript;
    return FileKind::kTorchSave;
  }
  return FileKind::kZip;
}

bool IsLegacyTorchSave(std::string_view head) {
  // PROTO n, LONG1 10 <magic>: the first pickle of torch.save's legacy stream.
  if (head.size() >= 4 + kLegacyMagic.size() && head[0] == '\x80' && head[2] == '\x8a' &&
      head[3] == '\x0a' && head.substr(4, kLegacyMagic.size()) == kLegacyMagic)
    return true;
  // The still older tar form (torch < 0.4): "ustar" at offset 257.
  return head.size() >= 262 && head.substr(257, 5) == "ustar";
}

ModelFile OpenModelFile(const std::string& path) {
  if (IsLegacyTorchSave(ReadHead(path))) {
    throw Error(Errc::kUnsupported,
                path +
                    ": a legacy torch.save file (PyTorch < 1.6, not a ZIP archive); "
                    "tpkg reads ZIP archives only: torch.save(torch.load(f), g) rewrites it");
  }
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
