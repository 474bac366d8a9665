// What a model file holds (model_report.h).
#include "tpkg/model_report.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "scan/pickle_compat.h"
#include "tpkg/error.h"
#include "tpkg/export_program.h"
#include "tpkg/metadata.h"
#include "tpkg/model_tensors.h"
#include "tpkg/policy.h"

namespace tpkg {
namespace {

void AddUnreadable(ModelReport& report, const std::string& what) {
  if (std::find(report.unreadable.begin(), report.unreadable.end(), what) == report.unreadable.end())
    report.unreadable.push_back(what);
}

std::string Trimmed(std::string text) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!text.empty() && space(text.back())) text.pop_back();
  size_t start = 0;
  while (start < text.size() && space(text[start])) ++start;
  return text.substr(start);
}

std::string RecordText(const ZipReader& zip, std::string_view name) {
  const ZipEntry* entry = zip.Find(name);
  return entry ? Trimmed(ReadForAnalysis(zip, *entry)) : "";
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// InspectModel()'s progress: bytes of the records analysed, step by step.
struct AnalysisProgress {
  const ProgressCallback& callback;
  uint64_t total = 0;
  uint64_t done = 0;
  void Add(uint64_t bytes) {
    if (!callback) return;
    done = std::min(done + bytes, total);
    callback(done, total);
  }
};

// The source or stub record of module `name` in a package, "" if none.
std::string SourceRecordOf(const ZipReader& zip, const std::string& name) {
  std::string path = name;
  std::replace(path.begin(), path.end(), '.', '/');
  for (std::string candidate : {path + ".py", path + "/__init__.py"}) {
    if (zip.Find(candidate)) return candidate;
  }
  return "";
}

// The `code/` record that defines TorchScript module `name` ("__torch__.a.b"
// -> code/__torch__/a/b.py), "" if none.
std::string CodeRecordOf(const ZipReader& zip, const std::string& name) {
  std::string path = "code/" + name;
  std::replace(path.begin() + 5, path.end(), '.', '/');
  return zip.Find(path + ".py") ? path + ".py" : "";
}

// The pickles the loader of the file's kind reads and the storages they
// load, as `tpkg pickles` and `tpkg tensors` find them (model_tensors.h).
void ScanPickles(const ZipReader& zip, const std::vector<ModelPickle>& pickles, ModelReport& report,
                 AnalysisProgress& progress) {
  std::unordered_set<std::string> seen_storages;
  for (const ModelPickle& pickle : pickles) {
    const ZipEntry* found = zip.Find(pickle.record);
    if (found == nullptr) continue;  // a torch.save without data.pkl: a load problem
    const ZipEntry& e = *found;
    PickleInfo info;
    info.record = e.name;
    try {
      const std::string bytes = ReadForAnalysis(zip, e);
      PickleScan scan = ScanPickle(bytes);
      info.protocol = scan.protocol;
      info.globals = std::move(scan.globals);
      std::unordered_set<std::string> own;
      for (const StorageRef& ref : scan.storages) {
        std::string record = StorageRecordName(pickle, ref);
        if (!own.insert(record).second) continue;
        info.storage_records.push_back(record);
        if (seen_storages.insert(record).second) {
          const ZipEntry* storage = zip.Find(record);
          ++report.storages;
          if (storage) report.storage_bytes += storage->size;
        }
      }
    } catch (const Error& failure) {
      if (failure.code() != Errc::kCorrupt) throw;
      info.error = failure.what();
      report.problems.push_back(e.name + ": cannot be scanned: " + info.error);
      AddUnreadable(report, e.name);
    }
    report.pickles.push_back(std::move(info));
    progress.Add(e.size);
  }
}

// torch.export (.pt2): the weights are torch.save files nested as records,
// whose storages ModelTensors() reads; count those (the archive itself has
// no pickle of its own).
void CountNestedStorages(const ZipReader& zip, ModelReport& report, AnalysisProgress& progress) {
  std::unordered_set<std::string> seen;
  ProgressCallback step;
  if (progress.callback) {
    const uint64_t base = progress.done;
    step = [&progress, base](uint64_t done, uint64_t) { progress.Add(base + done - progress.done); };
  }
  try {
    for (const ModelTensor& t : ModelTensors(zip, step)) {
      if (!seen.insert(t.storage_record).second) continue;
      ++report.storages;
      report.storage_bytes += t.record_size;
    }
  } catch (const Error& failure) {
    if (failure.code() != Errc::kCorrupt && failure.code() != Errc::kUnsupported) throw;
    report.problems.push_back(std::string("weights cannot be read: ") + failure.what());
    if (failure.code() == Errc::kCorrupt) AddUnreadable(report, "the weights");
  }
}

// torch.export: the pickles of the nested torch.save files torch.export.load
// reads (state dict, constants, example inputs), named below their record.
std::vector<PickleInfo> NestedPickles(const ZipReader& zip, ModelReport& report,
                                      AnalysisProgress& progress) {
  std::vector<PickleInfo> out;
  for (const std::string& record : ExportNestedArchives(zip)) {
    if (const ZipEntry* e = zip.Find(record)) progress.Add(e->size);
    try {
      const ZipReader nested = OpenNestedZip(zip, record);
      for (const ModelPickle& pickle : ModelPickles(nested, DetectFileKind(nested))) {
        const ZipEntry* entry = nested.Find(pickle.record);
        if (entry == nullptr) continue;
        PickleInfo info;
        info.record = record + "/" + pickle.record;
        PickleScan scan = ScanPickle(ReadForAnalysis(nested, *entry));
        info.protocol = scan.protocol;
        info.globals = std::move(scan.globals);
        out.push_back(std::move(info));
      }
    } catch (const Error& failure) {
      if (failure.code() != Errc::kCorrupt && failure.code() != Errc::kUnsupported) throw;
      // The weights' own failure is already a problem (CountNestedStorages).
      const std::string said = std::string("weights cannot be read: ") + failure.what();
      if (std::find(report.problems.begin(), report.problems.end(), said) == report.problems.end())
        report.problems.push_back(record + ": cannot be scanned: " + failure.what());
      if (failure.code() == Errc::kCorrupt) AddUnreadable(report, record);
    }
  }
  return out;
}

void AddPackageModules(const ZipReader& zip, const MetadataOptions& analysis,
                       ModelReport& report) {
  const ZipRecordSource records(zip);
  report.metadata = RegenerateMetadata(records, analysis);
  const Metadata& m = *report.metadata;
  const DepGraph& graph = m.graph;
  const std::vector<std::string> undeclared_list = UndeclaredExterns(records, m);
  const std::unordered_set<std::string> undeclared(undeclared_list.begin(), undeclared_list.end());
  for (DepGraph::NodeId id = 0; id < graph.size(); ++id) {
    const NodeAttrs& attrs = graph.attrs(id);
    if (attrs.is_pickle) continue;
    const std::string& name = graph.name(id);
    ModuleInfo info;
    info.name = name;
    if (attrs.action) info.action = Lower(ActionName(*attrs.action));
    info.record = SourceRecordOf(zip, name);
    info.needed_by = graph.Rdeps(name);
    if (attrs.error) {
      info.problem = std::string(ReasonText(*attrs.error));
      if (attrs.error_context) info.problem += " " + *attrs.error_context;
    } else if (undeclared.contains(name)) {
      info.problem = "extern, but .data/extern_modules does not declare it";
    }
    report.modules.push_back(std::move(info));
  }
  report.interned = graph.NamesWithAction(Action::kIntern);
  report.externed = graph.NamesWithAction(Action::kExtern);
  report.mocked = graph.NamesWithAction(Action::kMock);
  report.denied = graph.NamesWithAction(Action::kDeny);
  for (std::string& line : PackagingErrorLines(m.problems))
    report.problems.push_back(std::move(line));
  for (const std::string& record : m.unreadable) AddUnreadable(report, record);
  if (std::string mismatch = ExternModulesMismatch(records, m); !mismatch.empty())
    report.problems.push_back(mismatch);
}

// torch.save, TorchScript and torch.export: the modules the pickles' globals name.
void AddPickleModules(const ZipReader& zip, const std::vector<PickleInfo>& pickles,
                      ModelReport& report) {
  std::unordered_map<std::string, size_t> index;
  for (const PickleInfo& pickle : pickles) {
    for (const PickleGlobal& global : pickle.globals) {
      // What the loader imports: Python 2 names mapped below protocol 3, as pickle does.
      const std::string module(pickle.protocol < 3 ? Python3Module(global.module)
                                                   : std::string_view(global.module));
      auto [it, added] = index.emplace(module, report.modules.size());
      if (added) {
        ModuleInfo info;
        info.name = module;
        info.action = "extern";
        const bool scripted = report.kind == FileKind::kTorchScript &&
                              (module == "__torch__" || module.starts_with("__torch__."));
        if (scripted) {
          info.action = "torchscript";
          info.record = CodeRecordOf(zip, module);
          // The module's own note; the report's problem is the load check's
          // (SerializedArchiveProblems: TorchScript code a pickle loads is missing).
          if (info.record.empty()) info.problem = "no code/ record defines it";
        }
        if (module.empty()) {
          info.problem = "a pickle global (" + global.name + ") with no module";
          report.problems.push_back(pickle.record + ": '': " + info.problem);
        }
        report.modules.push_back(std::move(info));
      }
      std::vector<std::string>& users = report.modules[it->second].needed_by;
      if (std::find(users.begin(), users.end(), pickle.record) == users.end())
        users.push_back(pickle.record);
    }
  }
  for (const ModuleInfo& m : report.modules) {
    if (m.action == "extern") report.externed.push_back(m.name);
  }
  std::sort(report.externed.begin(), report.externed.end());
}

// What InspectModel() reads, in bytes: the pickles, a package's sources
// (the metadata), a torch.export archive's nested files (twice: tensors,
// then pickles) and program.
uint64_t AnalysisWork(const ZipReader& zip, FileKind kind,
                      const std::vector<ModelPickle>& pickles) {
  uint64_t total = 0;
  for (const ModelPickle& pickle : pickles) {
    if (const ZipEntry* e = zip.Find(pickle.record)) total += e->size;
  }
  if (kind == FileKind::kTorchPackage) {
    for (const ZipEntry& e : zip.entries()) {
      if (!e.is_directory() && e.name.ends_with(".py")) total += e.size;
    }
  }
  if (kind == FileKind::kTorchExport) {
    total += ModelTensorsWork(zip);
    for (const std::string& record : ExportNestedArchives(zip)) total += zip.Find(record)->size;
    if (const ZipEntry* program = zip.Find(kExportProgramRecord)) total += program->size;
  }
  return total;
}

}  // namespace

ModelReport InspectModel(const ZipReader& zip, FileKind kind, const ProgressCallback& callback,
                         const MetadataOptions& analysis) {
  // Listed once: for a package, telling a pickle from a resource reads its first bytes.
  const std::vector<ModelPickle> pickles = ModelPickles(zip, kind);
  AnalysisProgress progress{callback, callback ? AnalysisWork(zip, kind, pickles) : 0};
  ModelReport report;
  report.path = zip.path();
  report.kind = kind;
  report.file_size = zip.file_size();
  report.prefix = zip.prefix();
  for (const ZipEntry& e : zip.entries()) {
    if (e.is_directory()) continue;
    ++report.records;
    report.record_bytes += e.size;
  }
  report.format_version =
      RecordText(zip, kind == FileKind::kTorchPackage ? ".data/version" : "version");
  report.python_version = RecordText(zip, ".data/python_version");
  report.serialization_id = RecordText(zip, ".data/serialization_id");
  ScanPickles(zip, pickles, report, progress);
  if (kind == FileKind::kTorchPackage) {
    AddPackageModules(zip, analysis, report);
    progress.Add(progress.total);
  } else if (kind == FileKind::kTorchScript || kind == FileKind::kTorchSave) {
    AddPickleModules(zip, report.pickles, report);
    // What its loader would fail on (a missing storage, data.pkl, code), as a save judges it.
    for (std::string& line :
         PackagingErrorLines(SerializedArchiveProblems(ZipRecordSource(zip), kind)))
      report.problems.push_back(std::move(line));
  } else if (kind == FileKind::kTorchExport) {
    CountNestedStorages(zip, report, progress);
    AddPickleModules(zip, NestedPickles(zip, report, progress), report);
    try {
      report.operators = ExportOperators(zip);
    } catch (const Error& failure) {
      if (failure.code() != Errc::kCorrupt && failure.code() != Errc::kUnsupported) throw;
      report.problems.push_back(std::string("the program cannot be read: ") + failure.what());
      if (failure.code() == Errc::kCorrupt) AddUnreadable(report, std::string(kExportProgramRecord));
    }
  }
  progress.Add(progress.total);
  return report;
}

std::vector<std::vector<std::string>> DependencyPaths(const DepGraph& graph,
                                                      std::string_view module, size_t limit) {
  std::vector<std::vector<std::string>> paths;
  const std::optional<DepGraph::NodeId> target = graph.Id(module);
  if (!target) return paths;
  // Depth first over predecessors; `chain` runs from the module back to a root.
  std::vector<DepGraph::NodeId> chain = {*target};
  std::vector<size_t> next = {0};
  std::vector<bool> on_chain(graph.size(), false);
  on_chain[*target] = true;
  while (!chain.empty() && paths.size() < limit) {
    const DepGraph::NodeId node = chain.back();
    const std::vector<DepGraph::NodeId>& preds = graph.predecessor_ids(node);
    if (next.back() == 0 && preds.empty() && chain.size() > 1) {
      std::vector<std::string> path;
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) path.push_back(graph.name(*it));
      paths.push_back(std::move(path));
    }
    size_t& i = next.back();
    while (i < preds.size() && on_chain[preds[i]]) ++i;  // cut cycles
    if (i < preds.size()) {
      const DepGraph::NodeId pred = preds[i++];
      chain.push_back(pred);
      next.push_back(0);
      on_chain[pred] = true;
    } else {
      on_chain[node] = false;
      chain.pop_back();
      next.pop_back();
    }
  }
  return paths;
}

}  // namespace tpkg
