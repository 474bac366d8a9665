// record_attributes.cc: RecordXattrs::Compute() (tpkg/record_attributes.h).
#include "tpkg/record_attributes.h"

#include <algorithm>
#include <set>

#include "package/package_layout.h"  // ModuleOfRecord
#include "tpkg/error.h"
#include "tpkg/model_tensors.h"
#include "tpkg/pickle_scan.h"
#include "tpkg/pickle_tensors.h"

namespace tpkg {
namespace {

std::string ShapeText(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

std::string Attr(std::string_view name) {
  return std::string(kAttributePrefix) + std::string(name);
}

void AddSources(const RecordSource& records, const std::vector<std::string>& names,
                std::unordered_map<std::string, RecordXattrs::List>& out) {
  std::set<std::string> mocked;
  try {
    const Metadata m = RegenerateMetadata(records);
    mocked.insert(m.mocked.begin(), m.mocked.end());
  } catch (const Error&) {
    // Without the analysis every source still names its module; the action
    // falls back to the text itself (torch's mock stub).
  }
  for (const std::string& name : names) {
    if (IsFrameworkRecord(name)) continue;
    const std::optional<SourceRecordName> module = ModuleOfRecord(name);
    if (!module || module->module == "_mock") continue;
    const bool mock = mocked.contains(module->module) ||
                      (mocked.empty() && records.ReadRecord(name) == kMockStubSource);
    out[name] = {{Attr("module"), module->module}, {Attr("action"), mock ? "mock" : "intern"}};
  }
}

struct StorageFacts {
  std::string dtype;
  uint64_t numel = 0;
  std::string shape;
  std::string tensors;
};

void AddPickles(const RecordSource& records, FileKind kind,
                std::unordered_map<std::string, RecordXattrs::List>& out) {
  std::vector<std::pair<std::string, StorageFacts>> storages;  // in first-seen order
  for (const ModelPickle& p : ModelPickles(records, kind)) {
    const std::string bytes = records.ReadRecord(p.record);
    const std::span<const char> span(bytes.data(), bytes.size());
    PickleScan scan;
    std::vector<PickleTensor> tensors;
    try {
      scan = ScanPickle(span);
      tensors = FindPickleTensors(span);
    } catch (const Error&) {
      continue;  // not decodable: no facts rather than wrong ones
    }
    std::string globals;
    for (const PickleGlobal& g : scan.globals) globals += g.module + "." + g.name + "\n";
    out[p.record] = {{Attr("protocol"), std::to_string(scan.protocol)}, {Attr("globals"), globals}};
    for (const PickleTensor& t : tensors) {
      const std::string record = StorageRecordName(p, t.storage);
      auto it = std::find_if(storages.begin(), storages.end(),
                             [&](const auto& s) { return s.first == record; });
      if (it == storages.end()) {
        // In elements of the dtype: an untyped storage's numel counts bytes
        // (torch 2.x's float8, uint16...).
        const std::optional<uint32_t> element = ElementSizeOfDtype(t.dtype);
        const uint64_t numel =
            element && t.storage_bytes ? *t.storage_bytes / *element : t.storage.numel;
        storages.push_back({record, {t.dtype, numel, ShapeText(t.shape), ""}});
        it = storages.end() - 1;
      }
      it->second.tensors += p.record + " " + (t.path.empty() ? "(root)" : t.path) + " " + t.dtype +
                            ShapeText(t.shape) + "\n";
    }
  }
  for (auto& [record, facts] : storages) {
    out[record] = {{Attr("dtype"), facts.dtype},
                   {Attr("numel"), std::to_string(facts.numel)},
                   {Attr("shape"), facts.shape},
                   {Attr("tensors"), facts.tensors}};
  }
}

}  // namespace

RecordXattrs RecordXattrs::Compute(const RecordSource& records) {
  RecordXattrs a;
  const FileKind kind = DetectFileKind(records);
  if (kind == FileKind::kTorchPackage) AddSources(records, records.RecordNames(), a.by_record_);
  AddPickles(records, kind, a.by_record_);
  return a;
}

const RecordXattrs::List& RecordXattrs::Of(std::string_view record) const {
  static const List kNone;
  auto it = by_record_.find(std::string(record));
  return it == by_record_.end() ? kNone : it->second;
}

}  // namespace tpkg
