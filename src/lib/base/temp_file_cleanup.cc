// Temporary files removed when a signal ends the process (temp_file_cleanup.h).
#include "tpkg/temp_file_cleanup.h"

#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>

namespace tpkg {
namespace {

// kFree -> kRegistered (path copied) -> kArmed (the file exists) -> kFree;
// the handler takes kArmed -> kRemoving, which nothing undoes (the process
// is ending).
enum SlotState : int { kFree, kFilling, kRegistered, kArmed, kRemoving };

struct Slot {
  std::atomic<int> state{kFree};
  char path[PATH_MAX];
};

// A few files at a time at most: one per AtomicFile alive.
std::array<Slot, 8> slots;

void RemoveAndReraise(int sig) {
  for (Slot& slot : slots) {
    int armed = kArmed;
    if (slot.state.compare_exchange_strong(armed, kRemoving, std::memory_order_acquire))
      ::unlink(slot.path);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

size_t RegisterTempFile(const std::string& path) noexcept {
  if (path.size() >= PATH_MAX) return kNoTempFileSlot;
  for (size_t i = 0; i < slots.size(); ++i) {
    int expected = kFree;
    if (!slots[i].state.compare_exchange_strong(expected, kFilling, std::memory_order_acquire))
      continue;
    std::memcpy(slots[i].path, path.c_str(), path.size() + 1);
    slots[i].state.store(kRegistered, std::memory_order_release);
    return i;
  }
  return kNoTempFileSlot;
}

void ArmTempFile(size_t slot) noexcept {
  if (slot >= slots.size()) return;
  int registered = kRegistered;
  slots[slot].state.compare_exchange_strong(registered, kArmed, std::memory_order_release);
}

void UnregisterTempFile(size_t slot) noexcept {
  if (slot >= slots.size()) return;
  // Not under the handler's feet: a slot it took stays taken.
  for (int from : {kArmed, kRegistered}) {
    if (slots[slot].state.compare_exchange_strong(from, kFree, std::memory_order_release)) return;
  }
}

TempFileSignalsHeld::TempFileSignalsHeld() noexcept {
  sigset_t held;
  ::sigemptyset(&held);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaddset(&held, sig);
  ::pthread_sigmask(SIG_BLOCK, &held, &before_);
}

TempFileSignalsHeld::~TempFileSignalsHeld() { ::pthread_sigmask(SIG_SETMASK, &before_, nullptr); }

void RemoveTempFilesOnSignals() noexcept {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
    struct sigaction action {};
    action.sa_handler = RemoveAndReraise;
    ::sigemptyset(&action.sa_mask);
    ::sigaction(sig, &action, nullptr);
  }
}

}  // namespace tpkg
