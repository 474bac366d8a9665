// progress.h: how libtpkg's long operations (checking, repacking and
// scanning big archives) say how far they are, so a tool can show it.
//
//   tpkg::ProgressCallback show = [](uint64_t done, uint64_t total) { ... };
//   tpkg::CheckArchive("model.pt", show);
//
// `done` and `total` count bytes of the work (record data read or copied,
// file bytes scanned); `done` never decreases and never exceeds `total`,
// which stays the same for one operation. An empty callback costs nothing.
// Calls come often (every record, or every 256 KiB read): a callback that
// draws must rate-limit itself.
//
// Thread safety: the operation calls the callback on the thread that called
// the operation, never concurrently.
#pragma once

#include <cstdint>
#include <functional>

namespace tpkg {

using ProgressCallback = std::function<void(uint64_t done, uint64_t total)>;

// Calls `progress` when it is set.
inline void ReportProgress(const ProgressCallback& progress, uint64_t done, uint64_t total) {
  if (progress) progress(done, total);
}

}  // namespace tpkg
