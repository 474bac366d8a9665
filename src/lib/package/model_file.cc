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

// torch/serialization.py's MAGIC_NUMBER (0x1950a86a20f9469cfc6c), as the
// LONG1 opcode of the legacy format's first pickle stores it: little-endian.
constexpr std::string_view kLegacyMagic = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
constexpr size_t kHeadSize = 512;

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
