// save_signals.h: SIGINT, SIGTERM and SIGHUP while the daemon saves: the save
// goes on, and each signal is logged when it comes (SIGPIPE, which a log line
// to a closed pipe raises, is only blocked).
//
// Why: once the FUSE loop has returned, libfuse's handlers go
// (FuseSignalHandlers) and these signals would end the daemon in the middle
// of its save, with its default action: no outcome in the save log, a
// half-written temp file left in the journal, a foreground user's Ctrl-C
// that quietly drops the save (the archive stays whole and the next mount
// takes the edits back, but the user was promised a save). These signals
// never shorten a save; SIGKILL (or SIGQUIT, a request for a core dump)
// does, and the journal keeps the edits.
//
//   loop_result = RunSessionLoop(...);  // libfuse's handlers still in place
//   SaveSignals during_save(archive);   // before they go
//   ...                                 // ~FuseSignalHandlers, SaveEdits
//
// How: the constructor blocks the signals in the calling thread, which
// must be the only one that does not block them (every helper thread blocks
// every signal: tpkg/background_thread.h; threads started from it later
// inherit its mask), so that they stay pending whatever their handler; a
// helper thread reads them from a signalfd and logs each. The destructor
// stops that thread. The signals stay blocked after it: the daemon exits
// once it has saved, and a signal that comes after the thread stopped dies
// with the process.
//
// Thread safety: one per process at a time, constructed and destroyed on the
// same thread; the helper thread only logs (log.h is thread-safe).
#pragma once

#include <string>
#include <thread>

#include "tpkg/scoped_fd.h"

namespace tpkg::fs {

class SaveSignals {
 public:
  // `archive` names the save in the log line. Never throws: without a
  // signalfd or a thread the signals are still blocked, only not logged
  // (a warning says so).
  explicit SaveSignals(std::string archive);
  ~SaveSignals();
  SaveSignals(const SaveSignals&) = delete;
  SaveSignals& operator=(const SaveSignals&) = delete;

 private:
  void Run();

  const std::string archive_;
  ScopedFd signals_;  // signalfd of SIGINT, SIGTERM, SIGHUP
  ScopedFd stop_;     // eventfd: the destructor asks the thread to end
  std::thread thread_;
};

}  // namespace tpkg::fs
