// pending_metadata.h: the metadata of a save being computed on its own
// thread while the save writes the records that do not depend on it
// (private to libtpkg; rules in tpkg/write_back.h, DeferredMetadata).
//
//   PendingMetadata pending(std::move(deferred));   // starts compute()
//   ... write records ...
//   const RegeneratedRecords& m = pending.Get();     // waits; rethrows its error
//
// Thread safety: one thread (the writer's) calls the methods; compute()
// runs on a thread of its own, joined by Get(), error() or the destructor.
#pragma once

#include <exception>
#include <future>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "tpkg/error.h"
#include "tpkg/write_back.h"

namespace tpkg {

class PendingMetadata {
 public:
  explicit PendingMetadata(DeferredMetadata deferred) : names_(std::move(deferred.names)) {
    try {
      future_ = std::async(std::launch::async, std::move(deferred.compute));
    } catch (const std::system_error&) {
      // No thread to be had: compute it here and now, as a plain save would.
      Store(deferred.compute);
    }
  }
  ~PendingMetadata() { (void)error(); }
  PendingMetadata(const PendingMetadata&) = delete;
  PendingMetadata& operator=(const PendingMetadata&) = delete;

  const std::set<std::string>& names() const { return names_; }

  // The records, once computed; rethrows what the computation threw.
  const RegeneratedRecords& Get() {
    if (const std::exception_ptr e = error()) std::rethrow_exception(e);
    return value_;
  }

  // Waits for the computation; what it threw, or null.
  std::exception_ptr error() {
    if (!done_) Store([this] { return future_.get(); });
    return error_;
  }

 private:
  template <typename Fn>
  void Store(Fn&& compute) {
    done_ = true;
    try {
      value_ = compute();
      std::set<std::string> got;
      for (const auto& [name, bytes] : value_) got.insert(name);
      if (got != names_)
        throw Error(Errc::kInvalidArgument,
                    "the regenerated metadata has other records than announced");
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  const std::set<std::string> names_;
  std::future<RegeneratedRecords> future_;
  bool done_ = false;
  RegeneratedRecords value_;
  std::exception_ptr error_;
};

}  // namespace tpkg
