// temp_file_cleanup.h: temporary files a signal must not leave behind.
//
// An AtomicFile removes its temporary file when it is destroyed, but a
// signal that ends the process (Ctrl-C during `tpkg repack` of a 2 GiB
// package) runs no destructor, and would leave a hidden, partly written
// copy beside the output. A command-line program installs the handler once;
// AtomicFile registers its temporary file while it exists:
//
//   tpkg::RemoveTempFilesOnSignals();        // main(): SIGINT, SIGTERM, SIGHUP
//   const size_t slot = tpkg::RegisterTempFile(temp_path);   // before creating it
//   fd = open(temp_path, O_CREAT | O_EXCL ...);
//   tpkg::ArmTempFile(slot);                  // created: the handler removes it now
//   ...
//   tpkg::UnregisterTempFile(slot);          // renamed into place, or removed
//
// On one of those signals the handler removes every armed file, then lets
// the signal end the process as it would have (exit status 128 + N in a
// shell). A path is registered before its file is created and armed right
// after, with the three signals held in between (TempFileSignalsHeld), so
// that no window leaves a created file unknown to the handler (a signal
// meanwhile waits, and then finds it armed: on a busy machine the thread
// can be descheduled right after the create) and a name someone else
// created is never removed. The daemon, which handles those signals itself (a SIGTERM saves),
// does not install it; its temporary files live in the journal, whose next
// open removes them.
//
// Thread safety: Register, Arm and Unregister may be called from any
// thread; the handler is async-signal-safe: each slot keeps its own copy of
// the path (no allocation, no pointer into memory a destructor frees) and an
// atomic state, which the handler takes (armed -> removing) before it reads
// the path, so no thread can reuse the slot under it.
#pragma once

#include <signal.h>

#include <cstddef>
#include <string>

namespace tpkg {

inline constexpr size_t kNoTempFileSlot = static_cast<size_t>(-1);

// Remembers `path` for the handler, not armed yet; kNoTempFileSlot when
// every slot is in use or the path is too long (the file is then only
// removed as before). Arm and Unregister ignore kNoTempFileSlot.
size_t RegisterTempFile(const std::string& path) noexcept;
void ArmTempFile(size_t slot) noexcept;
void UnregisterTempFile(size_t slot) noexcept;

// Holds SIGINT, SIGTERM and SIGHUP in the calling thread while alive: create
// and arm a temp file under it.
class TempFileSignalsHeld {
 public:
  TempFileSignalsHeld() noexcept;
  ~TempFileSignalsHeld();  // a signal that came meanwhile is handled here
  TempFileSignalsHeld(const TempFileSignalsHeld&) = delete;
  TempFileSignalsHeld& operator=(const TempFileSignalsHeld&) = delete;

 private:
  sigset_t before_;
};

// Installs the handler for SIGINT, SIGTERM and SIGHUP (where they are not
// ignored: a `nohup` keeps its SIGHUP ignored).
void RemoveTempFilesOnSignals() noexcept;

}  // namespace tpkg
