#include "tpkg/background_thread.h"

#include <pthread.h>
#include <signal.h>

namespace tpkg {
namespace {

// Blocks every signal in the calling thread for its lifetime, then restores
// the mask it found. A new thread inherits its creator's mask, so creating
// it inside this scope is what blocks its signals, with no window.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t saved_;
};

}  // namespace

std::thread StartBackgroundThread(std::function<void()> body) {
  const AllSignalsBlocked blocked;
  return std::thread(std::move(body));
}

}  // namespace tpkg
