// analysis_store.h (private): the disk layer of the analysis cache
// (tpkg/analysis_cache.h), so that a new mount of a package, or of a copy or
// a saved version of it, does not scan again the sources an earlier process
// already scanned.
//
//   AnalysisStore store(dir, OwnBuildId());
//   PackKey key = store.Load(names);               // the pack of these records, if any
//   if (auto hit = store.Find(record, Sha256(bytes))) ...   // else scan, then:
//   store.Add(record, digest, scanned);
//   store.Save(key, names);                        // when it learnt something
//   store.Flush();                                 // waits for that file (or the destructor)
//
// What is kept: for each source record (a `.py`), keyed by its name and the
// SHA-256 of its bytes, whether it is torch's mock stub and its import scan
// (or the scan's error): a pure function of the name and the bytes, so a
// hit is exactly what a scan would give. A cryptographic digest, not the
// archive's CRC-32: a crafted record with a known record's CRC and size
// must not inherit that record's imports. Pickles are not kept (they are
// few in a package and their scan is fast). Memory: what Find() returns and
// AddShared() keeps is the very list the in-memory cache and the layout
// point to (ArchiveModule::imports aliases it), never a copy.
//
// Files: one pack (package/analysis_pack.h) per list of record names and
// build, named by the SHA-256 of the build id and the sorted names, holding
// for each of those names its last two contents seen (an edit, and the
// original a copy still has).
// Packs are written whole to a temp file and renamed (no fsync: a pack lost
// or cut short by a crash fails its checksum and is only scanned again);
// the 64 most recently used are kept (and a temp file a killed writer left
// is removed after 10 minutes). Save() writes on a thread of the
// store, one pack at a time in the order asked, so that the analysis that
// learnt something does not wait for a cache file before its metadata (a
// few milliseconds for 5,000 sources: design.md 3.4). A pack written by
// another build (base/build_id.h) is ignored: its scanner may differ.
//
// Digests by position (archive_digests.h): with SetHomeFile(), the store
// also keeps the SHA-256 of each source of the archive file the home records
// come from, by the source's place in that file, in a second kind of file
// named by the file's FileStamp (tpkg/file_stamp.h). A later process that
// opens the same, unchanged file (the same stamp) asks FindByPlace() and
// finds a source's scan without reading the source: for 5,000 sources,
// 17 MB neither read nor hashed. A save hands over the digests of the
// records it copied unchanged into the new archive (CarryDigests), so the
// next mount of the saved file reads only the records the edits wrote.
// What the stamp vouches for, and its limits, are in file_stamp.h: only
// files of this user that nobody else may write get one, and the worst a
// limit allows is an analysis that describes another version of the file
// (the mount's CRC checks and the save's strict read-back still read every
// byte they serve or copy). The
// kMaxDigestsFiles most recently used such files are kept.
//
// Safety: the folder must belong to this user and be writable by nobody
// else, else the store reads and writes nothing (another user could
// otherwise hide imports from the analysis); root does not create it inside
// another user's folder (sudo with that user's HOME: the user's own runs
// would refuse root's folder). Failing to read or write a
// pack is never an error for the caller: the analysis scans instead, and
// last_problem() says why, for the daemon's debug log.
//
// Thread safety: every method may be called from any thread (one mutex,
// never held during file I/O or while the caller scans; Load() calls are
// serialized by another, so that an analysis starting while another thread
// reads the pack waits for it rather than scanning what it holds; a third
// guards the writer thread, one pack written at a time).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "package/analysis_pack.h"
#include "package/archive_digests.h"

namespace tpkg {

class AnalysisStore {
 public:
  // Nothing is read until Load(). An empty `build_id` disables the store.
  AnalysisStore(std::string dir, std::string build_id);
  ~AnalysisStore();  // waits for the pack being written
  AnalysisStore(const AnalysisStore&) = delete;
  AnalysisStore& operator=(const AnalysisStore&) = delete;

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
  std::shared_ptr<const StoredSource> Find(const std::string& record,
                                           const Sha256Digest& digest) const;
  void Add(const std::string& record, const Sha256Digest& digest, StoredSource source);
  // The same, keeping `source` itself (shared with the caller's analysis).
  void AddShared(const std::string& record, const Sha256Digest& digest,
                 std::shared_ptr<const StoredSource> source);
  // Writes the pack of `names` when the store knows something for them that
  // the file does not hold (something added since, or no pack yet), on the
  // store's writer thread, after the packs queued before it: returns at
  // once. Without a thread, writes it here.
  void Save(const PackKey& key, const std::vector<std::string>& names);
  // Waits until the packs asked for are written (or failed: last_problem()),
  // then writes the home file's digests if something new was noted.
  void Flush();

  // The archive file the home records are read from (`records` of them):
  // its stamp is taken now, and the digests kept for it are read by the
  // first Load(). Called before the store is shared; `fd` must stay open
  // while the store lives.
  void SetHomeFile(int fd, size_t records);
  // The scan of `record`, when the digest of the home file's bytes at
  // `content` is known (and the file's stamp has held since SetHomeFile())
  // and the store has a scan for that name and digest: the source need not
  // be read.
  std::shared_ptr<const StoredSource> FindByPlace(const std::string& record,
                                                  const RecordContentId& content) const;
  // Whether the digest of the home file's bytes at `content` is known (the
  // source need not be read if FindByPlace() then finds its scan): a read
  // ahead of a run of sources leaves such ones out.
  bool KnowsPlace(const RecordContentId& content) const;
  // Keeps `digest` as that of the home file's bytes at `content`.
  void NoteDigest(const RecordContentId& content, const Sha256Digest& digest);
  // The home file (stamped `replaced` just before) was replaced by a saved
  // archive (stamped `saved`) that holds, unchanged, the bytes of `carried`
  // records: writes the digests known for them as that file's, at once,
  // unless `replaced` is not the stamp the digests were taken under. The
  // home file's own are no longer written. Failures are noted, not thrown.
  void CarryDigests(const FileStamp& replaced, const FileStamp& saved,
                    std::span<const CarriedRecord> carried) noexcept;
  // FindByPlace() calls that found a scan (sources not read to hash them).
  uint64_t digests_known() const { return digests_known_.load(std::memory_order_relaxed); }

  bool enabled() const { return enabled_; }
  // Whether the store will neither read nor write a pack (disabled, or its
  // folder was refused or could not be made): a caller need not take the
  // digests Find() and Add() ask for. False while the folder is not there
  // yet (the first Save() makes it).
  bool refused() const;
  const std::string& dir() const { return dir_; }
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t lookups() const { return lookups_.load(std::memory_order_relaxed); }  // Find() calls
  uint64_t packs_written() const { return packs_written_.load(std::memory_order_relaxed); }
  std::string last_problem() const;

  // Packs kept in the folder; older ones are removed when a pack is written,
  // and so are temp files kAbandonedTempSeconds older than the newest pack
  // (a writer killed; the file system's clock, not this machine's).
  static constexpr size_t kMaxPacks = 64;
  static constexpr long kAbandonedTempSeconds = 600;
  // Contents kept per record name in a pack.
  static constexpr size_t kContentsPerRecord = 2;
  // Digests files kept (one per archive file version analysed or saved).
  static constexpr size_t kMaxDigestsFiles = 64;

 private:
  struct Content {
    Sha256Digest digest;
    std::shared_ptr<const StoredSource> source;
  };
  // Whether the folder is there (made when `create`), ours, and writable by
  // nobody else; the answer is kept once the folder exists.
  bool UsableFolder(bool create);
  void Note(std::string problem);
  PackKey LoadLocked(const std::vector<std::string>& names);  // load_mu_ held
  // A pack to write: what the store knew of its names at Save().
  struct PendingPack {
    PackKey key;
    uint64_t generation = 0;
    std::vector<AnalysisPackEntryView> entries;
  };
  static constexpr uint64_t kNoGeneration = ~uint64_t{0};
  // The pack of `names` unless one with everything known is written or queued.
  std::optional<PendingPack> Snapshot(const PackKey& key, const std::vector<std::string>& names);
  void Enqueue(PendingPack pending);  // writer_mu_ held: to the writer thread (started if none)
  void WriteQueued() noexcept;        // the writer thread's body
  // Writes `pending`; a failure is noted (last_problem) and lets a later Save retry.
  void Write(const PendingPack& pending) noexcept;
  bool WriteOrThrow(const PendingPack& pending);  // false: no usable folder
  void Evict(std::string_view suffix, size_t keep);
  // A cache file read whole (false, noted, when missing, implausible or
  // unreadable); one written whole under `name` (temp file and rename).
  bool ReadCacheFile(const std::string& path, std::string* bytes);
  void WriteCacheFile(const std::string& name, const std::string& bytes) const;
  // The home file's digests, from its file (the first Load), and written
  // back by Flush() when something was noted and the file is unchanged.
  void LoadHomeDigests();
  void WriteHomeDigests() noexcept;
  void WriteDigestsFile(const FileStamp& stamp, const std::string& bytes) noexcept;  // noted
  static std::string DigestsFileName(const FileStamp& stamp);

  const std::string dir_;
  const std::string build_id_;
  const bool enabled_;
  std::mutex load_mu_;  // serializes Load(): a second caller waits for the pack being read
  std::function<std::vector<std::string>()> home_;  // guarded by load_mu_ once shared
  // The writer thread and its queue, guarded by writer_mu_: Save() queues,
  // the thread writes each pack in turn and ends when the queue is empty.
  // Lock order: writer_mu_ before mu_ (never the other way round). Without
  // a thread, Enqueue() writes with writer_mu_ held.
  std::mutex writer_mu_;
  std::condition_variable writer_idle_;  // writing_ became false
  std::deque<PendingPack> to_write_;
  bool writing_ = false;
  std::thread writer_;
  mutable std::mutex mu_;
  // Guarded by mu_: by record name, newest content first. Never erased from:
  // a queued pack borrows its names from the keys (PendingPack).
  std::unordered_map<std::string, std::vector<Content>> contents_;
  std::set<std::string> loaded_;  // keys whose pack was read (or found missing)
  uint64_t generation_ = 0;       // bumped by every Add
  // Key -> the generation at which its pack, written or queued, held
  // everything the store knew of its names (kNoGeneration after a failed
  // write), so that a second Save() with nothing new writes nothing.
  std::unordered_map<std::string, uint64_t> current_at_;
  int folder_ok_ = -1;  // -1: not checked yet; 0/1
  // The home file's digests by position. Guarded by digests_mu_, which is
  // taken after load_mu_ (Load reads them) and never with mu_ or
  // writer_mu_, nor during file I/O; home_fd_ is set before sharing.
  // `home_digests_` is empty, and stays so, once the file's stamp no longer
  // matches (or never could be taken).
  int home_fd_ = -1;
  mutable std::mutex digests_mu_;
  std::optional<ArchiveDigests> home_digests_;
  size_t home_records_ = 0;          // what NoteDigest reserves room for
  bool home_digests_read_ = false;   // its file was read (or found missing)
  bool home_digests_dirty_ = false;  // something noted since read or written
  bool home_replaced_ = false;       // CarryDigests: the home file's own are not written
  mutable std::atomic<uint64_t> digests_known_{0};
  std::string last_problem_;
  mutable std::atomic<uint64_t> hits_{0}, lookups_{0};
  std::atomic<uint64_t> packs_written_{0};
};

}  // namespace tpkg
