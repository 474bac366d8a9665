// ArchiveLayout / ArchiveEnvironment: the archive's records as modules.
#include "package/package_layout.h"

#include <algorithm>

#include "base/parallel_for.h"
#include "base/sha256.h"
#include "base/utf8.h"
#include "package/analysis_store.h"
#include "tpkg/error.h"
#include "tpkg/pickle_scan.h"
#include "tpkg/policy.h"
#include "tpkg/record_path.h"

namespace tpkg {
namespace {

std::string DotsFor(std::string_view path) {
  std::string out(path);
  std::replace(out.begin(), out.end(), '/', '.');
  return out;
}

// Lets unordered_map<std::string, ...> find a string_view without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

bool IsPickleCandidate(std::string_view record, std::string_view head) {
  return record.ends_with(".pkl") || (!head.empty() && head[0] == '\x80');
}

// Below this many records to analyse, one thread: starting others costs
// more than they save (a save that edited a few sources and has the rest
// cached).
constexpr size_t kParallelAnalysisMinRecords = 16;
// The analysis is CPU-bound (inflate, import scan): more threads than
// cores only share them; a few are enough for a daemon on a shared machine.
constexpr unsigned kMaxAnalysisThreads = 4;
// Records a thread claims at a time: enough for one pread to check a run of
// small ones (RecordSource::PrepareReads), few enough to share the work
// evenly (a package of sources has thousands).
constexpr size_t kAnalysisChunk = 32;

}  // namespace

std::string RecordSource::ReadPrefix(const std::string& name, size_t n) const {
  std::string all = ReadRecord(name);
  if (all.size() > n) all.resize(n);
  return all;
}

uint64_t RecordSource::RecordSize(const std::string& name) const { return ReadRecord(name).size(); }

namespace {

Error TooLargeToAnalyse(const std::string& name, uint64_t size) {
  return Error(Errc::kUnsupported, "record '" + name + "': " + std::to_string(size) +
                                       " bytes, and the analysis reads at most " +
                                       std::to_string(kMaxAnalysedRecordBytes >> 20) +
                                       " MiB of one record");
}

}  // namespace

std::string ReadForAnalysis(const ZipReader& zip, const ZipEntry& entry) {
  // The size is the central directory's; RecordStream fails a record that
  // inflates past it, so no more than this is ever held.
  if (entry.size > kMaxAnalysedRecordBytes) throw TooLargeToAnalyse(entry.name, entry.size);
  return zip.ReadAll(entry);
}

std::string ReadForAnalysis(const RecordSource& records, const std::string& name) {
  auto refuse = [&name](uint64_t size) { return TooLargeToAnalyse(name, size); };
  if (records.knows_sizes()) {
    if (const uint64_t size = records.RecordSize(name); size > kMaxAnalysedRecordBytes)
      throw refuse(size);
  }
  std::string bytes = records.ReadRecord(name);
  if (bytes.size() > kMaxAnalysedRecordBytes) throw refuse(bytes.size());
  return bytes;
}

bool IsFrameworkRecord(std::string_view record) {
  return record.empty() || record.ends_with('/') || record.starts_with(".data/");
}

std::vector<std::string> AnalysedRecords(std::vector<std::string> records) {
  std::erase_if(records, [](const std::string& name) { return IsFrameworkRecord(name); });
  return records;
}

std::optional<SourceRecordName> ModuleOfRecord(std::string_view record) {
  if (IsFrameworkRecord(record) || !record.ends_with(".py")) return std::nullopt;
  if (record == "__init__.py") return std::nullopt;  // would be the nameless root package
  if (record.ends_with("/__init__.py")) {
    return SourceRecordName{DotsFor(record.substr(0, record.size() - 12)), true};
  }
  return SourceRecordName{DotsFor(record.substr(0, record.size() - 3)), false};
}

ArchiveLayout ArchiveLayout::Read(const RecordSource& records, RecordAnalysisCache* cache) {
  return Read(records, records.RecordNames(), cache);
}

ArchiveLayout ArchiveLayout::Read(const RecordSource& records,
                                  const std::vector<std::string>& record_names,
                                  RecordAnalysisCache* cache) {
  ArchiveLayout layout;
  const std::vector<std::string> names = AnalysedRecords(record_names);
  // The importer walks folder entries (`a/b/`, a mkdir through the mount) as
  // it walks the files under them: each makes its folder a package, and
  // counts for the layout checks below.
  std::vector<std::string> walked;
  walked.reserve(record_names.size());
  for (const std::string& name : record_names) {
    // torch's reader hands every name to Python as str: one that is not
    // UTF-8 fails the importer's constructor (UnicodeDecodeError).
    if (FindInvalidUtf8(name) != std::string::npos) {
      layout.problems_.push_back({QuoteName(name), PackagingErrorReason::kRecordNameNotUtf8,
                                  "its reader hands every name to Python as str: "
                                  "UnicodeDecodeError"});
    }
    if (name.empty() || name.starts_with(".data/")) continue;
    if (name.ends_with('/')) layout.folders_.AddParentsOf(name);
    walked.push_back(name);
  }
  // What the cache has; the rest is read and scanned below, on several
  // threads when the source allows it (each record's analysis depends on
  // that record alone, so the order they finish in changes nothing).
  std::vector<std::shared_ptr<const RecordAnalysis>> analyses(names.size());
  std::vector<std::optional<RecordContentId>> contents(names.size());
  std::vector<size_t> missing;
  for (size_t i = 0; i < names.size(); ++i) {
    layout.folders_.AddParentsOf(names[i]);
    if (cache) contents[i] = records.ContentOf(names[i]);
    if (contents[i])
      analyses[i] = cache->Find(names[i], *contents[i]);
    else if (cache)
      cache->CountUncacheable();
    if (!analyses[i]) missing.push_back(i);
  }
  // What an earlier process scanned: read from the disk layer once for this
  // list of records, written back when this analysis scanned something new.
  AnalysisStore* disk = cache ? cache->disk() : nullptr;
  std::optional<AnalysisStore::PackKey> pack;
  if (disk && !missing.empty()) pack = disk->Load(names);
  const unsigned threads =
      records.concurrent_reads() && missing.size() >= kParallelAnalysisMinRecords
          ? UsefulThreads(kMaxAnalysisThreads)
          : 1;
  // In chunks of records: the ones not read whole are announced to the
  // source before they are read (an archive checks a run of them on one
  // pread instead of one or two each), and the sources to be read are read
  // together (an archive: a run of them on one pread, checked on those bytes
  // as ReadAll would; on a VM where each system call exits to the
  // hypervisor, one pread per source of a few KiB cost more than its copy);
  // sources whose scan the disk knows by their place are left out, as they
  // are not read at all. A chunk stops at its first error, the lowest of
  // its records, so ParallelFor still rethrows the error of the first
  // failing record.
  const bool knows_places = disk && !disk->refused();
  const size_t chunks = (missing.size() + kAnalysisChunk - 1) / kAnalysisChunk;
  ParallelFor(chunks, threads, [&](size_t c) {
    const size_t first = c * kAnalysisChunk;
    const size_t last = std::min(missing.size(), first + kAnalysisChunk);
    std::vector<std::string> to_check, to_read;
    std::vector<size_t> read_at;  // index into `missing` of each of to_read
    for (size_t m = first; m < last; ++m) {
      const size_t i = missing[m];
      if (!ModuleOfRecord(names[i])) {
        to_check.push_back(names[i]);
      } else if (!(knows_places && contents[i] && disk->KnowsPlace(*contents[i]))) {
        to_read.push_back(names[i]);
        read_at.push_back(m);
      }
    }
    if (!to_check.empty()) records.PrepareReads(to_check);
    std::vector<std::optional<std::string>> read(last - first);
    if (to_read.size() > 1) {
      std::vector<std::optional<std::string>> together = records.ReadSmallRecords(to_read);
      // Anything but one answer per name, or bytes past the analysis's
      // bound, is read again the usual way (which applies the bound).
      if (together.size() == to_read.size()) {
        for (size_t k = 0; k < together.size(); ++k)
          if (together[k] && together[k]->size() <= kMaxAnalysedRecordBytes)
            read[read_at[k] - first] = std::move(together[k]);
      }
    }
    for (size_t m = first; m < last; ++m) {
      const size_t i = missing[m];
      analyses[i] = std::make_shared<const RecordAnalysis>(
          AnalyseRecord(names[i], records, disk, contents[i], std::move(read[m - first])));
      if (contents[i]) cache->Put(names[i], *contents[i], analyses[i]);
    }
  });
  if (pack) disk->Save(*pack, names);
  std::unordered_map<std::string, size_t> last_record;  // module -> index of its record
  for (size_t i = 0; i < names.size(); ++i) {
    layout.Add(*analyses[i]);
    if (analyses[i]->module) last_record[ModuleOfRecord(names[i])->module] = i;
  }
  // By the index of each module's last record (each index is one module's).
  std::vector<std::pair<size_t, const std::string*>> by_record;
  by_record.reserve(last_record.size());
  for (const auto& [module, index] : last_record) by_record.emplace_back(index, &module);
  std::sort(by_record.begin(), by_record.end());
  layout.module_order_.reserve(by_record.size());
  for (const auto& [index, module] : by_record) layout.module_order_.push_back(*module);
  std::map<std::string, size_t> stub_order;
  for (const auto& [module, index] : last_record) {
    if (layout.modules_.at(module).is_stub) stub_order[module] = index;
  }
  const auto mock_file = last_record.find("_mock");
  layout.FinishMockForm(stub_order, mock_file == last_record.end()
                                        ? std::nullopt
                                        : std::optional<size_t>(mock_file->second));
  layout.CheckModuleBeforeFolder(walked);
  return layout;
}

namespace {

// A source: whether it is torch's mock stub, and its imports (from `disk`
// when it has scanned these very bytes under this name; without reading
// them when it knows their digest by their place in the home archive).
ArchiveModule AnalyseSource(const std::string& record, const SourceRecordName& source,
                            const RecordSource& records, AnalysisStore* disk,
                            const std::optional<RecordContentId>& content,
                            std::optional<std::string> bytes) {
  const auto from_disk = [&](std::shared_ptr<const StoredSource> known) {
    const bool is_stub = known->is_stub;
    // The store's scan itself, not a copy (aliasing: kept alive by `known`).
    const ScannedImports* imports = &known->imports;
    return ArchiveModule{record, source.is_package, is_stub,
                         std::shared_ptr<const ScannedImports>(std::move(known), imports)};
  };
  const bool keeps = disk && !disk->refused();
  if (keeps && content) {
    if (auto known = disk->FindByPlace(record, *content)) return from_disk(std::move(known));
  }
  const std::string text = bytes ? std::move(*bytes) : ReadForAnalysis(records, record);
  // No digest for a store that keeps nothing: SHA-256 is most of what a
  // source found on disk costs (about 19 ms for 5,000 sources).
  const std::optional<Sha256Digest> digest =
      keeps ? std::optional<Sha256Digest>(Sha256(text)) : std::nullopt;
  if (digest) {
    if (content) disk->NoteDigest(*content, *digest);
    if (auto known = disk->Find(record, *digest)) return from_disk(std::move(known));
  }
  auto scanned = std::make_shared<const StoredSource>(
      StoredSource{text == kMockStubSource,
                   ScanModuleImports(text, source.module, source.is_package)});
  const ScannedImports* imports = &scanned->imports;
  ArchiveModule module{record, source.is_package, scanned->is_stub,
                       std::shared_ptr<const ScannedImports>(scanned, imports)};
  if (digest) disk->AddShared(record, *digest, std::move(scanned));
  return module;
}

std::unique_ptr<const LayoutProblem> UnreadablePickle(const ArchivePickle& pickle,
                                                      const std::string& record, const Error& e) {
  return std::make_unique<const LayoutProblem>(LayoutProblem{
      pickle.NodeName(), PackagingErrorReason::kUnreadablePickle, record + ": " + e.what(), true});
}

// Any other record: a save_pickle pickle, a `.pkl` that does not scan (a
// problem), or nothing the exporter would have written.
void AnalyseOther(const std::string& record, const RecordSource& records, RecordAnalysis& out) {
  const std::string head = records.ReadPrefix(record, 2);
  if (!IsPickleCandidate(record, head)) return;
  const size_t slash = record.rfind('/');
  ArchivePickle pickle{record,
                       slash == std::string::npos ? "" : DotsFor(record.substr(0, slash)),
                       record.substr(slash == std::string::npos ? 0 : slash + 1),
                       {},
                       {},
                       {}};
  if (!IsSavePickleProtocol(head)) {
    if (const std::optional<Error> damage = DamageOfPickleRecord(records, record)) {
      out.unreadable_record = record;
      out.unreadable_why = damage->what();
      out.problem = UnreadablePickle(pickle, record, *damage);
    }
    return;
  }
  std::string bytes;
  try {
    bytes = ReadForAnalysis(records, record);
  } catch (const Error& e) {
    // Bytes that fail their CRC (or do not inflate): the archive is damaged,
    // whatever the record's name. Too large or an I/O error: not damage.
    if (e.code() == Errc::kCorrupt) {
      out.unreadable_record = record;
      out.unreadable_why = e.what();
    }
    if (record.ends_with(".pkl")) {
      out.problem = UnreadablePickle(pickle, record, e);
    }
    return;
  }
  try {
    PickleScan scan = ScanPickle(std::span<const char>(bytes.data(), bytes.size()));
    pickle.deps.modules = std::move(scan.modules);
    for (auto& g : scan.globals)
      pickle.deps.globals.emplace_back(std::move(g.module), std::move(g.name));
    pickle.storages = std::move(scan.storages);
    pickle.tensors = std::move(scan.tensors);
  } catch (const Error& e) {
    // A `.pkl` that starts as save_pickle writes but does not scan is a
    // damaged pickle; any other record that does not scan is not a pickle.
    if (record.ends_with(".pkl")) {
      if (e.code() == Errc::kCorrupt) {
        out.unreadable_record = record;
        out.unreadable_why = e.what();
      }
      out.problem = UnreadablePickle(pickle, record, e);
    }
    return;
  }
  out.pickle = std::make_unique<const ArchivePickle>(std::move(pickle));
}

}  // namespace

RecordAnalysis AnalyseRecord(const std::string& record, const RecordSource& records,
                             AnalysisStore* disk, const std::optional<RecordContentId>& content,
                             std::optional<std::string> bytes) {
  RecordAnalysis out;
  if (const auto source = ModuleOfRecord(record)) {
    try {
      out.module = AnalyseSource(record, *source, records, disk, content, std::move(bytes));
    } catch (const Error& e) {
      // Bytes that fail their CRC: the archive is damaged. The module is
      // still there (the importer finds its record), its imports unknown; a
      // problem says so, as for a damaged pickle, so that a report shows
      // the rest. Too large or an I/O error: not damage, the caller's.
      if (e.code() != Errc::kCorrupt) throw;
      out.unreadable_record = record;
      out.unreadable_why = e.what();
      out.module = ArchiveModule{record, source->is_package, false,
                                 std::make_shared<const ScannedImports>()};
      out.problem = std::make_unique<const LayoutProblem>(
          LayoutProblem{source->module, PackagingErrorReason::kUnreadableSource,
                        record + ": " + e.what(), false});
    }
  } else {
    AnalyseOther(record, records, out);
  }
  return out;
}

// A later record for the same module replaces the earlier one, as in the
// importer's tree (doc/format.md §8.1).
void ArchiveLayout::Add(const RecordAnalysis& analysis) {
  if (analysis.module) modules_[ModuleOfRecord(analysis.module->record)->module] = *analysis.module;
  if (analysis.pickle) pickles_.push_back(*analysis.pickle);
  if (analysis.problem) problems_.push_back(*analysis.problem);
  if (!analysis.unreadable_record.empty()) {
    unreadable_.push_back(analysis.unreadable_record);
    unreadable_why_.push_back(analysis.unreadable_why);
  }
}

void FolderSet::AddParentsOf(std::string_view record) {
  const size_t last_slash = record.rfind('/');
  if (last_slash == std::string_view::npos) return;
  std::string parent = DotsFor(record.substr(0, last_slash));
  if (folders_.contains(parent)) return;  // and so are its own parents
  const std::string& dotted = dotted_records_.emplace_back(std::move(parent));
  for (size_t slash = record.find('/'); slash <= last_slash; slash = record.find('/', slash + 1)) {
    folders_.insert(std::string_view(dotted).substr(0, slash));
  }
}

// The importer walks records in order; a module file `a.py` followed by a
// record under `a/` raises "module is not a package, but has submodules".
void ArchiveLayout::CheckModuleBeforeFolder(const std::vector<std::string>& records) {
  // module -> its record
  std::unordered_map<std::string, std::string, StringHash, std::equal_to<>> module_files;
  std::set<std::string, std::less<>> reported;
  for (const auto& record : records) {
    const std::string dotted = DotsFor(record);
    for (size_t slash = record.find('/'); slash != std::string::npos;
         slash = record.find('/', slash + 1)) {
      const std::string_view folder = std::string_view(dotted).substr(0, slash);
      const auto it = module_files.find(folder);
      if (it == module_files.end() || !reported.emplace(folder).second) continue;
      problems_.push_back({std::string(folder), PackagingErrorReason::kInconsistentStructure,
                           "module file " + it->second + " comes before " + record +
                               ", so the importer cannot open the package"});
    }
    const auto source = ModuleOfRecord(record);
    if (source && !source->is_package) module_files[source->module] = record;
    if (source && source->is_package) module_files.erase(source->module);
  }
}

void ArchiveLayout::FinishMockForm(const std::map<std::string, size_t>& stub_order,
                                   std::optional<size_t> mock_file) {
  has_stubs_ = !stub_order.empty();
  if (!mock_file) return;
  for (const auto& [name, order] : stub_order) {
    if (order < *mock_file) repackaged_form_ = true;
  }
}

const ArchiveModule* ArchiveLayout::Module(std::string_view name) const {
  const auto it = modules_.find(std::string(name));
  return it == modules_.end() ? nullptr : &it->second;
}

ArchiveEnvironment::ArchiveEnvironment(const ArchiveLayout& layout,
                                       const std::vector<std::string>& previous_externs,
                                       const PythonPath& python, const StdlibNames& stdlib)
    : layout_(layout),
      previous_externs_(previous_externs.begin(), previous_externs.end()),
      python_(python),
      stdlib_(stdlib) {}

std::optional<ModuleSource> ArchiveEnvironment::Find(std::string_view module) {
  if (const ArchiveModule* m = layout_.Module(module)) {
    return ModuleSource{ModuleSource::Kind::kSource, "", m->is_package, m->record,
                        m->imports.get()};
  }
  if (layout_.HasFolder(module)) {
    return ModuleSource{ModuleSource::Kind::kImplicitPackage, "", true, ""};
  }
  return std::nullopt;
}

bool ArchiveEnvironment::Importable(std::string_view module) {
  if (module.empty()) return false;
  return layout_.Provides(module) || previous_externs_.contains(std::string(module)) ||
         python_.Find(module).has_value();
}

bool IsSavePickleProtocol(std::string_view head) {
  return head.size() == 2 && head[0] == '\x80' && (head[1] == '\x03' || head[1] == '\x04');
}

bool IsPackagePickleRecord(const RecordSource& records, const std::string& name) {
  if (name.empty() || name.back() == '/' || name.starts_with(".data/") || name.ends_with(".py"))
    return false;
  const bool opens_as_one = IsSavePickleProtocol(records.ReadPrefix(name, 2));
  if (name.ends_with(".pkl")) return opens_as_one || DamageOfPickleRecord(records, name);
  if (!opens_as_one) return false;
  std::string bytes;
  try {
    bytes = ReadForAnalysis(records, name);
  } catch (const Error& e) {
    return e.code() == Errc::kCorrupt;
  }
  try {
    (void)ScanPickle(std::span<const char>(bytes.data(), bytes.size()));
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::optional<Error> DamageOfPickleRecord(const RecordSource& records, const std::string& record) {
  if (!record.ends_with(".pkl")) return std::nullopt;
  try {
    (void)ReadForAnalysis(records, record);
  } catch (const Error& e) {
    if (e.code() == Errc::kCorrupt) return e;
  }
  return std::nullopt;
}

}  // namespace tpkg
