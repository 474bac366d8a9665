// AnalysisStore: the analysis cache's packs on disk (rules in analysis_store.h).
#include "package/analysis_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "base/file_util.h"
#include "tpkg/analysis_cache.h"
#include "tpkg/background_thread.h"
#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

constexpr std::string_view kPackSuffix = ".pack";
// A pack larger than this is not ours (a package of 100,000 sources with
// long import lists stays far below it).
constexpr uint64_t kMaxPackBytes = 256 << 20;

std::string ErrnoText(int err) { return std::strerror(err); }

// Why root must not create `dir` ("" if it may): its nearest existing
// folder belongs to another user (a daemon run as root, with the HOME of the
// user who called sudo). The folder would be root's inside that user's home,
// and refused from then on by that user's own runs, which it would slow down
// for good; root, for its part, does not trust a folder of that user's.
std::string WhyRootMustNotCreate(const std::string& dir) {
  if (::geteuid() != 0) return {};
  for (std::string up = dir; !up.empty();) {
    const size_t slash = up.rfind('/');
    up.resize(slash == std::string::npos ? 0 : slash);
    struct stat st;
    if (::stat(up.empty() ? "/" : up.c_str(), &st) != 0) continue;  // not there yet either
    if (st.st_uid == 0) return {};
    return "not creating it as root inside " + (up.empty() ? std::string("/") : up) +
           ", which belongs to user " + std::to_string(st.st_uid) +
           " (set TPKG_CACHE_DIR to a folder of root's)";
  }
  return {};
}

// mkdir -p with 0700 for what it creates (the XDG rule for cache folders).
bool MakeFolders(const std::string& dir, std::string* why) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string part = dir.substr(0, slash);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      const int err = errno;
      *why = "cannot create " + part + ": " + ErrnoText(err);
      return false;
    }
    if (slash == std::string::npos) return true;
  }
}

}  // namespace

AnalysisStore::AnalysisStore(std::string dir, std::string build_id)
    : dir_(std::move(dir)), build_id_(std::move(build_id)),
      enabled_(!dir_.empty() && !build_id_.empty()) {}

AnalysisStore::~AnalysisStore() { Flush(); }

std::string AnalysisStore::last_problem() const {
  std::lock_guard lock(mu_);
  return last_problem_;
}

void AnalysisStore::Note(std::string problem) {
  std::lock_guard lock(mu_);
  last_problem_ = std::move(problem);
}

bool AnalysisStore::UsableFolder(bool create) {
  {
    std::lock_guard lock(mu_);
    if (folder_ok_ >= 0) return folder_ok_ == 1;
  }
  struct stat st;
  if (::lstat(dir_.c_str(), &st) != 0) {
    const int err = errno;
    std::string why;
    if (err != ENOENT) {
      Note("cannot use the analysis cache " + dir_ + ": " + ErrnoText(err));
      return false;
    }
    if (std::string refused = WhyRootMustNotCreate(dir_); !refused.empty()) {
      Note("not using the analysis cache " + dir_ + ": " + refused);
      std::lock_guard lock(mu_);
      folder_ok_ = 0;
      return false;
    }
    if (!create) return false;  // nothing cached yet; asked again at the first save
    if (!MakeFolders(dir_, &why) || ::lstat(dir_.c_str(), &st) != 0) {
      const int err = errno;
      Note(why.empty() ? "cannot create " + dir_ + ": " + ErrnoText(err) : why);
      std::lock_guard lock(mu_);
      folder_ok_ = 0;
      return false;
    }
  }
  std::string why;
  if (!S_ISDIR(st.st_mode))
    why = "not a folder";
  else if (st.st_uid != ::geteuid())
    why = "it belongs to user " + std::to_string(st.st_uid) + ", not to this one";
  else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    why = "other users may write into it";
  if (!why.empty()) Note("not using the analysis cache " + dir_ + ": " + why);
  std::lock_guard lock(mu_);
  folder_ok_ = why.empty() ? 1 : 0;
  return folder_ok_ == 1;
}

AnalysisStore::PackKey AnalysisStore::Load(const std::vector<std::string>& names) {
  std::lock_guard loading(load_mu_);
  if (home_) {
    // Before any other: the pack of the records as opened (a save whose
    // edits added or removed a file asks for another list first).
    const auto home = std::exchange(home_, nullptr);
    LoadLocked(home());
  }
  LoadHomeDigests();
  return LoadLocked(names);
}

bool AnalysisStore::ReadCacheFile(const std::string& path, std::string* bytes) {
  try {
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) {
      const int err = errno;
      if (err != ENOENT) Note("cannot read " + path + ": " + ErrnoText(err));
      return false;
    }
    const struct stat st = FstatOrThrow(fd.get(), path);
    if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > kMaxPackBytes) {
      Note("ignoring " + path + ": not a cache file of a plausible size");
      return false;
    }
    bytes->resize(static_cast<size_t>(st.st_size));
    if (PreadFull(fd.get(), *bytes, 0, path) != bytes->size()) {
      Note("ignoring " + path + ": it shrank while being read");
      return false;
    }
    (void)::futimens(fd.get(), nullptr);  // recently used: kept by Evict()
    return true;
  } catch (const Error& e) {
    Note(e.what());
    return false;
  }
}

AnalysisStore::PackKey AnalysisStore::LoadLocked(const std::vector<std::string>& names) {
  std::vector<std::string_view> sorted(names.begin(), names.end());
  std::sort(sorted.begin(), sorted.end());
  // The build is part of the key: the daemon and `tpkg` (different builds)
  // each keep their own pack rather than replacing each other's.
  std::string joined = build_id_;
  joined.push_back('\0');
  for (std::string_view name : sorted) joined.append(name).push_back('\0');
  PackKey key{HexOf(Sha256(joined))};
  if (!enabled_) return key;
  {
    std::lock_guard lock(mu_);
    if (!loaded_.insert(key.hex).second) return key;
  }
  if (!UsableFolder(/*create=*/false)) return key;
  const std::string path = dir_ + "/" + key.hex + std::string(kPackSuffix);
  std::string bytes;
  if (!ReadCacheFile(path, &bytes)) return key;
  std::string why;
  std::optional<AnalysisPack> pack = DecodeAnalysisPack(bytes, &why);
  if (!pack) {
    Note("ignoring " + path + ": " + why);
    return key;
  }
  if (pack->build_id != build_id_) return key;  // another build's scanner: rewritten at Save
  std::lock_guard lock(mu_);
  contents_.reserve(contents_.size() + pack->entries.size());
  for (AnalysisPackEntry& e : pack->entries) {
    const auto [it, added] = contents_.try_emplace(std::move(e.record));
    std::vector<Content>& known = it->second;
    if (added) known.reserve(kContentsPerRecord);
    const bool have = std::any_of(known.begin(), known.end(),
                                  [&](const Content& c) { return c.digest == e.digest; });
    if (!have)
      known.push_back({e.digest, std::move(e.source)});
  }
  if (generation_ == 0) current_at_[key.hex] = 0;
  return key;
}

bool AnalysisStore::refused() const {
  std::lock_guard lock(mu_);
  return !enabled_ || folder_ok_ == 0;
}

std::shared_ptr<const StoredSource> AnalysisStore::Find(const std::string& record,
                                                        const Sha256Digest& digest) const {
  lookups_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  const auto it = contents_.find(record);
  if (it == contents_.end()) return nullptr;
  for (const Content& c : it->second) {
    if (c.digest == digest) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      return c.source;
    }
  }
  return nullptr;
}

void AnalysisStore::Add(const std::string& record, const Sha256Digest& digest,
                        StoredSource source) {
  if (!enabled_) return;
  AddShared(record, digest, std::make_shared<const StoredSource>(std::move(source)));
}

void AnalysisStore::AddShared(const std::string& record, const Sha256Digest& digest,
                              std::shared_ptr<const StoredSource> shared) {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  std::vector<Content>& known = contents_[record];
  known.erase(std::remove_if(known.begin(), known.end(),
                             [&](const Content& c) { return c.digest == digest; }),
              known.end());
  known.insert(known.begin(), Content{digest, std::move(shared)});
  if (known.size() > kContentsPerRecord) known.resize(kContentsPerRecord);
  ++generation_;
}

void AnalysisStore::Save(const PackKey& key, const std::vector<std::string>& names) {
  if (!enabled_) return;
  // The snapshot and its place in the queue under one lock: two threads'
  // packs of one key are queued in the order of what they hold.
  std::lock_guard writing(writer_mu_);
  if (std::optional<PendingPack> pending = Snapshot(key, names)) Enqueue(std::move(*pending));
}

std::optional<AnalysisStore::PendingPack> AnalysisStore::Snapshot(
    const PackKey& key, const std::vector<std::string>& names) {
  std::lock_guard lock(mu_);
  uint64_t& current = current_at_.try_emplace(key.hex, kNoGeneration).first->second;
  if (current == generation_) return std::nullopt;  // written or queued with all we know
  current = generation_;
  // The names are borrowed from contents_, whose nodes are never removed;
  // each source is shared.
  PendingPack pending{key, generation_, {}};
  pending.entries.reserve(names.size());
  for (const std::string& name : names) {
    const auto it = contents_.find(name);
    if (it == contents_.end()) continue;
    for (const Content& c : it->second) pending.entries.push_back({it->first, c.digest, c.source});
  }
  return pending;
}

void AnalysisStore::Enqueue(PendingPack pending) {
  to_write_.push_back(std::move(pending));
  if (writing_) return;  // the writer takes it next
  // Done with its queue, it was leaving: joined before the next one starts.
  if (writer_.joinable()) writer_.join();
  writing_ = true;
  try {
    writer_ = StartBackgroundThread([this] { WriteQueued(); });
  } catch (const std::exception&) {
    // No thread (system_error, bad_alloc): written here, in order, with
    // writer_mu_ held so that no writer thread overtakes them.
    writing_ = false;
    for (const PendingPack& queued : std::exchange(to_write_, {})) Write(queued);
  }
}

void AnalysisStore::WriteQueued() noexcept {
  for (;;) {
    PendingPack next;
    {
      std::lock_guard writing(writer_mu_);
      if (to_write_.empty()) {
        writing_ = false;
        writer_idle_.notify_all();
        return;
      }
      next = std::move(to_write_.front());
      to_write_.pop_front();
    }
    Write(next);
  }
}

void AnalysisStore::Flush() {
  {
    std::unique_lock writing(writer_mu_);
    writer_idle_.wait(writing, [this] { return !writing_; });
    if (writer_.joinable()) writer_.join();
  }
  WriteHomeDigests();
}

void AnalysisStore::Write(const PendingPack& pending) noexcept {
  bool written = false;
  try {
    written = WriteOrThrow(pending);
  } catch (const std::exception& e) {  // the file system's refusal, or out of memory
    try {
      Note(e.what());
    } catch (const std::exception&) {  // no memory for the note either
    }
  }
  if (written) {
    packs_written_.fetch_add(1, std::memory_order_relaxed);
    try {
      Evict(kPackSuffix, kMaxPacks);
    } catch (const std::exception&) {  // out of memory: the folder is swept next time
    }
    return;
  }
  // Not written: a later Save() of this key tries again.
  std::lock_guard lock(mu_);
  const auto current = current_at_.find(pending.key.hex);  // there since Snapshot()
  if (current != current_at_.end() && current->second == pending.generation)
    current->second = kNoGeneration;
}

bool AnalysisStore::WriteOrThrow(const PendingPack& pending) {
  if (!UsableFolder(/*create=*/true)) return false;
  WriteCacheFile(pending.key.hex + std::string(kPackSuffix),
                 EncodeAnalysisPack(build_id_, pending.entries));
  return true;
}

void AnalysisStore::WriteCacheFile(const std::string& name, const std::string& bytes) const {
  const std::string path = dir_ + "/" + name;
  std::string temp = path + ".tmp-XXXXXX";
  ScopedFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    ThrowSystemError("cannot write into " + dir_, err);
  }
  try {
    PwriteAll(fd.get(), bytes, 0, temp);
    fd.reset();
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ThrowSystemError("cannot rename " + temp + " to " + path, err);
    }
  } catch (...) {
    ::unlink(temp.c_str());  // no half-written file left behind (Evict only sees whole ones)
    throw;
  }
}

void AnalysisStore::Evict(std::string_view suffix, size_t keep) {
  const ScopedDir dir(::opendir(dir_.c_str()));
  if (!dir) return;
  struct Pack {
    std::string name;
    timespec used;
  };
  std::vector<Pack> packs, temps;
  const std::string temp_mark = std::string(suffix) + ".tmp-";
  time_t newest = 0;  // the pack just written: "now" by the file system's own clock
  while (const dirent* d = ::readdir(dir.get())) {
    const std::string_view name = d->d_name;
    const bool temp = name.find(temp_mark) != std::string_view::npos;
    if (!temp && !name.ends_with(suffix)) continue;
    struct stat st;
    if (::fstatat(::dirfd(dir.get()), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode))
      continue;
    (temp ? temps : packs).push_back({std::string(name), st.st_mtim});
    if (!temp) newest = std::max(newest, st.st_mtim.tv_sec);
  }
  // Temp files left by a process killed while it wrote a pack (nobody
  // writes one for minutes): nothing else would ever remove them.
  for (const Pack& temp : temps)
    if (newest - temp.used.tv_sec > kAbandonedTempSeconds)
      (void)::unlinkat(::dirfd(dir.get()), temp.name.c_str(), 0);
  if (packs.size() > keep) {
    std::sort(packs.begin(), packs.end(), [](const Pack& a, const Pack& b) {
      return a.used.tv_sec != b.used.tv_sec ? a.used.tv_sec > b.used.tv_sec
                                            : a.used.tv_nsec > b.used.tv_nsec;
    });
    for (size_t i = keep; i < packs.size(); ++i)
      (void)::unlinkat(::dirfd(dir.get()), packs[i].name.c_str(), 0);
  }
}

std::string DefaultAnalysisCacheDir() {
  if (const char* dir = std::getenv("TPKG_CACHE_DIR")) {
    if (dir[0] == '\0' || dir[0] == '/') return dir;  // "" turns it off
    // Relative: to the folder of the command that named it (a daemon moves to "/").
    std::unique_ptr<char, decltype(&std::free)> cwd(::getcwd(nullptr, 0), &std::free);
    return cwd ? std::string(cwd.get()) + "/" + dir : std::string();
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && xdg[0] == '/')
    return std::string(xdg) + "/tpkgfs/analysis";
  if (const char* home = std::getenv("HOME"); home && home[0] == '/')
    return std::string(home) + "/.cache/tpkgfs/analysis";
  return {};
}

}  // namespace tpkg
