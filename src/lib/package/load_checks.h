// load_checks.h (private): what torch's loader needs beyond modules: the
// storages the pickles load and a supported `.data/version` (metadata.h
// "Problems"). Both add nodes to a graph of their own, so the dependency
// graph (and `.data/deps.dot`) stays as the exporter built it.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "package/package_layout.h"
#include "tpkg/dep_graph.h"
#include "tpkg/metadata.h"
#include "tpkg/model_file.h"

namespace tpkg {

// caffe2/serialize/versions.h of torch 1.13, unchanged in 2.6 (doc/format.md §3.1;
// measured: torch 2.6's reader refuses 11).
inline constexpr uint64_t kMinSupportedVersion = 1;
inline constexpr uint64_t kMaxSupportedVersion = 10;

// Bytes per element of a storage class (torch.FloatStorage: 4); 0 when unknown.
uint64_t StorageElementSize(const PickleGlobal& storage_class);

// Every `.data/<key>.storage` a pickle loads that is missing or shorter than
// numel x element size, or on which a tensor spans more elements than the
// storage torch loads holds (torch.package loads a key once, with the numel
// and dtype of its first persistent id, and cannot grow it): a
// kMissingStorage node named after the record.
void CheckStorages(const ArchiveLayout& layout, const RecordSource& records,
                   const std::vector<std::string>& names, DepGraph& problems);

// For a save (`edited` set): an edited pickle the layout does not read
// (protocols 0 to 2 and 5: torch's exporter writes 3 or 4, its load_pickle
// reads every one) that loads a `.data/<key>.storage` the package lacks, or
// that sets a tensor past every load of its key the package could make (the
// biggest of the layout pickles' first loads and its own: which pickle
// loads a key first is the loading program's choice): kMissingStorage nodes.
void CheckEditedOtherPickles(const ArchiveLayout& layout, const RecordSource& records,
                             const std::vector<std::string>& names,
                             const std::function<bool(const std::string&)>& edited,
                             DepGraph& problems);

// The same for the pickles torch's own serializer wrote, which CheckStorages
// does not read: a torch.save or TorchScript archive's `data.pkl` and
// `constants.pkl`, and a torch.package's `.data/ts_code/<id>/` pickles of a
// TorchScript module (tpkg/model_tensors.h has where their keys live): every
// storage record one loads that is missing or shorter than numel x element
// size is a kMissingStorage node. A pickle that does not scan (or is too
// large to analyse) is skipped: nothing here refuses what torch may load.
// `names`: records.RecordNames(). The same pickles' TorchScript classes
// (`__torch__.M`) need their code: `.data/ts_code/code/__torch__.py` in a
// package, `code/__torch__.py` in a TorchScript archive; a missing one is a
// kMissingScriptCode node (torch's loader fails on it).
void CheckSerializedPickles(const RecordSource& records, const std::vector<std::string>& names,
                            FileKind kind, DepGraph& problems);

// For a save (`edited` set): every edited TorchScript code record of a
// kind's code folder (`code/**.py` in a TorchScript archive,
// `.data/ts_code/code/**.py` in a package) must parse as Python
// (ScanImports' parser), or torch's loader fails to compile it: a
// kScriptCodeSyntax node with the line and the reason. Every edited code
// record counts, also one whose classes no pickle loads (torch compiles a
// file only when it resolves a class of it): a file there is there to be
// loaded, and the refusal says which and why. Code that parses but is not
// TorchScript is not caught; an unreadable record is a problem of its own
// and skipped here.
void CheckEditedScriptCode(const RecordSource& records, const std::vector<std::string>& names,
                           FileKind kind, const std::function<bool(const std::string&)>& edited,
                           DepGraph& problems);

// For a save (`edited` set): every edited source of a package that parses
// must also compile (FindCompileError, import_scan.h): torch's importer
// compiles the module when it is imported. A kSourceCompileError node (the
// module) with the line and the reason. A source that does not parse is the
// policy's problem (kDependencyResolutionFailed), a stub is torch's own.
void CheckEditedSourcesCompile(const ArchiveLayout& layout, const RecordSource& records,
                               const std::function<bool(const std::string&)>& edited,
                               DepGraph& problems);

// A save_pickle pickle of a torch.package that loads a TorchScript module
// (a `__reduce_package__` persistent id calling
// torch.jit._script.unpackage_script_module with the module's id) needs
// `.data/ts_code/<id>/data.pkl` and `constants.pkl`: a missing one is a
// kMissingScriptCode node. Only pickles whose scan names that function are
// read again.
void CheckPackagedScriptModules(const ArchiveLayout& layout, const RecordSource& records,
                                const std::vector<std::string>& names, DepGraph& problems);

// For a save (options.edited and options.baseline set): every global
// (module, name) of a pickle whose module is a packaged source the edits
// took the name from: a kMissingGlobal node "module.name" (the importer's
// find_class would fail on it: AttributeError). Judged on the text, and
// only what the text rules out is refused: the source as opened spelled the
// name's first part (a nested class's outer one) as a word, the module's
// source now (edited, or another record that took its place: `m.py` became
// `m/__init__.py`) does not, or only a folder holds the module now (`m.py`
// split into `m/`, an `__init__.py` deleted: a namespace package binds only
// its submodules), the source has no star import and no module __getattr__,
// no other source of the package spells it (it could set it from outside; on
// a folder's module only with the module's own name spelled too), and it is
// no submodule (record or folder) of that module. A pickle edited to name
// something its module never spelled is not caught: the text says nothing
// about names it never had (a protobuf module binds its classes from a
// descriptor).
// Without options.edited (an archive as it is), CheckGlobalsOfFolderModules.
void CheckPickleGlobals(const ArchiveLayout& layout, const RecordSource& records,
                        const MetadataOptions& options, DepGraph& problems);

// Every global (module, name) of a pickle whose module only a folder holds
// (no source: a namespace package, which binds only its submodules), that
// is no submodule and that no source of the package spells together with the
// module's own name (which `pkg.mod.Name = ...` from outside would): a
// kMissingGlobal node (find_class fails on it: AttributeError).
void CheckGlobalsOfFolderModules(const ArchiveLayout& layout, const RecordSource& records,
                                 DepGraph& problems);

// For a save (options.edited and options.baseline set): every global an
// edited record that is a pickle loads (any protocol, any name: tpkg scan's
// rule for what is a pickle, since load_pickle reads them all), from a module
// the package does not hold, that runs code, a command or a system call on
// its own (scan/command_globals.h: os.system, builtins.eval, subprocess.*;
// not getattr, functools.partial or plain data types, which ordinary objects
// pickle), or that is computed while loading, and that no
// pickle of the package as opened loaded: a kDangerousGlobal node. The edit
// would make loading the package run what it did not run before.
void CheckNewDangerousGlobals(const ArchiveLayout& layout, const RecordSource& records,
                              const std::vector<std::string>& names,
                              const MetadataOptions& options, DepGraph& problems);

// For a save: every edited record that was a whole pickle in `baseline`
// under the same name and no longer is one (emptied, overwritten with other
// bytes, cut short): a kUnreadablePickle node named after the record, with
// why. Only records a loader unpickles count (load_pickle, torch.load,
// torch.jit.load): a `.pkl`, or one that opened with a PROTO opcode; never a
// storage (`.data/`, `data/<n>`), nor text that happened to parse. `judged_elsewhere` (may be
// empty) names records another check judges already. Unreadable or too large records are left to
// other checks.
void CheckEditedPicklesStillLoad(const RecordSource& records, const std::vector<std::string>& names,
                                 const RecordSource& baseline,
                                 const std::function<bool(const std::string&)>& edited,
                                 const std::function<bool(const std::string&)>& judged_elsewhere,
                                 DepGraph& problems);

// For a save: the same for a name a packaged source imports from a packaged
// module (`from .helpers import scale`, where scale is no submodule) whose
// edited source no longer defines it (the import would fail with ImportError):
// a kMissingName node "module.name", judged on the text as above; the
// importers' own text, which spells the name in the import, does not count.
void CheckImportedNames(const ArchiveLayout& layout, const RecordSource& records,
                        const std::vector<UnresolvedImport>& unresolved,
                        const MetadataOptions& options, DepGraph& problems);

// Whether `record` of `records` can be read and its text has `word` with no
// identifier character on either side (comments and strings count too).
bool RecordSpells(const RecordSource& records, const std::string& record, std::string_view word);

// A torch.package (`.data/extern_modules` or `.data/version` present) whose
// version record is missing or outside 1..10: a kUnsupportedVersion node.
void CheckVersion(const RecordSource& records, const std::vector<std::string>& names,
                  DepGraph& problems);

}  // namespace tpkg
