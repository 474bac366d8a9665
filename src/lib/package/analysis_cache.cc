// RecordAnalysisCache and WarmAnalysisCache (rules in tpkg/analysis_cache.h).
#include "tpkg/analysis_cache.h"

#include "base/build_id.h"
#include "package/analysis_store.h"
#include "package/package_layout.h"
#include "tpkg/error.h"
#include "tpkg/metadata.h"

namespace tpkg {

RecordAnalysisCache::RecordAnalysisCache() = default;
RecordAnalysisCache::~RecordAnalysisCache() = default;

std::shared_ptr<const RecordAnalysis> RecordAnalysisCache::Find(
    const std::string& record, const RecordContentId& content) const {
  {
    std::lock_guard lock(mu_);
    const auto it = entries_.find(record);
    if (it != entries_.end() && it->second.content == content) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      return it->second.analysis;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void RecordAnalysisCache::Put(const std::string& record, const RecordContentId& content,
                              std::shared_ptr<const RecordAnalysis> analysis) {
  std::lock_guard lock(mu_);
  entries_[record] = Entry{content, std::move(analysis)};
}

bool RecordAnalysisCache::Contains(const std::string& record,
                                   const RecordContentId& content) const {
  std::lock_guard lock(mu_);
  const auto it = entries_.find(record);
  return it != entries_.end() && it->second.content == content;
}

void RecordAnalysisCache::KeepOnDisk(const std::string& dir, const ZipReader* home) {
  if (dir.empty() || OwnBuildId().empty()) {
    disk_.reset();
    return;
  }
  disk_ = std::make_unique<AnalysisStore>(dir, std::string(OwnBuildId()));
  if (home) {
    disk_->SetHome([home] { return AnalysedRecords(ZipRecordSource(*home).RecordNames()); });
    disk_->SetHomeFile(home->fd(), home->entries().size());
  }
}

void RecordAnalysisCache::RememberSavedArchive(const SavedArchive& saved) noexcept {
  if (!disk_) return;
  disk_->CarryDigests(saved.replaced, saved.saved, saved.carried);
  try {
    const std::vector<std::string> names = AnalysedRecords(saved.records);
    disk_->Save(disk_->Load(names), names);  // written when that pack lacks something
  } catch (const std::exception&) {          // out of memory: the next mount scans again
  }
}

uint64_t RecordAnalysisCache::digests_known() const { return disk_ ? disk_->digests_known() : 0; }

uint64_t RecordAnalysisCache::disk_hits() const { return disk_ ? disk_->hits() : 0; }

void RecordAnalysisCache::FlushDisk() {
  if (disk_) disk_->Flush();
}

std::string RecordAnalysisCache::disk_problem() const {
  return disk_ ? disk_->last_problem() : std::string();
}

size_t RecordAnalysisCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

size_t WarmAnalysisCache(const ZipReader& zip, RecordAnalysisCache& cache,
                         const std::atomic<bool>& stop) {
  const ZipRecordSource records(zip);
  const std::vector<std::string> names = AnalysedRecords(records.RecordNames());
  AnalysisStore* disk = cache.disk();
  std::optional<AnalysisStore::PackKey> pack;
  if (disk) pack = disk->Load(names);
  size_t analysed = 0;
  for (const std::string& name : names) {
    if (stop.load(std::memory_order_relaxed)) return analysed;
    const RecordContentId content = *records.ContentOf(name);
    if (cache.Contains(name, content)) continue;
    try {
      cache.Put(
          name, content,
          std::make_shared<const RecordAnalysis>(AnalyseRecord(name, records, disk, content)));
      ++analysed;
    } catch (const Error&) {
      // Unreadable or too large: the analysis proper reads it again and reports it.
    }
  }
  if (pack) disk->Save(*pack, names);
  return analysed;
}

}  // namespace tpkg
