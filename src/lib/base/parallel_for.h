// parallel_for.h: runs fn(i) for every i in [0, n) on a few threads, the
// caller's included (private to libtpkg).
//
//   ParallelFor(jobs.size(), AnalysisThreads(), [&](size_t i) { Work(jobs[i]); });
//
// Each index is run exactly once, claimed in increasing order from one
// shared counter (so a slow item does not hold back a thread's share). An
// exception stops no other item; after all threads have joined, the one
// thrown for the lowest index is rethrown, so a caller sees the same error
// whichever thread met it. A thread that cannot be started is simply not
// used (the caller's thread does the work).
//
// Thread safety: fn runs concurrently with itself on different indexes; it
// must guard whatever its calls share.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

#include "tpkg/background_thread.h"

namespace tpkg {

// Threads worth using for CPU-bound work on this machine: its cores, at
// most `cap`, at least 1.
inline unsigned UsefulThreads(unsigned cap) {
  return std::max(1u, std::min(cap, std::thread::hardware_concurrency()));
}

template <typename Fn>
void ParallelFor(size_t n, unsigned threads, Fn&& fn) {
  std::vector<std::exception_ptr> errors(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      try {
        fn(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> helpers;
  // Reserved first: a push_back that threw after its thread started would
  // destroy a joinable std::thread (std::terminate).
  helpers.reserve(threads);
  for (size_t t = 1; t < threads && t < n; ++t) {
    try {
      helpers.push_back(StartBackgroundThread(work));  // signals stay with the main thread
    } catch (...) {
      break;  // no thread (system_error, bad_alloc): fewer hands, same result
    }
  }
  work();
  for (std::thread& helper : helpers) helper.join();
  for (const std::exception_ptr& error : errors)
    if (error) std::rethrow_exception(error);
}

}  // namespace tpkg
