// progress_line.h: one self-erasing line on standard error saying how far a
// long command is ("tpkg: check model.pt: 42% (1.2 GiB of 2.9 GiB)"), only
// when standard error is a terminal and only once the work has taken more
// than a second (TPKG_PROGRESS_DELAY_MS overrides the delay; 0 shows it at
// once), so that quick commands, pipes and logs never see it.
//
//   ProgressLine line("check", "model.pt");
//   tpkg::CheckArchive(path, line.callback());
//   line.Clear();          // before printing results (the destructor does it too)
//
// Redraws at most ten times a second. Standard output is never touched.
//
// Thread safety: one thread owns a ProgressLine and calls its callback.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "tpkg/progress.h"

namespace tpkg::cli {

class ProgressLine {
 public:
  // Shows "tpkg: VERB SUBJECT: ..."; a long SUBJECT (a path) is shortened.
  ProgressLine(std::string_view verb, std::string subject);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // A callback for libtpkg's operations; empty (free) when the line is off.
  ProgressCallback callback();
  void Update(uint64_t done, uint64_t total);
  // Erases the line if it was drawn.
  void Clear();

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_;
  bool enabled_ = false;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::duration delay_;
  Clock::time_point last_draw_;
};

// "1.2 GiB", "512 KiB", "37 B".
std::string HumanBytes(uint64_t bytes);

}  // namespace tpkg::cli
