#include "analysis_warmer.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <exception>

#include "tpkg/background_thread.h"
#include "log.h"
#include "tpkg/package_files.h"

namespace tpkg::fs {

AnalysisWarmer::AnalysisWarmer(const ZipReader& zip, std::shared_ptr<RecordAnalysisCache> cache)
    : zip_(zip), cache_(std::move(cache)), wanted_(cache_ && IsTorchPackage(zip_)) {}

AnalysisWarmer::~AnalysisWarmer() { Join(); }

void AnalysisWarmer::Join() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void AnalysisWarmer::Start() {
  if (!wanted_) return;
  std::call_once(started_, [this] {
    try {
      thread_ = StartBackgroundThread([this] { Run(); });
    } catch (const std::exception& e) {
      // No thread: the save scans everything itself, as it always could.
      TPKG_LOG(kDebug) << "the background analysis did not start: " << e.what();
    }
  });
}

void AnalysisWarmer::Run() {
  // Background work: below the FUSE workers (a per-thread nice on Linux).
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
  try {
    const size_t n = WarmAnalysisCache(zip_, *cache_, stop_);
    TPKG_LOG(kDebug) << "background analysis: " << n << " records scanned"
                     << (stop_.load() ? " (stopped by the unmount)" : "");
  } catch (const std::exception& e) {
    TPKG_LOG(kDebug) << "background analysis stopped: " << e.what();
  }
}

}  // namespace tpkg::fs
