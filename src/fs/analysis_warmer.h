// analysis_warmer.h: fills a read/write mount's analysis cache
// (tpkg/analysis_cache.h) in the background once the mount is first
// changed, so that the save (and the generated files after an edit) scan
// only the records the edits changed, not the whole package.
//
//   AnalysisWarmer warmer(journal.original(), cache);
//   warmer.Start();   // on every change: the first call starts the thread
//   ...               // destroyed (stopped and joined) before the save
//
// The thread runs at nice 10: FUSE requests come first. Unmounting stops it
// between two records; the save then scans what it had not reached itself,
// so the save never waits for it beyond one record's scan. A package that is
// not a torch.package gets no analysis and no thread.
//
// Thread safety: Start() may be called from any thread (std::call_once);
// the destructor must not race with Start() (the daemon destroys the warmer
// after the FUSE loop has returned).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "tpkg/analysis_cache.h"
#include "tpkg/zip_reader.h"

namespace tpkg::fs {

class AnalysisWarmer {
 public:
  // `zip` (the journal's original archive) and `cache` must outlive the warmer.
  // A null cache makes Start() do nothing.
  AnalysisWarmer(const ZipReader& zip, std::shared_ptr<RecordAnalysisCache> cache);
  ~AnalysisWarmer();
  AnalysisWarmer(const AnalysisWarmer&) = delete;
  AnalysisWarmer& operator=(const AnalysisWarmer&) = delete;

  void Start();

 private:
  void Run();

  const ZipReader& zip_;
  const std::shared_ptr<RecordAnalysisCache> cache_;
  const bool wanted_;  // a torch.package, with a cache
  std::once_flag started_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // joinable once started
};

}  // namespace tpkg::fs
