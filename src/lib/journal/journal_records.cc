#include "tpkg/journal_records.h"

#include <algorithm>
#include <cerrno>
#include <memory>

#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/model_file.h"
#include "tpkg/model_tensors.h"
#include "tpkg/write_back.h"

namespace tpkg {
namespace {

// Reads up to `limit` bytes of `fd` from offset 0.
std::string ReadFd(int fd, uint64_t size, size_t limit, const std::string& name) {
  std::string out(static_cast<size_t>(std::min<uint64_t>(size, limit)), '\0');
  out.resize(PreadFull(fd, out, 0, name));
  return out;
}

}  // namespace

std::vector<std::string> OriginalRecordNames(const ZipReader& zip) {
  std::vector<std::string> names;
  names.reserve(zip.entries().size());
  for (const ZipEntry& e : zip.entries())
    if (!e.is_directory() && !e.shadowed) names.push_back(e.name);
  return names;
}

// Folder entries ("dir/") included: torch's importer walks them like records
// (doc/format.md §8.1), so the analysis must see what the save will write.
std::vector<std::string> JournalRecords::RecordNames() const { return WriteBackOrder(journal_); }

std::string JournalRecords::Read(const std::string& name, size_t limit) const {
  if (name.ends_with('/')) return {};  // a folder entry holds no bytes
  const std::optional<JournalNode> node = journal_.Stat(name);
  if (!node || node->is_dir) throw Error(Errc::kNotFound, "No record '" + name + "'", ENOENT);
  if (node->original) {
    const ZipReader& zip = journal_.original();
    if (limit >= node->original->size) return zip.ReadAll(*node->original);
    std::string out(limit, '\0');
    out.resize(zip.ReadAt(*node->original, 0, std::span<char>(out.data(), out.size())));
    return out;
  }
  if (const std::shared_ptr<RecordPatch> patch = journal_.FindPatch(name)) {
    std::string out(static_cast<size_t>(std::min<uint64_t>(node->size, limit)), '\0');
    out.resize(patch->Read(0, std::span<char>(out.data(), out.size())));
    return out;
  }
  const ScopedFd fd = journal_.OpenForRead(name);
  return ReadFd(fd.get(), node->size, limit, name);
}

std::string JournalRecords::ReadRecord(const std::string& name) const {
  return Read(name, SIZE_MAX);
}

std::string JournalRecords::ReadPrefix(const std::string& name, size_t n) const {
  return Read(name, n);
}

uint64_t JournalRecords::RecordSize(const std::string& name) const {
  if (name.ends_with('/')) return 0;
  const std::optional<JournalNode> node = journal_.Stat(name);
  if (!node || node->is_dir) throw Error(Errc::kNotFound, "No record '" + name + "'", ENOENT);
  return node->size;
}

std::vector<const ZipEntry*> JournalRecords::Originals(std::span<const std::string> names,
                                                       std::vector<size_t>* at) const {
  std::vector<const ZipEntry*> originals;
  originals.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].ends_with('/')) continue;  // a folder entry holds no bytes
    const std::optional<JournalNode> node = journal_.Stat(names[i]);
    if (!node || node->is_dir || !node->original) continue;
    originals.push_back(node->original);
    if (at) at->push_back(i);
  }
  return originals;
}

void JournalRecords::PrepareReads(std::span<const std::string> names) const {
  journal_.original().CheckRecords(Originals(names, nullptr));
}

std::vector<std::optional<std::string>> JournalRecords::ReadSmallRecords(
    std::span<const std::string> names) const {
  // The originals read as one list (runs follow each other in the
  // archive); the rest stay nullopt.
  std::vector<size_t> at;
  std::vector<std::optional<std::string>> read =
      journal_.original().ReadSmallRecords(Originals(names, &at));
  std::vector<std::optional<std::string>> out(names.size());
  for (size_t k = 0; k < read.size(); ++k) out[at[k]] = std::move(read[k]);
  return out;
}

std::optional<RecordContentId> JournalRecords::ContentOf(const std::string& name) const {
  if (name.ends_with('/')) return std::nullopt;
  const std::optional<JournalNode> node = journal_.Stat(name);
  if (!node || node->is_dir || !node->original) return std::nullopt;
  return RecordContentId::Of(*node->original);
}

bool JournalRecords::IsEdited(const std::string& name) const {
  const std::optional<JournalNode> node = journal_.Stat(name);
  return !node || node->edited() || node->original->name != name;
}

MetadataOptions SaveCheckOptions(const Journal& journal,
                                 std::shared_ptr<RecordAnalysisCache> cache) {
  MetadataOptions options;
  options.cache = std::move(cache);
  options.baseline_records = OriginalRecordNames(journal.original());
  options.baseline = std::make_shared<ZipRecordSource>(journal.original());
  options.edited = [records = std::make_shared<JournalRecords>(journal)](
                       const std::string& record) { return records->IsEdited(record); };
  return options;
}

RegeneratedRecords SaveMetadata(const Journal& journal, std::vector<std::string>& notes,
                                std::shared_ptr<RecordAnalysisCache> cache,
                                const std::string& save_to) {
  const std::string what = save_to.empty()
                               ? journal.archive_path()
                               : "the edits of " + journal.archive_path() + " to " + save_to;
  if (!IsTorchPackage(journal.original())) {
    // torch.save and TorchScript: no metadata, but their storages are checked.
    const FileKind kind = DetectFileKind(journal.original());
    if (kind != FileKind::kTorchSave && kind != FileKind::kTorchScript) return {};
    const JournalRecords records(journal);
    const ZipRecordSource baseline(journal.original());
    const auto edited = [&records](const std::string& r) { return records.IsEdited(r); };
    const std::string kind_name(FileKindName(kind));
    std::string why;
    if (const std::string problems = SerializedArchiveProblems(records, kind, edited, &baseline);
        !problems.empty())
      why = "the " + kind_name + " archive would no longer load:\n" + problems;
    if (const std::string unsafe = SerializedArchiveSafetyProblems(records, baseline, edited);
        !unsafe.empty())
      why += std::string(why.empty() ? "" : "\n") + "the edits would make the " + kind_name +
             " archive less safe:\n" + unsafe;
    if (!why.empty()) throw Error(Errc::kPolicy, "Cannot save " + what + ": " + why);
    return {};
  }
  const JournalRecords records(journal);
  const Metadata m = RegenerateMetadata(records, SaveCheckOptions(journal, std::move(cache)));
  if (!m.ok()) {
    // Records the edits never touched that cannot be read are damage the
    // archive came with, not something the edits broke: say so first.
    std::string damaged;
    for (const std::string& record : m.unreadable)
      if (!records.IsEdited(record)) damaged += (damaged.empty() ? "" : ", ") + QuoteName(record);
    std::string why;
    if (!damaged.empty())
      why = "the archive was damaged before these edits (" + damaged +
            " cannot be read, and a save copies every record): write a good copy of each " +
            "through the mount, or delete it there, and unmount again; every problem found:\n";
    else if (!m.problems.empty())
      why = "the package would no longer load:\n";
    why += m.problems;
    if (!m.safety_problems.empty())
      why += (why.empty() ? "" : "\n") +
             std::string("the edits would make the package less safe:\n") + m.safety_problems;
    throw Error(Errc::kPolicy, "Cannot save " + what + ": " + why);
  }
  for (const NewExtern& added : m.new_externs) {
    notes.push_back(journal.archive_path() + ": " + added.module +
                    " is now extern (imported by edited " + added.importers + ")");
  }
  for (const NewExtern& unfound : m.unfound_imports) {
    notes.push_back("warning: " + journal.archive_path() + ": " + unfound.module +
                    ", imported by edited " + unfound.importers +
                    ", is not in the package, not extern and not installed here: the package "
                    "fails to load on that import unless it is guarded (try/except ImportError)");
  }
  return {{std::string(kExternModulesPath), m.extern_modules_text}};
}

RegeneratedRecords ExpectedSaveMetadata(const Journal& journal) {
  const ZipReader& original = journal.original();
  if (!IsTorchPackage(original)) return {};
  // An unreadable or missing list is a guess like any other: "" is what a
  // package without externs holds.
  std::optional<std::string> own;
  try {
    own = OwnExternModules(original);
  } catch (const Error&) {
  }
  return {{std::string(kExternModulesPath), own.value_or("")}};
}

}  // namespace tpkg
