// signal_waker.h: makes sure SIGINT, SIGTERM and SIGHUP end the FUSE loop
// even when the loop's thread handles the signal just before it blocks.
//
// Why: libfuse 3.14's multi-threaded loop does
//   while (!fuse_session_exited(se)) sem_wait(&finish);
// and its signal handler only sets the exit flag. A signal handled between
// the check and sem_wait's futex call (the main thread preempted there) is
// consumed, and the loop then waits until some worker ends, that is until
// the next request to the mount: a daemon told to stop stays up. Rare (the
// window is a few instructions, unless the thread is preempted there; no
// failure has been traced to it), but nothing else would end it. The single-threaded
// loop has the same window before its read of /dev/fuse. A handler cannot
// post libfuse's semaphore, so this sends the signal again to the loop's
// thread until the loop has returned: each one interrupts the wait (the
// handlers have no SA_RESTART), and the loop sees the flag.
//
//   FuseSignalHandlers signals(session);  // libfuse's handlers, then:
//   SignalLoopWaker waker;                // wraps them; a thread that waits
//   fuse_session_loop_mt(...);
//   waker.Stop();                         // at once, on the same thread
//
// How: for each of the three signals that has a handler (libfuse's
// exit_handler; an ignored one stays ignored), the waker's handler calls it and
// writes to an eventfd; a helper thread (every signal blocked) sleeps on it,
// and once woken sends the same signal to the loop's thread every
// kKickInterval until Stop(). A loop that ends normally after a signal
// returns long before the first resend. Stop() blocks the three signals in
// the calling thread, stops and joins the helper, takes back any resend
// still pending, puts the replaced handlers back and unblocks: nothing of
// the waker reaches the code after the loop (no EINTR in the save).
//
// With a GracefulStop (graceful_stop.h), the first signal does not end the
// loop: the handler only records it, and the helper thread asks the stop
// whether the loop may end (Begin, then MayEnd every kDrainPoll); once it
// may, the helper calls the replaced handler itself and resends as above.
// A second signal, during that wait, ends it at once (the same signal within
// 100 ms of the first counts as the first: one event sent twice): the
// handler wakes the helper, which has the stop write back what shared
// mappings hold (WriteBackBeforeEnd), ends the loop and has the stop name the
// files still open (Interrupted). The loop never ends under a call of the
// helper's on the mount, which only the loop answers; a third signal does
// not shorten the write-back (SIGKILL does, and the journal keeps the edits).
//
// Thread safety: one waker per process at a time (the handler is
// process-wide; a second constructor throws). Construct, Stop() and destroy
// on the thread that runs the loop; the handler runs on whatever thread the
// kernel picks among those not blocking the signals (libfuse's workers and
// our helper threads block them: tpkg/background_thread.h).
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace tpkg::fs {

class GracefulStop;

class SignalLoopWaker {
 public:
  static constexpr std::chrono::milliseconds kKickInterval{100};
  static constexpr std::chrono::milliseconds kDrainPoll{100};

  // `stop` (may be null: a signal ends the loop at once) must outlive the
  // waker. Throws tpkg::Error when the eventfd or the thread cannot be made.
  explicit SignalLoopWaker(GracefulStop* stop = nullptr);
  ~SignalLoopWaker();  // Stop()
  SignalLoopWaker(const SignalLoopWaker&) = delete;
  SignalLoopWaker& operator=(const SignalLoopWaker&) = delete;

  // The loop has returned: no resend after this, the replaced handlers back.
  void Stop();

 private:
  void Run();
  // From the helper thread: ends the loop as the signal's handler would.
  void EndLoop();

  const pthread_t loop_thread_;
  GracefulStop* const graceful_;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  bool stopped_ = false;
  std::thread helper_;
};

}  // namespace tpkg::fs
