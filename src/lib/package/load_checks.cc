// CheckStorages / CheckPickleGlobals / CheckVersion: the loader's needs beyond modules;
// CheckNewDangerousGlobals: what a save must not add.
#include "package/load_checks.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "package/extern_list.h"
#include "scan/command_globals.h"
#include "scan/pickle_compat.h"
#include "scan/pickle_observer.h"
#include "scan/pickle_sniff.h"
#include "scan/py_name_bytes.h"
#include "tpkg/error.h"
#include "tpkg/import_scan.h"
#include "tpkg/model_tensors.h"
#include "tpkg/pickle_scan.h"
#include "tpkg/pickle_tensors.h"
#include "tpkg/torch_records.h"

namespace tpkg {
namespace {

void AddProblem(DepGraph& graph, const std::string& node, PackagingErrorReason reason,
                const std::string& context) {
  NodeAttrs& attrs = graph.AddNode(node);
  if (attrs.error) return;
  attrs.error = reason;
  attrs.error_context = context;
}

}  // namespace

uint64_t StorageElementSize(const PickleGlobal& storage_class) {
  const std::optional<StorageDtype> dtype = DtypeOfStorageClass(storage_class);
  return dtype ? dtype->element_size : 0;
}

namespace {

// What a loader holds for one storage record: the bytes of its first load
// (torch.package's loaded_storages and torch.load's are keyed so).
// `overflows`: numel x element size is over 64 bits, which no record holds.
struct LoadedStorage {
  uint64_t bytes = 0;
  bool knowable = false;
  bool overflows = false;
};
using LoadedStorages = std::unordered_map<std::string, LoadedStorage>;

// What a load by `ref` reads: numel x element size, when knowable.
LoadedStorage LoadOf(const StorageRef& ref) {
  const uint64_t element = StorageElementSize(ref.storage_type);
  if (element == 0) return LoadedStorage{};
  const std::optional<uint64_t> bytes = StorageBytes(ref.numel, element);
  return LoadedStorage{bytes.value_or(0), bytes.has_value(), !bytes.has_value()};
}

// Notes the first load of `record` by `ref`.
void NoteLoad(LoadedStorages& loaded, const std::string& record, const StorageRef& ref) {
  loaded.try_emplace(record, LoadOf(ref));
}

// Widens what `loaded` knows of `record` to cover `load` too: the bigger of
// the two, and not knowable for good once one is not.
void Widen(LoadedStorages& loaded, const std::string& record, const LoadedStorage& load) {
  const auto [it, added] = loaded.try_emplace(record, load);
  if (added || !it->second.knowable) return;
  it->second = load.knowable ? LoadedStorage{std::max(it->second.bytes, load.bytes), true} : load;
}

// The storage record `record` that `pickle_record` loads by `ref`: missing
// from `present` (the names of the package or archive, `container`) or
// shorter than the load reads.
void CheckStorageRecord(const RecordSource& records, const std::unordered_set<std::string>& present,
                        const std::string& pickle_record, const std::string& record,
                        const StorageRef& ref, std::string_view container, DepGraph& problems) {
  if (!present.contains(record)) {
    AddProblem(problems, record, PackagingErrorReason::kMissingStorage,
               "loaded by " + pickle_record + ", and the " + std::string(container) +
                   " has no such record");
    return;
  }
  const LoadedStorage load = LoadOf(ref);
  if (load.overflows) {
    AddProblem(problems, record, PackagingErrorReason::kMissingStorage,
               "loaded by " + pickle_record + " as " + std::to_string(ref.numel) + " x " +
                   ref.storage_type.name +
                   ", more than 2^64 bytes: no record holds that, and torch cannot load it");
    return;
  }
  if (!load.knowable) return;
  if (const uint64_t size = records.RecordSize(record); size < load.bytes) {
    AddProblem(problems, record, PackagingErrorReason::kMissingStorage,
               "loaded by " + pickle_record + " as " + std::to_string(ref.numel) + " x " +
                   ref.storage_type.name + " (" + std::to_string(load.bytes) +
                   " bytes), and the record holds " + std::to_string(size));
  }
}

// A tensor of `pickle_record` that reaches past what its storage's first
// load read: `record_of` names a storage's record ("" for one not checked).
void CheckTensorExtents(const std::string& pickle_record, const std::vector<StorageRef>& storages,
                        const std::vector<TensorExtent>& tensors,
                        const std::function<std::string(const StorageRef&)>& record_of,
                        const LoadedStorages& loaded, DepGraph& problems) {
  for (const TensorExtent& t : tensors) {
    if (t.storage >= storages.size()) continue;
    const StorageRef& ref = storages[t.storage];
    const std::string record = record_of(ref);
    if (record.empty()) continue;
    if (t.overflows) {
      AddProblem(problems, record, PackagingErrorReason::kMissingStorage,
                 "a tensor of " + pickle_record + " spans 2^64 elements of " +
                     ref.storage_type.name +
                     " or more (its offset, sizes and strides overflow): torch cannot set it "
                     "on any storage");
      continue;
    }
    const auto it = loaded.find(record);
    const uint64_t element = StorageElementSize(ref.storage_type);
    if (it == loaded.end() || !it->second.knowable || element == 0) continue;
    const std::optional<uint64_t> bytes = StorageBytes(t.elements, element);
    if (!bytes) {
      AddProblem(problems, record, PackagingErrorReason::kMissingStorage,
                 "a tensor of " + pickle_record + " spans " + std::to_string(t.elements) + " x " +
                     ref.storage_type.name + ", more than 2^64 bytes, and torch loads " +
                     std::to_string(it->second.bytes));
      continue;
    }
    const uint64_t needed = *bytes;
    if (needed > it->second.bytes) {
      AddProblem(problems, record, PackagingErrorReason::kMissingStorage,
                 "a tensor of " + pickle_record + " spans " + std::to_string(t.elements) + " x " +
                     ref.storage_type.name + " (" + std::to_string(needed) +
                     " bytes, offset included), and torch loads " +
                     std::to_string(it->second.bytes) + " bytes for this storage");
    }
  }
}

// Where PackageImporter reads the storage of a save_pickle pickle's
// persistent id (model_tensors.h's rule for such a pickle).
std::string PackageStorageRecord(const StorageRef& ref) {
  static const ModelPickle kSavePickle{"", ".data/", /*keys_add_suffix=*/true};
  return StorageRecordName(kSavePickle, ref);
}

}  // namespace

void CheckStorages(const ArchiveLayout& layout, const RecordSource& records,
                   const std::vector<std::string>& names, DepGraph& problems) {
  const std::unordered_set<std::string> present(names.begin(), names.end());
  // The first persistent id of a key decides, as in PackageImporter's
  // loaded_storages (pickles are loaded in record order).
  LoadedStorages loaded;
  for (const ArchivePickle& pickle : layout.pickles()) {
    for (const StorageRef& ref : pickle.storages) {
      const std::string record = PackageStorageRecord(ref);
      NoteLoad(loaded, record, ref);
      CheckStorageRecord(records, present, pickle.record, record, ref, "package", problems);
    }
    CheckTensorExtents(pickle.record, pickle.storages, pickle.tensors, PackageStorageRecord, loaded,
                       problems);
  }
}

void CheckEditedOtherPickles(const ArchiveLayout& layout, const RecordSource& records,
                             const std::vector<std::string>& names,
                             const std::function<bool(const std::string&)>& edited,
                             DepGraph& problems) {
  if (!edited) return;
  std::unordered_set<std::string> layout_pickles;
  LoadedStorages largest;  // by record: the most bytes a layout pickle's first load reads
  for (const ArchivePickle& pickle : layout.pickles()) {
    layout_pickles.insert(pickle.record);
    for (const StorageRef& ref : pickle.storages) {
      Widen(largest, PackageStorageRecord(ref), LoadOf(ref));
    }
  }
  const std::unordered_set<std::string> present(names.begin(), names.end());
  for (const std::string& record : names) {
    if (!edited(record) || layout_pickles.contains(record) || record.ends_with(".py") ||
        record.ends_with('/') || record.starts_with(".data/"))
      continue;
    PickleScan scan;
    try {
      const std::string head = records.ReadPrefix(record, 2);
      // What load_pickle may read: a `.pkl`, or a record opening with PROTO.
      if (!record.ends_with(".pkl") && (head.empty() || head[0] != '\x80')) continue;
      const std::string bytes = ReadForAnalysis(records, record);
      if (pickle::SniffPickle(bytes) == pickle::Sniff::kNo) continue;
      scan = ScanPickle(std::span<const char>(bytes.data(), bytes.size()));
    } catch (const Error&) {
      continue;  // not scannable here: torch may still load it
    }
    LoadedStorages loaded = largest;  // its own first loads, where bigger
    for (const StorageRef& ref : scan.storages) {
      const std::string storage = PackageStorageRecord(ref);
      if (!present.contains(storage)) {
        AddProblem(problems, storage, PackagingErrorReason::kMissingStorage,
                   "loaded by " + record + ", and the package has no such record");
        continue;
      }
      Widen(loaded, storage, LoadOf(ref));
    }
    CheckTensorExtents(record, scan.storages, scan.tensors, PackageStorageRecord, loaded, problems);
  }
}

namespace {

// A record's bytes, or nullopt when they cannot be read: a damaged source
// is a problem of its own already (the layout's unreadable source) and
// decides nothing here.
std::optional<std::string> ReadIfReadable(const RecordSource& records, const std::string& record) {
  try {
    return records.ReadRecord(record);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Where the TorchScript code of a kind's pickles lives, or "" for a kind
// without any (torch.save).
std::string_view ScriptCodeFolder(FileKind kind) {
  switch (kind) {
    case FileKind::kTorchPackage: return ".data/ts_code/code/";
    case FileKind::kTorchScript: return "code/";
    default: return "";
  }
}

// The code record of a TorchScript class's module: `__torch__` is
// `__torch__.py`, `__torch__.a.b` is `__torch__/a/b.py` (torch's source
// importer turns a qualifier into a path so), or "" for another module and
// for a custom C++ class (`__torch__.torch.classes.*`: torch finds it
// registered and never reads a file for it, though it writes an empty one).
std::string ScriptCodeRecord(std::string_view folder, std::string_view module) {
  if (folder.empty() || (module != "__torch__" && !module.starts_with("__torch__.")) ||
      module == "__torch__.torch.classes" || module.starts_with("__torch__.torch.classes."))
    return "";
  std::string path(module);
  std::replace(path.begin(), path.end(), '.', '/');
  return std::string(folder) + path + ".py";
}

// The storages of a torch.save or TorchScript pickle, and the tensors on them
// (torch.load keeps the first load of each key for its pickle).
void CheckStorageRecords(const RecordSource& records, const ModelPickle& pickle,
                         const PickleScan& scan, const std::unordered_set<std::string>& present,
                         DepGraph& problems) {
  const auto record_of = [&pickle](const StorageRef& ref) {
    return StorageRecordName(pickle, ref);
  };
  LoadedStorages loaded;
  for (const StorageRef& ref : scan.storages) {
    const std::string record = record_of(ref);
    NoteLoad(loaded, record, ref);
    CheckStorageRecord(records, present, pickle.record, record, ref, "archive", problems);
  }
  CheckTensorExtents(pickle.record, scan.storages, scan.tensors, record_of, loaded, problems);
}

void CheckScriptCode(const ModelPickle& pickle, const std::vector<PickleGlobal>& globals,
                     std::string_view folder, const std::unordered_set<std::string>& present,
                     DepGraph& problems) {
  for (const PickleGlobal& g : globals) {
    const std::string record = ScriptCodeRecord(folder, g.module);
    if (record.empty() || present.contains(record)) continue;
    AddProblem(problems, record, PackagingErrorReason::kMissingScriptCode,
               "the code of " + g.module + "." + g.name + ", loaded by " + pickle.record);
  }
}

}  // namespace

void CheckSerializedPickles(const RecordSource& records, const std::vector<std::string>& names,
                            FileKind kind, DepGraph& problems) {
  // A package's TorchScript pickles are known by name: ModelPickles would
  // also look at the head of every other record for save_pickle's.
  std::vector<ModelPickle> pickles;
  if (kind == FileKind::kTorchPackage) {
    for (const std::string& name : names)
      if (IsPackagedScriptPickle(name)) pickles.push_back({name, ".data/", false});
  } else {
    pickles = ModelPickles(records, kind);
  }
  if (pickles.empty()) return;  // most packages: no set of every name to build
  const std::unordered_set<std::string> present(names.begin(), names.end());
  for (const ModelPickle& pickle : pickles) {
    if (pickle.keys_add_suffix || !present.contains(pickle.record)) continue;
    PickleScan scan;
    try {
      const std::string bytes = ReadForAnalysis(records, pickle.record);
      scan = ScanPickle(std::span<const char>(bytes.data(), bytes.size()));
    } catch (const Error&) {
      continue;  // not scannable here: torch may still load it
    }
    CheckStorageRecords(records, pickle, scan, present, problems);
    CheckScriptCode(pickle, scan.globals, ScriptCodeFolder(kind), present, problems);
  }
}

void CheckEditedScriptCode(const RecordSource& records, const std::vector<std::string>& names,
                           FileKind kind, const std::function<bool(const std::string&)>& edited,
                           DepGraph& problems) {
  const std::string_view folder = ScriptCodeFolder(kind);
  if (folder.empty() || !edited) return;
  for (const std::string& name : names) {
    if (!name.starts_with(folder) || !name.ends_with(".py") || !edited(name)) continue;
    const std::optional<std::string> source = ReadIfReadable(records, name);
    if (!source) continue;
    try {
      (void)ScanImports(*source, "");
    } catch (const Error& e) {
      AddProblem(problems, name, PackagingErrorReason::kScriptCodeSyntax, e.what());
    }
  }
}

void CheckEditedSourcesCompile(const ArchiveLayout& layout, const RecordSource& records,
                               const std::function<bool(const std::string&)>& edited,
                               DepGraph& problems) {
  if (!edited) return;
  for (const std::string& name : layout.module_order()) {
    const ArchiveModule* module = layout.Module(name);
    if (!module || module->is_stub || module->imports->error || !edited(module->record)) continue;
    const std::optional<std::string> source = ReadIfReadable(records, module->record);
    if (!source) continue;
    if (std::optional<std::string> why = FindCompileError(*source))
      AddProblem(problems, name, PackagingErrorReason::kSourceCompileError, *why);
  }
}

void CheckPackagedScriptModules(const ArchiveLayout& layout, const RecordSource& records,
                                const std::vector<std::string>& names, DepGraph& problems) {
  static const std::pair<std::string, std::string> kUnpackage{"torch.jit._script",
                                                              "unpackage_script_module"};
  std::optional<std::unordered_set<std::string>> present;  // made for the first such pickle
  for (const ArchivePickle& pickle : layout.pickles()) {
    const auto& globals = pickle.deps.globals;
    if (std::find(globals.begin(), globals.end(), kUnpackage) == globals.end()) continue;
    if (!present) present.emplace(names.begin(), names.end());
    const std::optional<std::string> bytes = ReadIfReadable(records, pickle.record);
    if (!bytes) continue;  // an unreadable pickle is a problem of its own
    std::vector<ReducePackageRef> refs;
    try {
      refs = ScanPickle(std::span<const char>(bytes->data(), bytes->size())).reduce_packages;
    } catch (const Error&) {
      continue;  // the layout's own scan said what is wrong with it
    }
    for (const ReducePackageRef& ref : refs) {
      if (ref.func.module != kUnpackage.first || ref.func.name != kUnpackage.second ||
          ref.first_arg.empty())
        continue;
      for (const char* part : {"data.pkl", "constants.pkl"}) {
        const std::string record = ".data/ts_code/" + ref.first_arg + "/" + part;
        if (present->contains(record)) continue;
        AddProblem(problems, record, PackagingErrorReason::kMissingScriptCode,
                   "TorchScript module " + ref.first_arg + ", loaded by " + pickle.record);
      }
    }
  }
}

namespace {

bool IsWordByte(char c) { return py::IsNameByte(static_cast<unsigned char>(c)); }

// Whether `word` occurs in `text` with no identifier character on either
// side. Comments and strings count too: they only make the check miss.
bool HasWord(std::string_view text, std::string_view word) {
  for (size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    const size_t end = at + word.size();
    if ((at == 0 || !IsWordByte(text[at - 1])) && (end == text.size() || !IsWordByte(text[end])))
      return true;
  }
  return false;
}

// A star import (`from x import *`, any spacing) or a module __getattr__:
// either can give the module names its text never spells.
bool MayDefineAnything(std::string_view text) {
  if (HasWord(text, "__getattr__")) return true;
  for (size_t at = text.find('*'); at != std::string_view::npos; at = text.find('*', at + 1)) {
    size_t before = at;
    while (before > 0 && (text[before - 1] == ' ' || text[before - 1] == '\t' ||
                          text[before - 1] == '\\' || text[before - 1] == '\n'))
      --before;
    if (before >= 6 && text.substr(before - 6, 6) == "import") return true;
  }
  return false;
}

// A name of a packaged module (a pickle's global, or what a source imports
// from it) that may have lost its definition.
struct Suspect {
  std::string global;  // module.name
  std::string first;   // the name's first part, which the module must bind
  std::string user;    // what needs it: the pickle's record, or the importing module
  std::string module_name;
  // The module's source now; null when only a folder holds it (no
  // __init__.py: a namespace package, which binds only its submodules).
  const ArchiveModule* module;
  const ArchiveModule* importer = nullptr;  // the importing module; its text spells the name
  std::string before = {};                  // the module's record as opened (NamesTheEditsRemoved)
};

// The module a name is looked up in, when the edits may have changed what
// binds names in it: its source was edited, or it is only a folder now
// (whether it had a source as opened, NamesTheEditsRemoved finds). Null
// `module` with true: the folder.
bool MayHaveChanged(const ArchiveLayout& layout, const std::string& module_name,
                    const std::function<bool(const std::string&)>& edited,
                    const ArchiveModule*& module) {
  module = layout.Module(module_name);
  if (!module) return layout.HasFolder(module_name);
  return !module->is_stub && edited(module->record);
}

// The globals of every pickle whose module may have changed, grouped by
// module (each source is read once).
std::map<std::string, std::vector<Suspect>> GlobalsOfChangedModules(
    const ArchiveLayout& layout, const std::function<bool(const std::string&)>& edited) {
  std::map<std::string, std::vector<Suspect>> by_module;
  std::unordered_map<std::string, const ArchiveModule*> changed;  // null module: a folder
  std::unordered_set<std::string> unchanged;
  std::unordered_set<std::string> seen;
  for (const ArchivePickle& pickle : layout.pickles()) {
    for (const auto& [module_name, name] : pickle.deps.globals) {
      if (name.empty() || unchanged.contains(module_name)) continue;
      auto found = changed.find(module_name);
      if (found == changed.end()) {
        const ArchiveModule* module = nullptr;
        if (!MayHaveChanged(layout, module_name, edited, module)) {
          unchanged.insert(module_name);  // its text is what loaded before
          continue;
        }
        found = changed.emplace(module_name, module).first;
      }
      std::string first = name.substr(0, name.find('.'));
      std::string global = module_name + "." + name;
      if (!seen.insert(global).second || layout.Provides(module_name + "." + first)) continue;
      by_module[module_name].push_back(
          {std::move(global), std::move(first), pickle.record, module_name, found->second});
    }
  }
  return by_module;
}

// The record that held `module_name` as opened (`module` is where it is now,
// or null) and its text; nullopt when none did or it cannot be read.
std::optional<std::pair<std::string, std::string>> SourceAsOpened(const RecordSource& baseline,
                                                                  const std::string& module_name,
                                                                  const ArchiveModule* module) {
  std::string path = module_name;
  std::replace(path.begin(), path.end(), '.', '/');
  for (const std::string& record :
       {module ? module->record : std::string(), path + ".py", path + "/__init__.py"}) {
    if (record.empty()) continue;
    if (std::optional<std::string> text = ReadIfReadable(baseline, record))
      return std::pair(record, std::move(*text));
  }
  return std::nullopt;
}

// Those the edits took away: the source as opened spelled the name, and the
// module's source now does not and has no way to bind names it does not
// spell, or the module is only a folder now.
std::vector<Suspect> NamesTheEditsRemoved(std::map<std::string, std::vector<Suspect>> by_module,
                                          const RecordSource& records,
                                          const RecordSource& baseline) {
  std::vector<Suspect> suspects;
  for (auto& [module_name, candidates] : by_module) {
    const ArchiveModule* module = candidates.front().module;
    const auto before = SourceAsOpened(baseline, module_name, module);
    const std::optional<std::string> now =
        module ? ReadIfReadable(records, module->record) : std::string();
    if (!before || !now || MayDefineAnything(*now)) continue;
    for (Suspect& s : candidates) {
      if (!HasWord(before->second, s.first) || HasWord(*now, s.first)) continue;
      s.before = before->first;
      suspects.push_back(std::move(s));
    }
  }
  return suspects;
}

// Drops the suspects another source spells (it may set them from outside;
// on a folder's module it must spell the module's own name too, as
// `pkg.mod.Name = ...` does): each source read once and dropped before the
// next (the analysis's memory bound: one record at a time).
void DropThoseOtherSourcesSpell(const ArchiveLayout& layout, const RecordSource& records,
                                std::vector<Suspect>& suspects) {
  for (const std::string& other : layout.module_order()) {
    if (suspects.empty()) return;
    const ArchiveModule* m = layout.Module(other);
    if (!m || m->is_stub) continue;
    const auto own = [m](const Suspect& s) { return s.module == m || s.importer == m; };
    if (std::all_of(suspects.begin(), suspects.end(), own)) continue;
    const std::optional<std::string> text = ReadIfReadable(records, m->record);
    std::erase_if(suspects, [&](const Suspect& s) {
      if (own(s)) return false;
      if (!text) return true;  // unreadable: it might
      return HasWord(*text, s.first) &&
             (s.module || HasWord(*text, s.module_name.substr(s.module_name.rfind('.') + 1)));
    });
  }
}

// Why the module no longer binds the suspect's name, after "and ".
std::string NoLongerDefined(const Suspect& s) {
  if (!s.module) {
    return s.before + ", which defined " + s.first + ", is gone: " + s.module_name +
           " is now a folder without __init__.py, which binds only its submodules";
  }
  if (s.module->record != s.before) {
    return "the edited " + s.module->record + ", which took the place of " + s.before +
           ", does not define " + s.first;
  }
  return "the edited " + s.module->record + " no longer defines " + s.first;
}

}  // namespace

void CheckPickleGlobals(const ArchiveLayout& layout, const RecordSource& records,
                        const MetadataOptions& options, DepGraph& problems) {
  if (!options.edited) {
    CheckGlobalsOfFolderModules(layout, records, problems);
    return;
  }
  if (!options.baseline) return;
  std::vector<Suspect> suspects = NamesTheEditsRemoved(
      GlobalsOfChangedModules(layout, options.edited), records, *options.baseline);
  DropThoseOtherSourcesSpell(layout, records, suspects);
  for (const Suspect& s : suspects) {
    AddProblem(problems, s.global, PackagingErrorReason::kMissingGlobal,
               "loaded by " + s.user + ", and " + NoLongerDefined(s));
  }
}

void CheckGlobalsOfFolderModules(const ArchiveLayout& layout, const RecordSource& records,
                                 DepGraph& problems) {
  // A declared extern is imported from outside the package (with files under
  // it, the layout's own problem: the importer refuses the package).
  const std::optional<std::string> extern_text = ReadIfReadable(records, ".data/extern_modules");
  const std::vector<std::string> extern_list =
      extern_text ? ParseExternModules(*extern_text) : std::vector<std::string>();
  const std::unordered_set<std::string> externs(extern_list.begin(), extern_list.end());
  std::vector<Suspect> suspects;
  std::unordered_set<std::string> seen;
  for (const ArchivePickle& pickle : layout.pickles()) {
    for (const auto& [module_name, name] : pickle.deps.globals) {
      if (name.empty() || layout.Module(module_name) || !layout.HasFolder(module_name) ||
          DeclaredExtern(module_name, externs))
        continue;
      std::string first = name.substr(0, name.find('.'));
      std::string global = module_name + "." + name;
      if (!seen.insert(global).second || layout.Provides(module_name + "." + first)) continue;
      suspects.push_back(
          {std::move(global), std::move(first), pickle.record, module_name, nullptr});
    }
  }
  DropThoseOtherSourcesSpell(layout, records, suspects);
  for (const Suspect& s : suspects) {
    AddProblem(problems, s.global, PackagingErrorReason::kMissingGlobal,
               "loaded by " + s.user + ", and " + s.module_name +
                   " is a folder without __init__.py, which binds only its submodules");
  }
}

bool RecordSpells(const RecordSource& records, const std::string& record, std::string_view word) {
  const std::optional<std::string> text = ReadIfReadable(records, record);
  return text && HasWord(*text, word);
}

void CheckImportedNames(const ArchiveLayout& layout, const RecordSource& records,
                        const std::vector<UnresolvedImport>& unresolved,
                        const MetadataOptions& options, DepGraph& problems) {
  if (!options.edited || !options.baseline) return;
  std::map<std::string, std::vector<Suspect>> by_module;
  std::set<std::pair<std::string, std::string>> seen;  // (module.name, importer)
  for (const UnresolvedImport& u : unresolved) {
    // `from X import n` where X loaded and X.n is no module: n is a name X binds.
    if (!u.from_import_name || !u.fell_back_to_parent) continue;
    const size_t dot = u.name.rfind('.');
    const std::string module_name = u.name.substr(0, dot);
    const ArchiveModule* module = nullptr;
    if (!MayHaveChanged(layout, module_name, options.edited, module) ||
        !seen.emplace(u.name, u.importer).second)
      continue;
    by_module[module_name].push_back({u.name, u.name.substr(dot + 1), u.importer, module_name,
                                      module, layout.Module(u.importer)});
  }
  if (by_module.empty()) return;
  std::vector<Suspect> suspects =
      NamesTheEditsRemoved(std::move(by_module), records, *options.baseline);
  DropThoseOtherSourcesSpell(layout, records, suspects);
  for (const Suspect& s : suspects) {
    AddProblem(problems, s.global, PackagingErrorReason::kMissingName,
               "imported by " + s.user + ", and " + NoLongerDefined(s));
  }
}

namespace {

using Global = std::pair<std::string, std::string>;  // (module, name)

// A global that a computed STACK_GLOBAL loads: which one, only the loading
// program knows (a pickle can build "os" from globals that are harmless).
const Global kComputedGlobal{"<computed>", ""};

// What may not enter a package by an edit: a global that runs code or
// commands on its own (scan/command_globals.h), or a computed one.
bool MayNotEnter(const Global& global) {
  return global == kComputedGlobal || RunsCommands(global.first, global.second);
}

// Collects the globals a pickle names, a computed one as kComputedGlobal, up
// to where it breaks. Each module as the importer resolves it: demangled
// ("<torch_package_0>.builtins" is builtins). Python 2 names stay as written
// (the messages name them so): command_globals.h lists those that matter.
class GlobalCollector : public pickle::Observer {
 public:
  void OnGlobal(size_t, uint8_t, std::string_view module, std::string_view name) override {
    DemanglePackageModule(module);
    globals.emplace_back(std::string(module), std::string(name));
  }
  void OnDynamicGlobal(size_t) override { globals.push_back(kComputedGlobal); }
  void OnExtension(size_t, uint8_t, uint64_t) override {}
  void OnFrameAnomaly(size_t, std::string_view) override {}
  void OnData(size_t, std::string_view) override {}
  std::vector<Global> globals;
};

// The globals `record` loads when PackageImporter.load_pickle reads it: any
// record that is a pickle by tpkg scan's rule (scan/pickle_sniff.h), of any
// protocol (0 to 5: torch's exporter writes 3 or 4, its importer reads all),
// under any name; empty for any other record. Sources and `.data/` (which no
// load_pickle names) are not read.
std::vector<Global> PickleGlobalsOf(const RecordSource& records, const std::string& record) {
  if (record.ends_with(".py") || record.starts_with(".data/") || record.ends_with('/')) return {};
  try {
    if (pickle::SniffPickleHead(records.ReadPrefix(record, 2)) == pickle::Sniff::kNo) return {};
    const std::string bytes = ReadForAnalysis(records, record);
    if (pickle::SniffPickle(bytes) == pickle::Sniff::kNo) return {};
    GlobalCollector collector;
    try {
      ScanPickleObserved(std::span<const char>(bytes.data(), bytes.size()), PickleScanLimits{},
                         collector);
    } catch (const Error&) {
      // What it named before it broke has been loaded (pickle_sniff.h).
    }
    return std::move(collector.globals);
  } catch (const Error&) {
    return {};  // unreadable or too large: not the edit's to judge here
  }
}

// Every global the pickles of `baseline` load.
std::set<Global> AllPickleGlobals(const RecordSource& baseline) {
  std::set<Global> globals;
  for (const std::string& record : baseline.RecordNames())
    for (Global& g : PickleGlobalsOf(baseline, record)) globals.insert(std::move(g));
  return globals;
}

// The globals of the edited records that may not enter (MayNotEnter), from
// modules `packaged` does not hold, and that no pickle of `baseline` loaded:
// kDangerousGlobal nodes.
void AddNewDangerousGlobals(const RecordSource& records, const std::vector<std::string>& names,
                            const RecordSource& baseline,
                            const std::function<bool(const std::string&)>& edited,
                            const std::function<bool(const std::string&)>& packaged,
                            DepGraph& problems) {
  std::vector<std::pair<Global, const std::string*>> found;  // (global, edited record)
  for (const std::string& record : names) {
    if (!edited(record)) continue;
    for (Global& global : PickleGlobalsOf(records, record)) {
      if (packaged(global.first)) continue;  // the package's own code: its source is there
      if (MayNotEnter(global)) found.emplace_back(std::move(global), &record);
    }
  }
  if (found.empty()) return;  // the baseline is read only when it must be
  const std::set<Global> before = AllPickleGlobals(baseline);
  std::set<std::pair<std::string, std::string>> named;  // (global, record)
  for (const auto& [global, record] : found) {
    if (before.contains(global)) continue;
    const std::string text = global == kComputedGlobal ? "a global computed while loading"
                                                       : global.first + "." + global.second;
    if (!named.emplace(text, *record).second) continue;
    AddProblem(problems, text, PackagingErrorReason::kDangerousGlobal,
               "loaded by the edited " + *record);
  }
}

// Whether `record` of `records` is a whole pickle: nullopt when it cannot be
// judged (unreadable, too large to analyse), else why it is not one ("" when
// it is).
std::optional<std::string> WhyNotAPickle(const RecordSource& records, const std::string& record) {
  std::string bytes;
  try {
    bytes = ReadForAnalysis(records, record);
  } catch (const Error&) {
    return std::nullopt;  // unreadable records are problems of their own
  }
  if (bytes.empty()) return "it is empty";
  if (pickle::SniffPickle(bytes) == pickle::Sniff::kNo) return "it does not start as a pickle";
  GlobalCollector collector;
  try {
    ScanPickleObserved(std::span<const char>(bytes.data(), bytes.size()), PickleScanLimits{},
                       collector);
  } catch (const Error& e) {
    return std::string(e.what());  // also a scan limit: the baseline's verdict decides
  }
  return std::string();
}

// A torch.save or TorchScript storage record: `data/<digits>` (the prefix
// folder stripped), which torch reads raw.
bool IsStorageRecordName(std::string_view record) {
  if (!record.starts_with("data/") || record.size() == 5) return false;
  return record.substr(5).find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

void CheckEditedPicklesStillLoad(const RecordSource& records, const std::vector<std::string>& names,
                                 const RecordSource& baseline,
                                 const std::function<bool(const std::string&)>& edited,
                                 const std::function<bool(const std::string&)>& judged_elsewhere,
                                 DepGraph& problems) {
  const std::vector<std::string> before_names = baseline.RecordNames();
  const std::unordered_set<std::string> before(before_names.begin(), before_names.end());
  for (const std::string& record : names) {
    if (record.ends_with('/') || record.ends_with(".py") || !edited(record) ||
        !before.contains(record) || (judged_elsewhere && judged_elsewhere(record)))
      continue;
    // Only what a loader unpickles: a `.pkl`, or a record that opened with a
    // PROTO opcode (protocol 2 and up, as torch and save_pickle write). Not a
    // storage, nor text or a binary resource that happened to parse as a
    // pickle (load_binary may read anything).
    if (record.starts_with(".data/") || IsStorageRecordName(record)) continue;
    try {  // the cheap test first: most edited records were never pickles
      const std::string head = baseline.ReadPrefix(record, 2);
      const bool proto = head.size() == 2 && head[0] == '\x80' && head[1] >= 2 && head[1] <= 5;
      if (!record.ends_with(".pkl") && !proto) continue;
      if (pickle::SniffPickleHead(head) == pickle::Sniff::kNo) continue;
    } catch (const Error&) {
      continue;
    }
    const std::optional<std::string> now = WhyNotAPickle(records, record);
    if (!now || now->empty()) continue;
    const std::optional<std::string> then = WhyNotAPickle(baseline, record);
    if (!then || !then->empty()) continue;  // not a whole pickle before either
    AddProblem(problems, record, PackagingErrorReason::kUnreadablePickle,
               "a pickle before the edits, no longer one: " + *now);
  }
}

void CheckNewDangerousGlobals(const ArchiveLayout& layout, const RecordSource& records,
                              const std::vector<std::string>& names, const MetadataOptions& options,
                              DepGraph& problems) {
  if (!options.edited || !options.baseline) return;
  AddNewDangerousGlobals(
      records, names, *options.baseline, options.edited,
      [&layout](const std::string& module) {
        const ArchiveModule* packaged = layout.Module(module);
        return packaged && !packaged->is_stub;
      },
      problems);
}

namespace {

bool Lists(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The version record torch's reader reads first (`.data/version`, else
// `version`) must be there and hold a version it loads; `what` names the
// archive in the message ("package", "archive").
void CheckVersionRecord(const RecordSource& records, const std::vector<std::string>& names,
                        std::string_view what, DepGraph& problems) {
  const bool data_version = Lists(names, ".data/version");
  const std::string record = data_version ? ".data/version" : "version";
  if (!data_version && !Lists(names, "version")) {
    AddProblem(problems, ".data/version", PackagingErrorReason::kUnsupportedVersion,
               "the " + std::string(what) + " has no version record");
    return;
  }
  const std::string text = records.ReadPrefix(record, 64);
  const std::optional<uint64_t> version = ParseTorchVersion(text);
  if (!version) {
    AddProblem(problems, record, PackagingErrorReason::kUnsupportedVersion,
               "not a number, torch cannot parse the version");
  } else if (*version < kMinSupportedVersion || *version > kMaxSupportedVersion) {
    AddProblem(problems, record, PackagingErrorReason::kUnsupportedVersion,
               "version " + std::to_string(*version) + ", and torch 1.13 and 2.6 load " +
                   std::to_string(kMinSupportedVersion) + " to " +
                   std::to_string(kMaxSupportedVersion));
  }
}

}  // namespace

void CheckVersion(const RecordSource& records, const std::vector<std::string>& names,
                  DepGraph& problems) {
  if (!Lists(names, ".data/version") && !Lists(names, ".data/extern_modules"))
    return;  // not a torch.package
  CheckVersionRecord(records, names, "package", problems);
}

std::string SerializedArchiveProblems(const RecordSource& records, FileKind kind,
                                      const std::function<bool(const std::string&)>& edited,
                                      const RecordSource* baseline) {
  DepGraph problems;
  const std::vector<std::string> names = records.RecordNames();
  for (const std::string_view required : {"data.pkl", "constants.pkl"}) {
    if (required == "constants.pkl" && kind != FileKind::kTorchScript) continue;
    if (!Lists(names, required))
      AddProblem(problems, std::string(required), PackagingErrorReason::kMissingRecord,
                 "torch's loader opens it first");
  }
  CheckVersionRecord(records, names, "archive", problems);
  CheckSerializedPickles(records, names, kind, problems);
  CheckEditedScriptCode(records, names, kind, edited, problems);
  if (edited && baseline)
    CheckEditedPicklesStillLoad(records, names, *baseline, edited, nullptr, problems);
  return FormatPackagingError(problems);
}

std::string SerializedArchiveSafetyProblems(const RecordSource& records,
                                            const RecordSource& baseline,
                                            const std::function<bool(const std::string&)>& edited) {
  DepGraph problems;
  // No module is the archive's own: TorchScript's `__torch__` classes run no command.
  AddNewDangerousGlobals(
      records, records.RecordNames(), baseline, edited, [](const std::string&) { return false; },
      problems);
  return FormatPackagingError(problems);
}

}  // namespace tpkg
