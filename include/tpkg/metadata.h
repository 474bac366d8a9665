// metadata.h: `.data/extern_modules` and the dependency graph of an
// archive's *current* contents, rebuilt the way PackageExporter built them.
//
// The mount serves `.data/extern_modules` and a virtual `.data/deps.dot`
// from this, and the write-back regenerates `.data/extern_modules` before it
// saves an edited package. The graph is not stored in archives, so it is
// rebuilt by replaying the exporter (policy.h) over the records:
//
//   auto zip = tpkg::ZipReader::Open("model.pt");
//   tpkg::Metadata m = tpkg::RegenerateMetadata(tpkg::ZipRecordSource(zip));
//   if (!m.ok()) throw tpkg::PackagingError(m.problems);     // every problem at once
//   write(".data/extern_modules", m.extern_modules_text);
//   serve(".data/deps.dot", m.deps_dot);
//
// How the records are read (the rules; doc/format.md §6, §8.1):
//   * `.data/**` and directory entries are framework files, never modules.
//   * `a/b.py` is module a.b, `a/b/__init__.py` is package a.b; any folder
//     that holds a record is an implicit package (the importer makes one).
//   * A source whose text is exactly torch's mock stub (kMockStubSource) is
//     a mocked module; `_mock.py` is torch's support file, not a module of
//     its own. Exception, the re-packaged form (doc/format.md §6.6): torch writes
//     `_mock.py` just before the first stub it mocks, so a stub *before*
//     `_mock.py` in record order was interned as source when a package with
//     stubs was exported again; then every stub is an interned source (whose
//     `from _mock import` makes `_mock` a REPACKAGED_MOCK_MODULE node).
//   * Pickle records: `*.pkl`, or any record starting with a PROTO opcode,
//     outside `.data/`, that starts with protocol 3 or 4 (save_pickle writes
//     no other) and scans. Each is node "<package.resource>".
// How the graph is rebuilt (graph insertion order = exporter order):
//   1. Sources that no pickle reaches (in record order, which is the
//      exporter's close() order) are added first as save_source_string()
//      would: this is where `__reduce_package__` hooks (fx) and explicit
//      save_source_string/save_module calls put them, before the pickles.
//   2. Pickles in record order, as save_pickle(): an edge to each module of
//      the scan, then add_dependency() depth first.
//   add_dependency() decides: torch_package_importer -> SKIP, _mock ->
//   REPACKAGED_MOCK_MODULE, torch/stdlib -> EXTERN (torch's implicit rule;
//   the stdlib of the Python named by `.data/python_version` when we have
//   its table, python_env.h, else of the configured interpreter),
//   `options.deny` -> DENY, a stub -> MOCK, a source or folder of the
//   archive -> INTERN (imports followed), anything else -> EXTERN.
//   Import candidates are importable when the archive has them (source,
//   stub or folder), when they are an entry of the previous extern_modules,
//   or when the target Python (module_env.h PythonPath) has them on disk.
// Rules for an edited package:
//   * extern_modules: previous entries still needed keep their order, new
//     ones are appended in discovery (graph) order, unneeded ones are dropped.
//     An unmodified archive gets its own text back byte for byte.
//   * Problems, all collected (torch's PackagingError text), never written
//     silently: a syntax error in a packaged source (Dependency resolution
//     failed); an import (`import pkg.gone`, `from pkg import gone`) of a
//     module that `options.baseline_records` had and that is importable from
//     nowhere now (missing module: the edit removed it; imports of modules
//     that never existed are dropped silently, as torch drops them, because
//     they are guarded optional imports in exported code; a save names those
//     an edited record imports in Metadata::unfound_imports); a module matching
//     `options.deny`; a pickle using a mocked module; stubs
//     without `_mock.py`; an extern module the archive also has files under,
//     or a module file `a.py` recorded before files under `a/` (the importer
//     refuses both: inconsistent structure; a folder entry `a/`, an empty
//     folder made through the mount, counts as a file under `a/`); a `.pkl` save_pickle record that
//     does not scan; a storage a pickle references (`.data/<key>.storage`,
//     or `.data/<key>` of a TorchScript module's `.data/ts_code/` pickles)
//     that is missing or holds fewer bytes than numel x element size (missing
//     storage); a TorchScript module's code or pickles that a pickle loads
//     (load_checks.h CheckPackagedScriptModules); for a save, a name a source
//     imports from a packaged module that the edits took from it
//     (load_checks.h CheckImportedNames); a pickle global whose packaged source
//     the edits took it from (load_checks.h CheckPickleGlobals); a torch.package whose
//     `.data/version` (or top-level `version`) is not one torch 1.13 or 2.6 loads, 1 to 10
//     (unsupported version).
// Rules for a save (`options.edited` set; the previous extern list is then
// what the package declared): extern modules only grow on purpose.
//   * A module already declared extern stays as above. One under a declared
//     extern (`numpy` covers `numpy.linalg`) or always allowed (`builtins`)
//     is listed as torch lists it, which lets nothing new load; when an
//     edited record imports it, it is also named in Metadata::new_externs.
//   * A module the baseline records provided is an interned module that is
//     gone: a missing-module problem, never a new extern.
//   * A new module that only unedited records reference is left out: the
//     package declared it not, and loads exactly as well as before.
//   * A new module an edited record (written, created or renamed) imports
//     becomes extern when torch's exporter would extern it implicitly
//     (stdlib, torch) and is listed in Metadata::new_externs; anything else
//     is torch's "no action" problem.
//   * A global an edited pickle loads that runs code, a command or a system
//     call on its own (os.system, builtins.eval, ...; the list is in
//     src/lib/scan/command_globals.h), or one computed while loading, that no
//     pickle of the package as opened loaded makes the package less safe than
//     it was: Metadata::safety_problems (load_checks.h CheckNewDangerousGlobals).
//
// Memory: each record is read, scanned and dropped as it comes (sources keep
// their import references, pickles their module lists), so the peak is one
// record plus the graph, not the archive's sources together.
//
// Thread safety: RegenerateMetadata() is a pure function of its inputs; a
// RecordSource must allow concurrent reads if it is shared across threads.
// It reads and scans the records it has no cached result for on up to 4
// threads of its own when the source says it allows concurrent_reads()
// (the result is the same: each record's analysis depends on it alone).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/analysis_cache.h"
#include "tpkg/dep_graph.h"
#include "tpkg/glob.h"
#include "tpkg/module_env.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

// The records of an archive, prefix folder stripped, as the daemon's live
// tree or a ZipReader sees them.
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // Record names in archive order.
  virtual std::vector<std::string> RecordNames() const = 0;
  // The whole record. Throws Error naming the record.
  virtual std::string ReadRecord(const std::string& name) const = 0;
  // The first `n` bytes (fewer if the record is shorter). Override when the
  // record may be large: the default reads it all.
  virtual std::string ReadPrefix(const std::string& name, size_t n) const;
  // The record's size in bytes. Override when the record may be large: the
  // default reads it all.
  virtual uint64_t RecordSize(const std::string& name) const;
  // Whether RecordSize() costs no read (archives and journals know sizes;
  // the in-memory default does not), so that a size can be checked first.
  virtual bool knows_sizes() const { return false; }
  // Whether the const methods may be called from several threads at once:
  // then the analysis reads and scans records on a few threads (a source
  // that says nothing is read from one).
  virtual bool concurrent_reads() const { return false; }
  // The archive record whose bytes `name` holds unchanged (analysis_cache.h),
  // or nullopt when they may differ from any (edited, created, or a source
  // that does not say): only records with one are cached.
  virtual std::optional<RecordContentId> ContentOf(const std::string& name) const {
    (void)name;
    return std::nullopt;
  }
  // A hint that these records are read next, in this order: a source may
  // prepare them together (an archive checks a run of them on one pread:
  // ZipReader::CheckRecords). Errors wait for the reads.
  virtual void PrepareReads(std::span<const std::string> names) const { (void)names; }
  // The whole records `names`, in this order, where the source can read
  // them together (an archive: a run of small stored records that follow
  // each other on one pread, checked as ReadRecord checks them); nullopt
  // for the others, which ReadRecord reads (and says what is wrong with).
  // One answer per name; the caller holds them all at once, so a source
  // bounds what it reads together (an archive: 256 KiB).
  virtual std::vector<std::optional<std::string>> ReadSmallRecords(
      std::span<const std::string> names) const {
    return std::vector<std::optional<std::string>>(names.size());
  }
};

// The most the analysis (metadata, pickle scan, import scan) reads from one
// record. A deflated record has no size cap of its own (a 1 KiB record may
// inflate to a gigabyte; reading it through the mount is fine, it streams),
// so everything the analysis reads goes through ReadForAnalysis.
inline constexpr uint64_t kMaxAnalysedRecordBytes = uint64_t{64} << 20;

// The whole record, or Error(kUnsupported) naming it when it is larger than
// kMaxAnalysedRecordBytes (checked before anything is read when the source
// knows_sizes(); a source without sizes holds its records anyway).
std::string ReadForAnalysis(const RecordSource& records, const std::string& name);
// The same bound for an entry of an open archive (the scans of `tpkg scan`,
// `tpkg inspect` and `tpkg pickles`): Error(kUnsupported) naming the record,
// from its central-directory size, before anything is inflated.
std::string ReadForAnalysis(const ZipReader& zip, const ZipEntry& entry);

// RecordSource over an open archive (entries() order, prefix stripped).
// The reader must outlive it; reads are safe from several threads.
class ZipRecordSource : public RecordSource {
 public:
  explicit ZipRecordSource(const ZipReader& zip) : zip_(zip) {}
  std::vector<std::string> RecordNames() const override;
  std::string ReadRecord(const std::string& name) const override;
  void PrepareReads(std::span<const std::string> names) const override;
  std::vector<std::optional<std::string>> ReadSmallRecords(
      std::span<const std::string> names) const override;
  std::string ReadPrefix(const std::string& name, size_t n) const override;
  uint64_t RecordSize(const std::string& name) const override;
  bool knows_sizes() const override { return true; }
  bool concurrent_reads() const override { return true; }
  std::optional<RecordContentId> ContentOf(const std::string& name) const override;

 private:
  const ZipEntry& Entry(const std::string& name) const;
  const ZipReader& zip_;
};

struct MetadataOptions {
  // The extern list as last written. nullopt: read `.data/extern_modules`
  // from the source if it has one.
  std::optional<std::vector<std::string>> previous_externs;
  // Records of the archive before it was edited (as opened), for the
  // missing-module check; empty: that check is off.
  std::vector<std::string> baseline_records;
  // The archive before it was edited (as opened), for a save's check of the
  // names pickles load from edited sources; nullptr: that check is off.
  std::shared_ptr<const RecordSource> baseline;
  // Modules the package must not use (reported as denied).
  std::vector<GlobGroup> deny;
  // Where modules outside the package are looked up; nullptr: the configured
  // interpreter's sys.path (python_env.h).
  const PythonPath* python = nullptr;
  // Set for a save (rules above): whether the record now named so was
  // edited (written, created or renamed) since the archive was opened.
  std::function<bool(const std::string& record)> edited;
  // Per-record results kept from earlier analyses of the same archive
  // (analysis_cache.h): records whose ContentOf() it has are not read or
  // scanned again, and what this analysis scans is added to it. nullptr:
  // every record is scanned. The result is the same either way.
  std::shared_ptr<RecordAnalysisCache> cache;
};

// An extern module a save adds (rules above), and the edited records that
// import it (", "-joined: a pickle as well as a source), so that the save's
// note names the one to look at.
struct NewExtern {
  std::string module;
  std::string importers;
  bool operator==(const NewExtern&) const = default;
};

struct Metadata {
  DepGraph graph;                        // as the exporter built it, without source texts
  std::vector<std::string> interned;     // sorted, as interned_modules()
  std::vector<std::string> mocked;       // sorted, as mocked_modules()
  std::vector<std::string> externs;      // extern_modules order (rules above)
  std::string extern_modules_text;       // "\n".join(externs) + "\n"
  std::vector<NewExtern> new_externs;    // with options.edited: externs an edit added
  // With options.edited: modules an edited record imports that neither the
  // package nor the Python environment has and that are not declared extern
  // (`import scipy` where scipy is not installed), unless the record as
  // opened spelled the module's last name too (the import was there before). Dropped as torch drops
  // them, not a problem (a guarded optional import loads), but an unguarded
  // one fails the load: the save names them, with their edited importers.
  std::vector<NewExtern> unfound_imports;
  std::string deps_dot;                  // graph.ToDot()
  std::string problems;                  // PackagingError text; empty when loadable
  // Records the analysis could not read or scan (a `.pkl` or a source whose
  // bytes fail their CRC, a truncated stream): also in `problems`, listed apart because
  // the archive itself is damaged, which callers report as a failure rather
  // than as a finding (the graph and externs miss what they hold).
  std::vector<std::string> unreadable;
  std::vector<std::string> unreadable_why;  // why each of `unreadable` is, in the same order
  // For a save: what would make the package less safe than it was (rules
  // above), in the same PackagingError form; empty when nothing would.
  std::string safety_problems;
  bool ok() const { return problems.empty() && safety_problems.empty(); }
};

// Throws Error only when the source cannot be read; analysis problems go to
// Metadata::problems.
Metadata RegenerateMetadata(const RecordSource& records, const MetadataOptions& options = {});

// For `tpkg check`: "" when the package's own `.data/extern_modules` declares
// every extern module `m` (regenerated without options) says it needs (a
// module under a declared one counts as declared), else one line naming the
// missing ones: torch refuses to import them. Modules declared but not found
// needed are not reported: the exporter lists what add_dependency() or a
// `__reduce_package__` hook added, which the records need not show.
std::string ExternModulesMismatch(const RecordSource& records, const Metadata& m);
// The same missing modules as a list, in `m.externs` order.
std::vector<std::string> UndeclaredExterns(const RecordSource& records, const Metadata& m);

}  // namespace tpkg
