// write_plan.cc: WriteBackOrder() and PlanWriteBack(), the order and source
// of every record a write-back writes (rules in tpkg/write_back.h).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "base/file_util.h"
#include "tpkg/counted.h"
#include "tpkg/error.h"
#include "tpkg/serialization_id.h"
#include "tpkg/write_back.h"
#include "zip/torch_trailer.h"
#include "zip/zip_name_index.h"  // LowerBoundNear, SortMostlyInOrder
#include "zip/zip_names.h"

namespace tpkg {
namespace {

constexpr std::string_view kExternModules = ".data/extern_modules";

constexpr size_t kCompareChunk = 64 * 1024;

// Where the new names go: at `.data/extern_modules`, else at the first
// record of torch's trailer, else the end (an index into `entries`).
size_t InsertionPoint(const std::vector<ZipEntry>& entries,
                      const std::vector<std::string>& trailer) {
  std::vector<std::string_view> anchors{kExternModules};
  if (!trailer.empty()) anchors.emplace_back(trailer.front());
  for (std::string_view anchor : anchors) {
    for (size_t i = 0; i < entries.size(); ++i)
      if (entries[i].name == anchor) return i;
  }
  return entries.size();
}

RecordAttributes AttrsOf(const ZipEntry& e) { return {e.mode, e.mtime}; }

// Whether `sorted` holds `name`, searching on from `hint` (LowerBoundNear).
bool ContainsNear(const std::vector<std::string_view>& sorted, std::string_view name,
                  size_t& hint) {
  const size_t at = LowerBoundNear(sorted, name, std::less<>(), hint);
  return at < sorted.size() && sorted[at] == name;
}

bool SameTime(const std::optional<struct timespec>& a, const std::optional<struct timespec>& b) {
  return a && b && a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

// What a save keeps of a file's or folder's attributes (write_back.h):
// `archived` is the archive's entry whose content (or folder) this still is.
// The mode when it is not the default or the archive had one; the mtime set
// by utimens while it is still current, else the archive's own while the
// content is unchanged, else none (a write's or a listing change's time).
RecordAttributes AttrsToSave(std::optional<uint32_t> mode, std::optional<struct timespec> mtime,
                             std::optional<struct timespec> chosen_mtime,
                             const ZipEntry* archived, uint32_t default_mode) {
  RecordAttributes a;
  if (mode && ((archived && archived->mode) || *mode != default_mode)) a.mode = mode;
  if (SameTime(mtime, chosen_mtime)) {
    a.mtime = static_cast<int64_t>(chosen_mtime->tv_sec);
  } else if (archived && archived->mtime && mtime && mtime->tv_sec == *archived->mtime) {
    a.mtime = archived->mtime;
  }
  return a;
}

RecordAttributes FolderAttrs(const JournalFolder& f) {
  return AttrsToSave(f.mode, f.mtime, f.chosen_mtime, f.original_entry, kDefaultFolderMode);
}

// Whether a folder gets an entry (write_back.h): the archive had one, mkdir
// made it and it is empty, or it has attributes to keep.
bool NeedsEntry(const JournalFolder& f) {
  return f.original_entry || (f.empty && f.made) || FolderAttrs(f) != RecordAttributes{};
}

// WriteBackOrder() on snapshots of the journal's namespace: `files`, every
// file's path, sorted (as Journal::FileNames()); `folders` as
// Journal::Folders(). Taken once per plan: a snapshot of 5,000 files costs
// milliseconds.
std::vector<std::string> Order(const ZipReader& original, std::vector<std::string_view> files,
                               const std::vector<JournalFolder>& folders,
                               const RegeneratedRecords& metadata) {
  const std::vector<ZipEntry>& entries = original.entries();
  // What torch's finish step wrote goes last, in its order (zip/torch_trailer.h).
  const std::vector<std::string> trailer = TorchTrailer(entries);
  const auto in_trailer = [&](std::string_view name) {
    return std::find(trailer.begin(), trailer.end(), name) != trailer.end();
  };
  // Folder entries, as "dir/": the archive's at their place, new ones sorted in.
  std::map<const ZipEntry*, std::string> kept_folders;
  std::vector<std::string> new_folders;
  for (const JournalFolder& f : folders) {
    if (!NeedsEntry(f)) continue;
    if (f.original_entry)
      kept_folders.emplace(f.original_entry, f.path + "/");
    else
      new_folders.push_back(f.path + "/");
  }
  if (!new_folders.empty()) {
    std::sort(new_folders.begin(), new_folders.end());
    const size_t had = files.size();
    files.insert(files.end(), new_folders.begin(), new_folders.end());
    std::inplace_merge(files.begin(), files.begin() + static_cast<std::ptrdiff_t>(had),
                       files.end());
  }
  // The archive's names mostly come in order (torch writes a package's
  // modules sorted): each search starts where the last one ended.
  size_t near = 0;
  const auto exists = [&](const std::string& name) {
    return ContainsNear(files, name, near) || metadata.count(name);
  };
  std::vector<std::string> order;
  order.reserve(entries.size() + new_folders.size() + metadata.size());
  // Names the original archive does not have: created files, rename
  // targets, then regenerated records it lacked. The archive's names that
  // Find() would return, sorted once (they mostly come in order), and
  // searched from where the last search ended: `files` is sorted too.
  std::vector<uint32_t> by_name;
  by_name.reserve(entries.size());
  for (uint32_t i = 0; i < entries.size(); ++i)
    if (!entries[i].shadowed) by_name.push_back(i);
  SortMostlyInOrder(by_name, [&](uint32_t a, uint32_t b) {
    return entries[a].name != entries[b].name ? entries[a].name < entries[b].name : a < b;
  });
  std::vector<std::string_view> archived;
  archived.reserve(by_name.size());
  for (const uint32_t i : by_name) archived.emplace_back(entries[i].name);
  const auto add_new_names = [&] {
    size_t archived_near = 0;
    for (const std::string_view path : files)
      if ((path.back() == '/' || !ContainsNear(archived, path, archived_near)) &&
          !in_trailer(path) && !metadata.count(std::string(path)))
        order.emplace_back(path);
    for (const auto& [name, bytes] : metadata)
      if (!original.Find(name) && !in_trailer(name)) order.push_back(name);
  };
  const size_t insert_at = InsertionPoint(entries, trailer);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i == insert_at) add_new_names();
    const ZipEntry& e = entries[i];
    if (e.shadowed) continue;  // never read by torch: left out (LeftOutEntries)
    if (auto kept = kept_folders.find(&e); kept != kept_folders.end())
      order.push_back(kept->second);
    else if (!e.is_directory() && !in_trailer(e.name) && exists(e.name))
      order.push_back(e.name);
  }
  if (insert_at == entries.size()) add_new_names();
  for (const std::string& name : trailer)
    if (exists(name)) order.push_back(name);
  return order;
}

class Planner {
 public:
  Planner(const Journal& journal, const RegeneratedRecords& metadata)
      : original_(journal.original()),
        journal_(journal),
        metadata_(metadata),
        trailer_(TorchTrailer(original_.entries())),
        files_(journal.Files()) {}

  WritePlan Run() {
    const std::vector<JournalFolder> folders = journal_.Folders();
    for (const JournalFolder& f : folders) folders_.emplace(f.path + "/", f);
    std::vector<std::string_view> paths;
    paths.reserve(files_.size());
    for (const auto& [path, node] : files_) paths.push_back(path);
    std::vector<std::string> order = Order(original_, std::move(paths), folders, metadata_);
    // torch 2.x's writer writes the id whatever its caller wrote or left
    // out, so a deleted id comes back like an edited one is overwritten
    // (doc/format.md §13.2).
    if (IsTrailer(kSerializationIdRecord) &&
        std::find(order.begin(), order.end(), kSerializationIdRecord) == order.end())
      order.emplace_back(kSerializationIdRecord);
    plan_.records.reserve(order.size());
    for (const std::string& name : order) Emit(name);
    plan_.changed = !SameAsOriginal();
    plan_.before_metadata = RecordsBeforeMetadata();
    return std::move(plan_);
  }

 private:
  // The file named `path`, or nullptr (LowerBoundNear: the plan's names
  // mostly come in order).
  const JournalNode* FindFile(std::string_view path) const {
    const auto less = [](const auto& file, std::string_view name) { return file.first < name; };
    const size_t at = LowerBoundNear(files_, path, less, near_);
    return at < files_.size() && files_[at].first == path ? &files_[at].second : nullptr;
  }

  bool IsTrailer(std::string_view name) const {
    return std::find(trailer_.begin(), trailer_.end(), name) != trailer_.end();
  }

  // WritePlan::before_metadata.
  size_t RecordsBeforeMetadata() const {
    for (size_t i = 0; i < plan_.records.size(); ++i) {
      const PlannedRecord& r = plan_.records[i];
      if (r.source == PlannedRecord::Source::kRegenerated ||
          r.source == PlannedRecord::Source::kSerializationId || metadata_.count(r.name) ||
          IsTrailer(r.name))
        return i;
    }
    return plan_.records.size();
  }

  void Emit(const std::string& name) {
    if (name == kSerializationIdRecord && IsTrailer(name))
      return plan_.records.push_back(
          {name, PlannedRecord::Source::kSerializationId, nullptr, nullptr, {}});
    if (auto f = folders_.find(name); f != folders_.end()) {
      return plan_.records.push_back({name, PlannedRecord::Source::kFolder,
                                      f->second.original_entry, nullptr, FolderAttrs(f->second)});
    }
    if (auto m = metadata_.find(name); m != metadata_.end()) {
      const ZipEntry* same_name = original_.Find(name);
      if (same_name && same_name->size == m->second.size() &&
          original_.ReadAll(*same_name) == m->second)
        return Raw(name, same_name, AttrsOf(*same_name));
      return plan_.records.push_back(
          {name, PlannedRecord::Source::kRegenerated, nullptr, &m->second, {}});
    }
    const JournalNode* file = FindFile(name);
    if (!file) throw Error(Errc::kNotFound, "'" + name + "': no such file to save", ENOENT);
    const JournalNode& node = *file;
    const auto attrs = [&node](const ZipEntry* archived, std::optional<struct timespec> mtime) {
      return AttrsToSave(node.mode, mtime, node.chosen_mtime, archived, kDefaultFileMode);
    };
    if (node.original) return Raw(name, node.original, attrs(node.original, node.mtime));
    // Identical bytes: the original record, and its own mtime unless one was chosen.
    const ZipEntry* same_name = original_.Find(name);
    if (same_name && same_name->size == node.size && UnchangedBytes(name, *same_name)) {
      const bool chosen = SameTime(node.mtime, node.chosen_mtime);
      std::optional<struct timespec> mtime = node.mtime;
      if (!chosen && same_name->mtime) mtime = timespec{static_cast<time_t>(*same_name->mtime), 0};
      return Raw(name, same_name, attrs(same_name, mtime));
    }
    plan_.records.push_back(
        {name, PlannedRecord::Source::kJournal, nullptr, nullptr, attrs(nullptr, node.mtime)});
  }

  void Raw(const std::string& name, const ZipEntry* entry, const RecordAttributes& attrs) {
    plan_.records.push_back({name, PlannedRecord::Source::kRaw, entry, nullptr, attrs});
  }

  // An edited file that holds exactly its original bytes (opened for
  // writing, or rewritten with the same content) needs no rewrite. The bytes
  // themselves are compared: equal size and CRC-32 are easy to reach with
  // other content, and taking them for "unchanged" would drop the edit. An
  // original that cannot be read back (corrupt) counts as changed, so the
  // user's bytes are written.
  bool UnchangedBytes(const std::string& name, const ZipEntry& entry) const {
    const std::shared_ptr<RecordPatch> patch = journal_.FindPatch(name);
    ScopedFd fd = patch ? ScopedFd() : journal_.OpenForRead(name);
    const std::string what = journal_.directory() + " (" + name + ")";
    std::vector<char> edited(kCompareChunk), original(kCompareChunk);
    try {
      RecordStream in(original_, entry);
      for (uint64_t offset = 0; offset < entry.size;) {
        const size_t n = in.Read(original);
        if (n == 0) return false;
        if (patch) {
          if (patch->Read(offset, std::span<char>(edited.data(), n)) != n) return false;
        } else {
          PreadExact(fd.get(), std::span<char>(edited.data(), n), offset, what);
        }
        if (std::memcmp(edited.data(), original.data(), n) != 0) return false;
        offset += n;
      }
    } catch (const Error& e) {
      if (e.code() != Errc::kCorrupt) throw;
      return false;
    }
    return true;
  }

  // True when the user's files are the original records: then the save is
  // skipped, whatever the regenerated metadata says. Layout the plan changes
  // on its own (ZIP directory entries dropped, the trailer moved last) is no
  // reason to rewrite an archive either.
  bool SameAsOriginal() const {
    std::vector<const ZipEntry*> expected;
    for (const ZipEntry& e : original_.entries())
      if (!e.is_directory() && !e.shadowed) expected.push_back(&e);
    if (!SameFolders()) return false;
    std::vector<const ZipEntry*> planned;
    for (const PlannedRecord& r : plan_.records) {
      if (r.source == PlannedRecord::Source::kFolder) continue;
      if (r.source == PlannedRecord::Source::kRaw && r.attrs != AttrsOf(*r.entry)) return false;
      const std::optional<const ZipEntry*> entry = UserContent(r);
      if (!entry) continue;  // added by the metadata alone
      if (!*entry || r.name != (*entry)->name) return false;
      planned.push_back(*entry);
    }
    const auto in_trailer = [this](const ZipEntry* e) { return IsTrailer(e->name); };
    if (std::count_if(expected.begin(), expected.end(), in_trailer) !=
        std::count_if(planned.begin(), planned.end(), in_trailer))
      return false;
    std::erase_if(expected, in_trailer);
    std::erase_if(planned, in_trailer);
    return planned == expected;
  }

  // The folder entries planned are the archive's own (the prefix folder's
  // aside), unchanged.
  bool SameFolders() const {
    size_t kept = 0;
    for (const PlannedRecord& r : plan_.records) {
      if (r.source != PlannedRecord::Source::kFolder) continue;
      if (!r.entry || r.attrs != AttrsOf(*r.entry)) return false;
      ++kept;
    }
    size_t had = 0;
    for (const ZipEntry& e : original_.entries())
      if (e.is_directory() && !e.shadowed && e.name.find_first_not_of('/') != std::string::npos)
        ++had;
    return kept == had;
  }

  // The original entry whose bytes the user's file named r.name holds:
  // nullptr for edited or deleted content, nullopt when neither a user file
  // nor an original record has that name (the metadata added it).
  std::optional<const ZipEntry*> UserContent(const PlannedRecord& r) const {
    if (r.source == PlannedRecord::Source::kRaw) return r.entry;
    if (r.source == PlannedRecord::Source::kJournal) return nullptr;
    if (const JournalNode* file = FindFile(r.name)) return file->original;
    if (original_.Find(r.name)) return nullptr;
    return std::nullopt;
  }

  const ZipReader& original_;
  const Journal& journal_;
  const RegeneratedRecords& metadata_;
  // What torch's finish step wrote, written last in its order (zip/torch_trailer.h).
  const std::vector<std::string> trailer_;
  // The journal's files (one snapshot), sorted by path.
  const std::vector<std::pair<std::string, JournalNode>> files_;
  // Where FindFile's last search ended (mutable: a Planner is made for one
  // plan and used by one thread).
  mutable size_t near_ = 0;
  std::map<std::string, JournalFolder> folders_;  // keyed "dir/"
  WritePlan plan_;
};

}  // namespace

std::vector<std::string> WriteBackOrder(const Journal& journal,
                                        const RegeneratedRecords& metadata) {
  const std::vector<std::string> files = journal.FileNames();
  return Order(journal.original(), std::vector<std::string_view>(files.begin(), files.end()),
               journal.Folders(), metadata);
}

namespace {

// "a, b, c, d, e and 3 more": the first of `named`, for a one-line warning.
std::string FirstNamed(const std::vector<std::string>& named) {
  constexpr size_t kShown = 5;
  std::string text;
  for (size_t i = 0; i < named.size() && i < kShown; ++i) text += (i ? ", " : "") + named[i];
  if (named.size() > kShown) text += " and " + std::to_string(named.size() - kShown) + " more";
  return text;
}

}  // namespace

std::string LeftOutEntries(const ZipReader& original) {
  std::vector<std::string> named;
  for (const ZipEntry& e : original.entries()) {
    if (!e.shadowed) continue;
    // The offset tells two entries of one name apart.
    named.push_back(QuoteName(e.full_name) + " at offset " + std::to_string(e.local_header_offset) +
                    (e.outside_prefix
                         ? " (outside the prefix folder)"
                         : " (torch reads another entry of that name, ASCII case aside)"));
  }
  if (named.empty()) return "";
  return "left out " + Counted(named.size(), "entry", "entries") +
         " torch never reads: " + FirstNamed(named);
}

std::string LeftOutEmptiedFolders(const Journal& journal) {
  std::vector<std::string> named;
  for (const JournalFolder& f : journal.Folders())
    if (f.empty && !NeedsEntry(f)) named.push_back(QuoteName(f.path));
  if (named.empty()) return "";
  return "left out " + Counted(named.size(), "emptied folder", "emptied folders") +
         " the archive's files implied, as torch's exporter writes no folders: " +
         FirstNamed(named) + " (mkdir one again to keep it)";
}

std::string LeftOutRootAttributes(const Journal& journal) {
  if (!journal.RootAttributesSet()) return "";
  return "a mode or time given to the mount's top folder is not kept: the archive has no entry "
         "of its own for it";
}

WritePlan PlanWriteBack(const Journal& journal, const RegeneratedRecords& metadata) {
  // A non-strict reader of a ZIP torch cannot open lists what lies outside
  // its prefix folder under its full name, not shadowed: the writer would
  // put it inside the folder (another name), so the save is refused.
  for (const ZipEntry& e : journal.original().entries()) {
    if (e.outside_prefix && !e.shadowed)
      throw Error(Errc::kUnsupported,
                  "cannot write back " + QuoteName(e.full_name) + ": it is outside the prefix " +
                      "folder " + QuoteName(journal.original().prefix()) +
                      " of an archive torch cannot open, and a save would move it inside");
  }
  return Planner(journal, metadata).Run();
}

}  // namespace tpkg
