// model_diff.cc: DiffModels() (tpkg/model_diff.h).
#include "tpkg/model_diff.h"

#include <map>
#include <unordered_map>
#include <utility>

#include "tpkg/metadata.h"

namespace tpkg {
namespace {

void DiffRecords(const ZipReader& a, const ZipReader& b, ModelDiff& d) {
  for (const ZipEntry& old_entry : a.entries()) {
    if (old_entry.is_directory()) continue;
    const ZipEntry* new_entry = b.Find(old_entry.name);
    if (new_entry == nullptr) {
      d.records.push_back({ChangeKind::kRemoved, old_entry.name, old_entry, std::nullopt});
    } else if (new_entry->crc32 != old_entry.crc32 || new_entry->size != old_entry.size) {
      d.records.push_back({ChangeKind::kChanged, old_entry.name, old_entry, *new_entry});
    }
  }
  for (const ZipEntry& new_entry : b.entries()) {
    if (!new_entry.is_directory() && a.Find(new_entry.name) == nullptr)
      d.records.push_back({ChangeKind::kAdded, new_entry.name, std::nullopt, new_entry});
  }
}

void DiffModules(const ZipReader& a, const ZipReader& b, ModelDiff& d) {
  std::map<std::string, std::pair<std::string, std::string>> actions;
  for (auto& [module, action] : ModuleActions(a)) actions[module].first = action;
  for (auto& [module, action] : ModuleActions(b)) actions[module].second = action;
  for (auto& [module, pair] : actions) {
    if (pair.first != pair.second) d.modules.push_back({module, pair.first, pair.second});
  }
}

std::vector<std::string> ChangedFields(const ModelTensor& x, const ModelTensor& y) {
  std::vector<std::string> fields;
  if (x.tensor.dtype != y.tensor.dtype) fields.push_back("dtype");
  if (x.tensor.shape != y.tensor.shape) fields.push_back("shape");
  if (x.tensor.stride != y.tensor.stride) fields.push_back("stride");
  if (x.tensor.storage_offset != y.tensor.storage_offset) fields.push_back("storage_offset");
  if (x.storage_record != y.storage_record) fields.push_back("storage");
  if (x.record_found != y.record_found || x.record_size != y.record_size ||
      x.record_crc32 != y.record_crc32)
    fields.push_back("bytes");
  return fields;
}

// One progress over several stages: this stage's `done` counts from `base`.
ProgressCallback Stage(const ProgressCallback& progress, uint64_t base, uint64_t total) {
  if (!progress) return {};
  return [&progress, base, total](uint64_t done, uint64_t) { progress(base + done, total); };
}

void DiffTensors(const ZipReader& a, const ZipReader& b, ModelDiff& d,
                 const ProgressCallback& first, const ProgressCallback& second) {
  const std::vector<ModelTensor> old_tensors = ModelTensors(a, first);
  const std::vector<ModelTensor> new_tensors = ModelTensors(b, second);
  auto key = [](const ModelTensor& t) { return t.pickle + '\n' + t.tensor.path; };
  std::unordered_map<std::string, const ModelTensor*> old_by_key;
  std::unordered_map<std::string, const ModelTensor*> new_by_key;
  for (const ModelTensor& t : old_tensors) old_by_key.emplace(key(t), &t);
  for (const ModelTensor& t : new_tensors) new_by_key.emplace(key(t), &t);
  for (const ModelTensor& t : old_tensors) {
    if (old_by_key.at(key(t)) != &t) continue;  // a repeated place: the first one counts
    auto it = new_by_key.find(key(t));
    if (it == new_by_key.end()) {
      d.tensors.push_back({ChangeKind::kRemoved, t.pickle, t.tensor.path, t, std::nullopt, {}});
      continue;
    }
    std::vector<std::string> fields = ChangedFields(t, *it->second);
    if (!fields.empty())
      d.tensors.push_back(
          {ChangeKind::kChanged, t.pickle, t.tensor.path, t, *it->second, std::move(fields)});
  }
  for (const ModelTensor& t : new_tensors) {
    if (new_by_key.at(key(t)) == &t && !old_by_key.contains(key(t)))
      d.tensors.push_back({ChangeKind::kAdded, t.pickle, t.tensor.path, std::nullopt, t, {}});
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ModuleActions(const ZipReader& zip) {
  std::vector<std::pair<std::string, std::string>> out;
  if (DetectFileKind(zip) != FileKind::kTorchPackage) return out;
  const Metadata m = RegenerateMetadata(ZipRecordSource(zip));
  for (const std::string& module : m.interned) out.emplace_back(module, "intern");
  for (const std::string& module : m.externs) out.emplace_back(module, "extern");
  for (const std::string& module : m.mocked) out.emplace_back(module, "mock");
  return out;
}

ModelDiff DiffModels(const ZipReader& before, const ZipReader& after,
                     const ProgressCallback& progress) {
  // Progress: both files' record data, then both tensor walks.
  const uint64_t data_a = progress ? RecordDataWork(before) : 0;
  const uint64_t data_b = progress ? RecordDataWork(after) : 0;
  const uint64_t tensors_a = progress ? ModelTensorsWork(before) : 0;
  const uint64_t total = progress ? data_a + data_b + tensors_a + ModelTensorsWork(after) : 0;
  // Every verdict below trusts the central directory's CRC-32 (records,
  // tensor bytes): a record whose data does not match it would pass for
  // unchanged, so the data is verified first and such a record fails the diff.
  VerifyRecordData(before, Stage(progress, 0, total));
  VerifyRecordData(after, Stage(progress, data_a, total));
  ModelDiff d;
  d.before_kind = DetectFileKind(before);
  d.after_kind = DetectFileKind(after);
  DiffRecords(before, after, d);
  DiffModules(before, after, d);
  const uint64_t verified = data_a + data_b;
  DiffTensors(before, after, d, Stage(progress, verified, total),
              Stage(progress, verified + tensors_a, total));
  return d;
}

}  // namespace tpkg
