// temp_file_cleanup.h: temporary files a signal must not leave behind.
//
// An AtomicFile removes its temporary file when it is destroyed, but a
// signal that ends the process (Ctrl-C during `tpkg repack` of a 2 GiB
// package) runs no destructor, and would leave a hidden, partly written
// copy beside the output. A command-line program installs the handler once;
// AtomicFile registers its temporary file while it exists:
//
//   tpkg::RemoveTempFilesOnSignals();        // main(): SIGINT, SIGTERM, SIGHUP
//   const size_t slot = tpkg::RegisterTempFile(temp_path);   // AtomicFile
//   ...
//   tpkg::UnregisterTempFile(slot);          // renamed into place, or removed
//
// On one of those signals the handler removes every registered file, then
// lets the signal end the process as it would have (exit status 128 + N in
// a shell). The daemon, which handles those signals itself (a SIGTERM saves),
// does not install it; its temporary files live in the journal, whose next
// open removes them.
//
// Thread safety: Register and Unregister may be called from any thread; the
// handler is async-signal-safe: each slot keeps its own copy of the path (no
// allocation, no pointer into memory a destructor frees) and an atomic state.
#pragma once

#include <cstddef>
#include <string>

namespace tpkg {

inline constexpr size_t kNoTempFileSlot = static_cast<size_t>(-1);

// Remembers `path` for the handler; kNoTempFileSlot when every slot is in
// use or the path is too long (the file is then only removed as before).
size_t RegisterTempFile(const std::string& path) noexcept;
void UnregisterTempFile(size_t slot) noexcept;

// Installs the handler for SIGINT, SIGTERM and SIGHUP (where they are not
// ignored: a `nohup` keeps its SIGHUP ignored).
void RemoveTempFilesOnSignals() noexcept;

}  // namespace tpkg
