// analysis_warmer.h: fills a read/write mount's analysis cache
// (tpkg/analysis_cache.h) in the background once the mount is first
// changed, so that the save (and the generated files after an edit) scan
// only the records the edits changed, not the whole package.
//
//   AnalysisWarmer warmer(journal.original(), cache);
//   warmer.Start();   // on every change: the first call starts the thread
//   warmer.Stop();    // unmounted: stop after the record being scanned
//   SaveEdits(journal, cache);
//   warmer.Join();    // or ~AnalysisWarmer
//
// The thread runs at nice 10: FUSE requests come first. Stop() does not wait
// for it: on a busy machine a nice thread may wait long for a core to finish
// its record, and the save must not wait with it (it scans what the cache
// lacks itself; a record both scan is stored twice, the same result). A
// package that is not a torch.package gets no analysis and no thread.
//
// Thread safety: Start() and Stop() may be called from any thread
// (std::call_once, an atomic flag); the destructor must not race with them
// (the daemon destroys the warmer after the save).
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
  void Stop() { stop_.store(true, std::memory_order_relaxed); }
  // Stop(), then waits for the thread (and so for its Save() of the cache's
  // pack to be queued). Not while Start() may still be called.
  void Join();

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
