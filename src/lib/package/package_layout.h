// package_layout.h (private): what the records of an archive provide as
// Python modules, pickles and folders, and the ModuleEnvironment metadata
// regeneration runs the exporter policy against. Rules: metadata.h.
//
// Thread safety: an ArchiveLayout is immutable once Read() returns and may be
// read from any thread; an ArchiveEnvironment belongs to the one policy that
// uses it (its PythonPath guards its own cache).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tpkg/dep_graph.h"
#include "tpkg/metadata.h"
#include "tpkg/module_env.h"
#include "tpkg/pickle_scan.h"
#include "tpkg/policy.h"

namespace tpkg {

// A source record, scanned when read; its text is not kept (an archive's
// sources together can be far larger than what the analysis needs).
// Dotted names of the folders that hold records ("a/b/c.py": a, a.b), as
// views into one dotted copy of each record name: a name with n slashes
// costs its own length, not n prefixes (a hostile 64 KiB name of `a/a/...`
// would otherwise take a gigabyte).
class FolderSet {
 public:
  FolderSet() = default;
  FolderSet(FolderSet&&) = default;  // a deque's elements do not move with it
  FolderSet& operator=(FolderSet&&) = default;
  FolderSet(const FolderSet&) = delete;
  FolderSet& operator=(const FolderSet&) = delete;

  void AddParentsOf(std::string_view record);
  bool contains(std::string_view dotted) const { return folders_.contains(dotted); }

 private:
  std::deque<std::string> dotted_records_;
  std::unordered_set<std::string_view> folders_;
};

// `imports` is shared (never null) with the disk layer's copy of the same
// scan (package/analysis_store.h) and with every layout read from the
// analysis cache: an import list is held once however many hold it.
struct ArchiveModule {
  std::string record;
  bool is_package = false;
  bool is_stub = false;  // the text is torch's mock stub
  std::shared_ptr<const ScannedImports> imports;
};

struct ArchivePickle {
  std::string record;
  std::string package;               // "a.b" for a/b/x.pkl
  std::string resource;              // "x.pkl"
  PickleDependencies deps;           // what save_pickle's scan found (torch_last_module unset)
  std::vector<StorageRef> storages;  // the storages it loads (load_checks.h)
  std::vector<TensorExtent> tensors;  // the tensors it sets on them (load_checks.h)
  std::string NodeName() const { return "<" + package + "." + resource + ">"; }
};

// Whether a record's first two bytes start a pickle as save_pickle writes
// it (protocol 3 or 4): the layout scans such records as pickles, and a
// `.pkl` among them that does not scan is a problem of the layout's.
bool IsSavePickleProtocol(std::string_view head);
// Why a `.pkl` record whose first bytes are no such pickle cannot be read
// (its bytes fail their CRC-32, or do not inflate): the prefix those bytes
// were judged on is read unchecked, so such a record may be a pickle damaged
// right at its start, which the layout and the tensor listing name. nullopt
// for any other record, or one that reads whole (no pickle of the exporter's).
std::optional<Error> DamageOfPickleRecord(const RecordSource& records, const std::string& record);
// Whether `name` is a pickle of the package's by the rule the layout's
// analysis applies (a save_pickle pickle: tpkg tensors and pickles list
// these): outside `.data/` and no source; a `.pkl` that opens as
// IsSavePickleProtocol says or is damaged at its start; any other record
// that opens so and scans whole (a save_binary resource may open with the
// same two bytes), or whose bytes are damaged.
bool IsPackagePickleRecord(const RecordSource& records, const std::string& name);

// A problem found in the layout itself (not by the policy).
struct LayoutProblem {
  std::string node;
  PackagingErrorReason reason;
  std::string context;
  bool is_pickle = false;
};

// What one record contributes to the layout, as the analysis cache keeps it
// (tpkg/analysis_cache.h): a module (a source), a pickle (a save_pickle
// pickle that scanned) or neither, and a problem (a `.pkl` that did not
// scan, or a damaged source: then beside its module, imports unknown).
// The rare parts are held apart (null when absent): the cache keeps one of
// these per record, thousands of them sources only.
struct RecordAnalysis {
  std::optional<ArchiveModule> module;
  std::unique_ptr<const ArchivePickle> pickle;
  std::unique_ptr<const LayoutProblem> problem;
  // The record when its bytes are damaged (they fail their CRC or do not
  // inflate, or a `.pkl` that starts as a pickle does not scan), "" otherwise;
  // and why (the reader's or the scan's error).
  std::string unreadable_record;
  std::string unreadable_why;
};

// Reads and scans one record outside `.data/` (throws Error when it cannot
// be read or is too large to analyse). With `disk`, a source whose digest
// it knows is not scanned, and one it does not know is added to it; with
// `content` too (the record holds the home archive's bytes there unchanged:
// RecordSource::ContentOf), a source whose digest the disk knows by that
// place (AnalysisStore::FindByPlace) is not even read. `bytes`: the
// record's bytes when the caller read them already (a source read with
// others: RecordSource::ReadSmallRecords).
RecordAnalysis AnalyseRecord(const std::string& record, const RecordSource& records,
                             AnalysisStore* disk = nullptr,
                             const std::optional<RecordContentId>& content = std::nullopt,
                             std::optional<std::string> bytes = std::nullopt);

class ArchiveLayout {
 public:
  // `cache`: per-record results to reuse and to fill (nullptr: none).
  static ArchiveLayout Read(const RecordSource& records, RecordAnalysisCache* cache = nullptr);
  // The same with `records.RecordNames()` already listed.
  static ArchiveLayout Read(const RecordSource& records, const std::vector<std::string>& names,
                            RecordAnalysisCache* cache);

  const ArchiveModule* Module(std::string_view name) const;
  // A folder holding records: an implicit package for the importer.
  bool HasFolder(std::string_view name) const { return folders_.contains(name); }
  bool Provides(std::string_view name) const { return Module(name) || HasFolder(name); }

  // Module names in record order (a name appears once, at its last record).
  const std::vector<std::string>& module_order() const { return module_order_; }
  const std::vector<ArchivePickle>& pickles() const { return pickles_; }
  const std::vector<LayoutProblem>& problems() const { return problems_; }
  // RecordAnalysis::unreadable_record of every record, in record order, and
  // its unreadable_why.
  const std::vector<std::string>& unreadable() const { return unreadable_; }
  const std::vector<std::string>& unreadable_why() const { return unreadable_why_; }
  // Stubs were interned as sources, not mocked (see metadata.h).
  bool repackaged_form() const { return repackaged_form_; }
  bool has_stubs() const { return has_stubs_; }

 private:
  void Add(const RecordAnalysis& analysis);
  void CheckModuleBeforeFolder(const std::vector<std::string>& records);
  void FinishMockForm(const std::map<std::string, size_t>& stub_order,
                      std::optional<size_t> mock_file);

  std::unordered_map<std::string, ArchiveModule> modules_;
  std::vector<std::string> module_order_;
  FolderSet folders_;
  std::vector<ArchivePickle> pickles_;
  std::vector<LayoutProblem> problems_;
  std::vector<std::string> unreadable_;
  std::vector<std::string> unreadable_why_;
  bool repackaged_form_ = false;
  bool has_stubs_ = false;
};

// The exporter's importer, seen from the archive (metadata.h "importable").
class ArchiveEnvironment : public ModuleEnvironment {
 public:
  // `stdlib`: that of the Python the package was exported with.
  ArchiveEnvironment(const ArchiveLayout& layout, const std::vector<std::string>& previous_externs,
                     const PythonPath& python, const StdlibNames& stdlib);
  std::optional<ModuleSource> Find(std::string_view module) override;
  bool Importable(std::string_view module) override;
  const StdlibNames& stdlib_names() const override { return stdlib_; }

 private:
  const ArchiveLayout& layout_;
  std::unordered_set<std::string> previous_externs_;
  const PythonPath& python_;
  const StdlibNames& stdlib_;
};

// The module name a source record provides ("a/b.py" -> a.b, "a/b/__init__.py"
// -> a.b package); nullopt for non-sources.
struct SourceRecordName {
  std::string module;
  bool is_package;
};
std::optional<SourceRecordName> ModuleOfRecord(std::string_view record);

// True for records that are no module: directory entries and everything
// under .data/. (The importer walks a directory entry as it walks a file
// under it: ArchiveLayout::Read counts them for its folders.)
bool IsFrameworkRecord(std::string_view record);
// The records of `records` an analysis reads (the framework ones dropped),
// in their order: also the list the disk layer keys its packs by, so the
// background warm-up and the analysis proper find the same pack.
std::vector<std::string> AnalysedRecords(std::vector<std::string> records);

}  // namespace tpkg
