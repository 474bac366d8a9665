// background_thread.h: starts a helper thread (the journal's
// committer, the mount's background analysis) with every signal blocked.
//
// Why: a process-directed signal goes to any thread that does not block it.
// The daemon's libfuse loop ends on SIGINT/SIGTERM/SIGHUP only when the
// signal interrupts the thread that waits for the session, and libfuse's own
// workers block every signal for that reason; a helper thread started from
// the main thread (a single-threaded mount, a library user) would otherwise
// inherit an open mask and could swallow the signal, leaving the daemon up.
//
//   std::thread t = StartBackgroundThread([this] { Run(); });
//
// Thread safety: callable from any thread; the caller's own mask is restored
// before it returns (also when the thread cannot be created: it throws
// std::system_error as std::thread does).
#pragma once

#include <functional>
#include <thread>

namespace tpkg {

std::thread StartBackgroundThread(std::function<void()> body);

}  // namespace tpkg
