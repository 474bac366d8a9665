// model_file.cc: model file kinds, their pickles and tensors (tpkg/model_file.h).
#include "tpkg/model_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <unordered_set>

#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

// PROTO 2, LONG1 of 10 bytes: torch's magic number 0x1950a86a20f9469cfc6c.
constexpr std::string_view kLegacyMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19",
                                        14);

// torch.package's save_pickle writes protocol 3 or 4; anything else a package
// holds is a resource or source (doc/format.md §4.1).
bool IsPackagePickle(const RecordSource& records, const std::string& name) {
  if (name.empty() || name.back() == '/' || name.starts_with(".data/") || name.ends_with(".py"))
    return false;
  const std::string head = records.ReadPrefix(name, 2);
  return head.size() == 2 && head[0] == '\x80' && (head[1] == '\x03' || head[1] == '\x04');
}

// `.data/ts_code/<id>/data.pkl` and `.data/ts_code/<id>/constants.pkl`.
bool IsPackagedScriptPickle(std::string_view name) {
  constexpr std::string_view kFolder = ".data/ts_code/";
  if (!name.starts_with(kFolder)) return false;
  std::string_view rest = name.substr(kFolder.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || rest.substr(0, slash) == "code") return false;
  rest = rest.substr(slash + 1);
  return rest == "data.pkl" || rest == "constants.pkl";
}

}  // namespace

std::string_view ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kTorchPackage: return "torch.package";
    case ModelKind::kTorchScript: return "torchscript";
    case ModelKind::kTorchExport: return "torch.export";
    case ModelKind::kTorchSave: return "torch.save";
    case ModelKind::kOtherZip: return "zip";
  }
  return "zip";
}

ModelKind DetectModelKind(const RecordSource& records) {
  const std::vector<std::string> names = records.RecordNames();
  const std::unordered_set<std::string_view> has(names.begin(), names.end());
  if (has.contains(".data/extern_modules")) return ModelKind::kTorchPackage;
  if (has.contains("constants.pkl") && has.contains("data.pkl")) return ModelKind::kTorchScript;
  if (has.contains("archive_format") || has.contains("serialized_exported_program.json"))
    return ModelKind::kTorchExport;
  if (has.contains("data.pkl")) return ModelKind::kTorchSave;
  return ModelKind::kOtherZip;
}

ModelKind DetectModelKind(const ZipReader& zip) { return DetectModelKind(ZipRecordSource(zip)); }

bool IsLegacyTorchSave(std::string_view head) { return head.starts_with(kLegacyMagic); }

ZipReader OpenModelFile(const std::string& path) {
  try {
    return ZipReader::Open(path);
  } catch (const Error& e) {
    // torch 2.6's torch.export.save writes a plain ZIP without torch's
    // prefix folder, which the strict reader refuses: name it for what it is.
    try {
      ZipReader lenient = ZipReader::Open(path, ZipReaderOptions{.strict = false});
      if (DetectModelKind(lenient) == ModelKind::kTorchExport) return lenient;
    } catch (const Error&) {
      // not even a lenient ZIP: the reasons below
    }
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw;
    std::array<char, 16> head{};
    const ssize_t n = ::pread(fd.get(), head.data(), head.size(), 0);
    if (n <= 0 || !IsLegacyTorchSave(std::string_view(head.data(), static_cast<size_t>(n)))) throw;
    throw Error(Errc::kUnsupported,
                path +
                    ": a legacy torch.save file (the format before torch 1.6, a pickle "
                    "stream, not a ZIP archive); convert it with torch.save(torch.load(f), f2)");
  }
}

std::vector<ModelPickle> ModelPickles(const ZipReader& zip, ModelKind kind) {
  return ModelPickles(ZipRecordSource(zip), kind);
}

std::vector<ModelPickle> ModelPickles(const RecordSource& records, ModelKind kind) {
  std::vector<ModelPickle> out;
  const std::vector<std::string> names = records.RecordNames();
  switch (kind) {
    case ModelKind::kTorchPackage:
      for (const std::string& name : names) {
        if (IsPackagedScriptPickle(name))
          out.push_back({name, ".data/", false});
        else if (IsPackagePickle(records, name))
          out.push_back({name, ".data/", true});
      }
      break;
    case ModelKind::kTorchScript:
      for (const char* name : {"data.pkl", "constants.pkl"}) {
        if (std::find(names.begin(), names.end(), name) != names.end())
          out.push_back(
              {name, std::string_view(name) == "data.pkl" ? "data/" : "constants/", false});
      }
      break;
    case ModelKind::kTorchSave: out.push_back({"data.pkl", "data/", false}); break;
    case ModelKind::kTorchExport:
    case ModelKind::kOtherZip: break;
  }
  return out;
}

std::string StorageRecordName(const ModelPickle& pickle, const StorageRef& storage) {
  return pickle.storage_folder + storage.key +
         (pickle.int_keys_add_suffix && storage.key_is_int ? ".storage" : "");
}

std::vector<ModelTensor> PickleTensorsOf(const ZipReader& zip, const ModelPickle& pickle) {
  const ZipEntry* entry = zip.Find(pickle.record);
  if (entry == nullptr) throw Error(Errc::kNotFound, zip.path() + ": no record " + pickle.record);
  const std::string bytes = zip.ReadAll(*entry);
  std::vector<PickleTensor> tensors;
  try {
    tensors = FindPickleTensors(std::span<const char>(bytes.data(), bytes.size()));
  } catch (const Error& e) {
    throw Error(e.code(), zip.path() + ": " + pickle.record + ": " + e.what());
  }
  std::vector<ModelTensor> out;
  for (PickleTensor& t : tensors) {
    ModelTensor m;
    m.pickle = pickle.record;
    m.storage_record = StorageRecordName(pickle, t.storage);
    if (const ZipEntry* storage = zip.Find(m.storage_record)) {
      m.record_found = true;
      m.record_size = storage->size;
      m.record_crc32 = storage->crc32;
    }
    m.tensor = std::move(t);
    out.push_back(std::move(m));
  }
  return out;
}

// torch 2.6's torch.export.save keeps the weights as torch.save files nested
// as records; they are read from memory (a memfd), never from a temporary file.
constexpr std::array<std::string_view, 2> kExportWeights = {"serialized_state_dict.pt",
                                                            "serialized_constants.pt"};

std::vector<ModelTensor> NestedSaveTensors(const ZipReader& zip, std::string_view record) {
  const ZipEntry* entry = zip.Find(record);
  if (entry == nullptr) return {};
  const std::string bytes = zip.ReadAll(*entry);
  ScopedFd fd(::memfd_create("tpkg-nested", MFD_CLOEXEC));
  if (!fd) ThrowSystemError("cannot hold " + std::string(record) + " in memory", errno);
  WriteAll(fd.get(), std::span<const char>(bytes.data(), bytes.size()), record);
  std::optional<ZipReader> nested;
  try {
    nested = ZipReader::Open("/proc/self/fd/" + std::to_string(fd.get()));
  } catch (const Error& e) {
    throw Error(e.code(),
                zip.path() + ": " + std::string(record) + " is no torch.save file: " + e.what());
  }
  std::vector<ModelTensor> out;
  const std::string folder = std::string(record) + "/";
  for (const ModelPickle& pickle : ModelPickles(*nested, DetectModelKind(*nested))) {
    for (ModelTensor& t : PickleTensorsOf(*nested, pickle)) {
      t.pickle = folder + t.pickle;
      t.storage_record = folder + t.storage_record;
      out.push_back(std::move(t));
    }
  }
  return out;
}

std::vector<ModelTensor> ModelTensors(const ZipReader& zip) {
  std::vector<ModelTensor> out;
  const ModelKind kind = DetectModelKind(zip);
  if (kind == ModelKind::kTorchExport) {
    for (std::string_view record : kExportWeights) {
      std::vector<ModelTensor> some = NestedSaveTensors(zip, record);
      out.insert(out.end(), std::make_move_iterator(some.begin()),
                 std::make_move_iterator(some.end()));
    }
    return out;
  }
  for (const ModelPickle& pickle : ModelPickles(zip, kind)) {
    std::vector<ModelTensor> some = PickleTensorsOf(zip, pickle);
    out.insert(out.end(), std::make_move_iterator(some.begin()),
               std::make_move_iterator(some.end()));
  }
  return out;
}

}  // namespace tpkg
