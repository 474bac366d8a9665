// model_tensors.cc: the pickles of each model file kind and their tensors (tpkg/model_tensors.h).
#include "tpkg/model_tensors.h"

#include <algorithm>
#include <array>
#include <unordered_set>

#include "package/package_layout.h"
#include "tpkg/error.h"
#include "tpkg/export_program.h"
#include "tpkg/metadata.h"

namespace tpkg {

bool IsPackagedScriptPickle(std::string_view name) {
  constexpr std::string_view kFolder = ".data/ts_code/";
  if (!name.starts_with(kFolder)) return false;
  std::string_view rest = name.substr(kFolder.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || rest.substr(0, slash) == "code") return false;
  rest = rest.substr(slash + 1);
  return rest == "data.pkl" || rest == "constants.pkl";
}

std::vector<ModelPickle> ModelPickles(const ZipReader& zip, FileKind kind) {
  return ModelPickles(ZipRecordSource(zip), kind);
}

std::vector<ModelPickle> ModelPickles(const RecordSource& records, FileKind kind) {
  std::vector<ModelPickle> out;
  const std::vector<std::string> names = records.RecordNames();
  switch (kind) {
    case FileKind::kTorchPackage:
      for (const std::string& name : names) {
        if (IsPackagedScriptPickle(name))
          out.push_back({name, ".data/", false});
        else if (IsPackagePickleRecord(records, name))
          out.push_back({name, ".data/", true});
      }
      break;
    case FileKind::kTorchScript:
      for (const char* name : {"data.pkl", "constants.pkl"}) {
        if (std::find(names.begin(), names.end(), name) != names.end())
          out.push_back(
              {name, std::string_view(name) == "data.pkl" ? "data/" : "constants/", false});
      }
      break;
    case FileKind::kTorchSave: out.push_back({"data.pkl", "data/", false}); break;
    case FileKind::kTorchExport:
    case FileKind::kZip: break;
  }
  return out;
}

std::string StorageRecordName(const ModelPickle& pickle, const StorageRef& storage) {
  return pickle.storage_folder + storage.key + (pickle.keys_add_suffix ? ".storage" : "");
}

std::vector<ModelTensor> PickleTensorsOf(const ZipReader& zip, const ModelPickle& pickle) {
  const ZipEntry* entry = zip.Find(pickle.record);
  if (entry == nullptr) throw Error(Errc::kNotFound, zip.path() + ": no record " + pickle.record);
  const std::string bytes = ReadForAnalysis(zip, *entry);
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
// as records (tpkg/export_program.h reads them from memory).
constexpr std::array<std::string_view, 2> kExportWeights = {"serialized_state_dict.pt",
                                                            "serialized_constants.pt"};

std::vector<ModelTensor> NestedSaveTensors(const ZipReader& zip, std::string_view record) {
  if (zip.Find(record) == nullptr) return {};
  const ZipReader nested = OpenNestedZip(zip, record);
  std::vector<ModelTensor> out;
  const std::string folder = std::string(record) + "/";
  for (const ModelPickle& pickle : ModelPickles(nested, DetectFileKind(nested))) {
    for (ModelTensor& t : PickleTensorsOf(nested, pickle)) {
      t.pickle = folder + t.pickle;
      t.storage_record = folder + t.storage_record;
      out.push_back(std::move(t));
    }
  }
  return out;
}

namespace {

// The records ModelTensors() reads, in reading order.
std::vector<const ZipEntry*> TensorWork(const ZipReader& zip, FileKind kind) {
  std::vector<const ZipEntry*> out;
  if (kind == FileKind::kTorchExport) {
    for (std::string_view record : kExportWeights)
      if (const ZipEntry* e = zip.Find(record)) out.push_back(e);
    return out;
  }
  for (const ModelPickle& pickle : ModelPickles(zip, kind))
    if (const ZipEntry* e = zip.Find(pickle.record)) out.push_back(e);
  return out;
}

uint64_t SizeOf(const std::vector<const ZipEntry*>& entries) {
  uint64_t total = 0;
  for (const ZipEntry* e : entries) total += e->size;
  return total;
}

}  // namespace

uint64_t ModelTensorsWork(const ZipReader& zip) {
  return SizeOf(TensorWork(zip, DetectFileKind(zip)));
}

std::vector<ModelTensor> ModelTensors(const ZipReader& zip, const ProgressCallback& progress) {
  std::vector<ModelTensor> out;
  const FileKind kind = DetectFileKind(zip);
  const uint64_t total = progress ? SizeOf(TensorWork(zip, kind)) : 0;
  uint64_t done = 0;
  const auto step = [&](std::string_view record) {
    if (!progress) return;
    if (const ZipEntry* e = zip.Find(record)) done = std::min(done + e->size, total);
    ReportProgress(progress, done, total);
  };
  if (kind == FileKind::kTorchExport) {
    // Weights tpkg does not read are said, never taken for "no tensors".
    if (std::string unread = UnreadExportWeights(zip); !unread.empty())
      throw Error(Errc::kUnsupported, zip.path() + ": " + unread);
    for (std::string_view record : kExportWeights) {
      std::vector<ModelTensor> some = NestedSaveTensors(zip, record);
      out.insert(out.end(), std::make_move_iterator(some.begin()),
                 std::make_move_iterator(some.end()));
      step(record);
    }
    return out;
  }
  for (const ModelPickle& pickle : ModelPickles(zip, kind)) {
    std::vector<ModelTensor> some = PickleTensorsOf(zip, pickle);
    out.insert(out.end(), std::make_move_iterator(some.begin()),
               std::make_move_iterator(some.end()));
    step(pickle.record);
  }
  return out;
}

}  // namespace tpkg
