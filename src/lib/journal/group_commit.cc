// Group commit of the journal's manifest (journal_impl.h has the design,
// journal.h the promise).
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tpkg/background_thread.h"
#include "base/file_util.h"
#include "journal/journal_impl.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

[[noreturn]] void ThrowCommitFailed(const JournalState& impl) {
  throw Error(Errc::kIo,
              "Cannot sync the journal manifest '" + impl.dir + "/" + ManifestLog::kFileName +
                  "': " + std::strerror(impl.commit_errno) +
                  " (changes since the last sync may be lost; nothing more is accepted)",
              EIO);
}

}  // namespace

void JournalState::LogGrouped(const LogEntry& e) {
  if (commit_errno != 0) ThrowCommitFailed(*this);
  log->Write(e);
  if (!committer.joinable()) committer = StartBackgroundThread([this] { RunCommitter(); });
  commit_cv.notify_all();
}

void JournalState::FreeWhenCommitted(const std::vector<uint64_t>& ids) {
  if (log->synced() >= log->end()) return FreeData(ids);
  for (const uint64_t id : ids) frees_after_commit.emplace_back(log->end(), id);
}

void JournalState::Commit(std::unique_lock<std::mutex>& lock) {
  // One sync at a time: a caller arriving during another's waits for it,
  // then syncs whatever that one did not cover.
  commit_cv.wait(lock, [this] { return !syncing; });
  if (commit_errno != 0) ThrowCommitFailed(*this);
  if (dropped || !log || log->synced() >= log->end()) return;
  const uint64_t target = log->end();
  const int fd = log->fd();
  syncing = true;
  lock.unlock();
  const int rc = ::fdatasync(fd);
  const int err = errno;
  lock.lock();
  syncing = false;
  commit_cv.notify_all();
  if (rc != 0) {
    commit_errno = err;
    if (log) log->Break();
    ThrowCommitFailed(*this);
  }
  log->Synced(target);
  std::vector<uint64_t> ready;
  std::erase_if(frees_after_commit, [&](const std::pair<uint64_t, uint64_t>& f) {
    if (f.first > target) return false;
    ready.push_back(f.second);
    return true;
  });
  FreeData(ready);
}

void JournalState::RunCommitter() {
  std::unique_lock lock(mu);
  for (;;) {
    commit_cv.wait(lock, [this] {
      return stop_committer || dropped ||
             (!syncing && commit_errno == 0 && log && log->synced() < log->end());
    });
    if (stop_committer || dropped) return;
    if (commit_delay.count() > 0) {
      commit_cv.wait_for(lock, commit_delay, [this] {
        return stop_committer || dropped || log->synced() >= log->end();
      });
      if (stop_committer || dropped) return;
    }
    try {
      Commit(lock);
    } catch (const Error& e) {
      // commit_errno is set: every later change and Commit() reports it.
      // Nobody waits for this sync, so say it now, outside the lock; the
      // committer stops here (its wait needs commit_errno == 0).
      if (on_commit_failure) {
        const std::string message = e.what();
        lock.unlock();
        on_commit_failure(message);
        lock.lock();
      }
    }
  }
}

void JournalState::QuiesceCommitter(std::unique_lock<std::mutex>& lock) {
  stop_committer = true;
  commit_cv.notify_all();
  commit_cv.wait(lock, [this] { return !syncing; });
}

JournalState::~JournalState() {
  std::unique_lock lock(mu);
  if (!dropped && log && commit_errno == 0) {
    try {
      Commit(lock);
    } catch (const Error&) {
    }
  }
  QuiesceCommitter(lock);
  lock.unlock();
  if (committer.joinable()) committer.join();
}

}  // namespace tpkg
