// analysis_store.h (private): the disk layer of the analysis cache
// (tpkg/analysis_cache.h), so that a new mount of a package, or of a copy or
// a saved version of it, does not scan again the sources an earlier process
// already scanned.
//
//   AnalysisStore store(dir, OwnBuildId());
//   PackKey key = store.Load(names);               // the pack of these records, if any
//   std::optional<SourceDigest> digest = store.DigestOf(bytes);   // none: no store
//   if (auto hit = store.Find(record, *digest)) ...   // else scan, then:
//   store.Add(record, *digest, scanned);
//   store.Save(key, names);                        // when it learnt something
//
// What is kept: for each source record (a `.py`), keyed by its name and the
// digest of its bytes, whether it is torch's mock stub and its import scan
// (or the scan's error): a pure function of the name and the bytes, so a
// hit is exactly what a scan would give. Not the archive's CRC-32: a crafted
// record with a known record's CRC and size must not inherit that record's
// imports. The digest is keyed (base/keyed_digest.h: a third of SHA-256's
// cost) under a random key kept in the folder, so nobody can aim a record
// at another's digest without reading this user's private files. Pickles
// are not kept (they are few in a package and their scan is fast).
// Memory: what Find() returns and AddShared() keeps is the very list the
// in-memory cache and the layout point to (ArchiveModule::imports aliases
// it), never a copy.
//
// Files: the key, and one pack (package/analysis_pack.h) per list of record
// names, build and key, named by the SHA-256 of the build id, the digest of
// a fixed string under the key and the sorted names, holding for each of
// those names its last two contents seen (an edit, and the original a copy
// still has).
// Packs are written whole to a temp file and renamed (no fsync: a pack lost
// or cut short by a crash fails its checksum and is only scanned again);
// the 64 most recently used are kept. A pack written by another build
// (base/build_id.h) is ignored: its scanner may differ.
//
// Safety: the folder must belong to this user and be writable by nobody
// else, else the store reads and writes nothing and digests nothing
// (another user could otherwise hide imports from the analysis). The key
// file must be a regular file of this user that nobody else may read or
// write, of the key's size; any other is replaced by a new key (so the
// packs made under the old one are no longer found: scanned again, never
// trusted). The first Load() reads the key, or draws a new one that the
// first Save() writes beside the packs; should another process write its
// own key first, this process saves no pack (its digests would not match).
// Failing to read or write a pack or the key is never an error for the
// caller: the analysis scans instead, and last_problem() says why, for the
// daemon's debug log.
//
// Thread safety: every method may be called from any thread (one mutex,
// never held during file I/O or while the caller scans; Load() calls and
// the key's choice and writing are serialized by another, so that an
// analysis starting while another thread reads the pack waits for it rather
// than scanning what it holds; DigestOf() takes no lock: the key it reads is
// published once, atomically).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "package/analysis_pack.h"

namespace tpkg {

class AnalysisStore {
 public:
  // Nothing is read until Load(). An empty `build_id` disables the store.
  AnalysisStore(std::string dir, std::string build_id);

  // The key of a list of record names (its order does not matter) for this build.
  struct PackKey {
    std::string hex;
  };
  // Reads the pack of `names` unless done before (once per key); a missing
  // or unusable pack leaves the store as it was. The first call reads the
  // pack of the home records first (SetHome).
  PackKey Load(const std::vector<std::string>& names);
  // The records whose pack the first Load() reads too, whatever it is asked
  // for: those of the archive as opened, so that an analysis of its edited
  // namespace (other names: a file added, removed or renamed) still finds
  // what was learnt from the archive. Called before the store is shared.
  void SetHome(std::function<std::vector<std::string>()> names) { home_ = std::move(names); }
  // The digest Find() and Add() take, under this store's key; nullopt when
  // the store is disabled or has no key (before the first Load(), or when
  // none could be read or made): then the caller neither finds nor adds.
  std::optional<SourceDigest> DigestOf(std::span<const char> bytes) const;
  std::shared_ptr<const StoredSource> Find(const std::string& record,
                                           const SourceDigest& digest) const;
  void Add(const std::string& record, const SourceDigest& digest, StoredSource source);
  // The same, keeping `source` itself (shared with the caller's analysis).
  void AddShared(const std::string& record, const SourceDigest& digest,
                 std::shared_ptr<const StoredSource> source);
  // Writes the pack of `names` when the store knows something for them that
  // the file does not hold (something added since, or no pack yet).
  void Save(const PackKey& key, const std::vector<std::string>& names);

  bool enabled() const { return enabled_; }
  const std::string& dir() const { return dir_; }
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t packs_written() const { return packs_written_.load(std::memory_order_relaxed); }
  std::string last_problem() const;

  // Packs kept in the folder; older ones are removed when a pack is written.
  static constexpr size_t kMaxPacks = 64;
  // Contents kept per record name in a pack.
  static constexpr size_t kContentsPerRecord = 2;
  // The key's file in the folder.
  static constexpr std::string_view kKeyFile = "key";

 private:
  struct Content {
    SourceDigest digest;
    std::shared_ptr<const StoredSource> source;
  };
  // Whether the folder is there (made when `create`), ours, and writable by
  // nobody else; the answer is kept once the folder exists.
  bool UsableFolder(bool create);
  void Note(std::string problem);
  PackKey LoadLocked(const std::vector<std::string>& names);  // load_mu_ held
  // Reads the key file or draws a new key, once (load_mu_ held).
  void ChooseKeyLocked();
  // Whether the key the digests use is the folder's, writing it first if it
  // is new (load_mu_ held; the folder is usable).
  bool KeyOnDiskLocked();
  void Evict();

  const std::string dir_;
  const std::string build_id_;
  const bool enabled_;
  std::mutex load_mu_;  // serializes Load(): a second caller waits for the pack being read
  std::function<std::vector<std::string>()> home_;  // guarded by load_mu_ once shared
  // The key (guarded by load_mu_): chosen at the first Load(); `key_state_`
  // says whether the folder's key file holds it.
  enum class KeyState { kNone, kOnDisk, kToWrite, kToReplace, kLost };
  KeyState key_state_ = KeyState::kNone;
  KeyedDigest::Key key_{};
  std::unique_ptr<const KeyedDigest> digest_owner_;  // set once, under load_mu_
  std::atomic<const KeyedDigest*> digest_{nullptr};  // read by DigestOf from any thread
  std::string key_hex_check_;  // hex digest of a fixed string: part of every pack's key
  mutable std::mutex mu_;
  // Guarded by mu_: by record name, newest content first.
  std::unordered_map<std::string, std::vector<Content>> contents_;
  std::set<std::string> loaded_;  // keys whose pack was read (or found missing)
  uint64_t generation_ = 0;       // bumped by every Add
  // Key -> the generation its file held everything the store knew of its names.
  std::unordered_map<std::string, uint64_t> saved_at_;
  int folder_ok_ = -1;  // -1: not checked yet; 0/1
  std::string last_problem_;
  mutable std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> packs_written_{0};
};

}  // namespace tpkg
