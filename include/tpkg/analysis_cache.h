// analysis_cache.h: what the metadata analysis (metadata.h) learnt from each
// record of one opened archive, kept across analyses, so that an analysis
// after an edit reads and scans only the records the edit changed.
//
//   auto cache = std::make_shared<tpkg::RecordAnalysisCache>();
//   options.cache = cache;                         // MetadataOptions
//   tpkg::RegenerateMetadata(records, options);    // scans what the cache lacks
//   tpkg::RegenerateMetadata(records, options);    // after an edit: the edited records only
//
// What is kept: for a source record, whether it is torch's mock stub and its
// import scan (or the scan's error); for any other record outside `.data/`,
// whether it is a save_pickle pickle and what its scan found (or why a
// `.pkl` did not scan). Everything else the analysis does (the exporter's
// graph, the extern list, the load checks) is redone each time from these
// per-record results, so a cached analysis is the same, byte for byte, as a
// full one (tests/unit/analysis_cache_test.cc).
//
// Key: the record's name (a source's module name and package-ness come from
// it) and the identity of the archive record whose bytes it holds unchanged
// (RecordSource::ContentOf: local header offset, sizes, CRC-32 in the archive
// the cache belongs to). A record without one (edited or created through a
// mount: its bytes live in the journal and may change at any time) is never
// cached and always scanned. One cache serves one opened archive: identities
// of another archive's records mean nothing to it. It holds one result per
// record name (a later result for a name replaces the earlier one).
//
// Memory: the scans' results only (import references, pickle module lists,
// storage references), never record bytes.
//
// On disk (KeepOnDisk): the import scans of source records are also kept in
// the user's cache folder, keyed by the record's name and the SHA-256 of its
// bytes, so that a later process (the next mount of this package, of a copy
// or of its saved version, `tpkg deps`) reads such a source and checks its
// digest but does not scan it again; the records an edit changed are
// scanned, as in memory. With the home archive given, the digests of its
// sources are kept by their place in that very file too, so that a later
// process opening the unchanged file (or the archive a save made of it)
// neither reads nor hashes them. Rules, files and safety:
// package/analysis_store.h.
//
// Thread safety: every method may be called from any thread (one mutex,
// never held while a record is read or scanned; the disk layer has its
// own), except KeepOnDisk(), which must come before the cache is shared;
// results are immutable and shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tpkg/file_stamp.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

// The archive record whose bytes a record holds unchanged.
struct RecordContentId {
  uint64_t local_header_offset = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint32_t crc32 = 0;
  bool operator==(const RecordContentId&) const = default;
  static RecordContentId Of(const ZipEntry& e) {
    return {e.local_header_offset, e.compressed_size, e.size, e.crc32};
  }
};

// A record a save copied unchanged: where its bytes were in the archive as
// opened and where they are in the saved one.
struct CarriedRecord {
  RecordContentId before;
  RecordContentId after;
};

// What a save tells the cache about the file it wrote (tpkg/write_back.h):
// the stamps (tpkg/file_stamp.h) of the archive it replaced, taken just
// before its rename, and of the one it wrote, just after, the records it
// copied unchanged, and the names of all its records.
struct SavedArchive {
  FileStamp replaced;
  FileStamp saved;
  std::vector<CarriedRecord> carried;
  std::vector<std::string> records;
};

struct RecordAnalysis;  // what one record contributed (package/package_layout.h)
class AnalysisStore;    // the disk layer (package/analysis_store.h)

class RecordAnalysisCache {
 public:
  RecordAnalysisCache();
  ~RecordAnalysisCache();
  RecordAnalysisCache(const RecordAnalysisCache&) = delete;
  RecordAnalysisCache& operator=(const RecordAnalysisCache&) = delete;

  // The result kept for `record` holding `content`, or nullptr.
  std::shared_ptr<const RecordAnalysis> Find(const std::string& record,
                                             const RecordContentId& content) const;
  void Put(const std::string& record, const RecordContentId& content,
           std::shared_ptr<const RecordAnalysis> analysis);
  // Whether Find() would find a result (not counted as a lookup).
  bool Contains(const std::string& record, const RecordContentId& content) const;
  size_t size() const;
  // Records the analyses with this cache reused / had to read and scan
  // (a Find() that found nothing, or a record that cannot be cached, which
  // the analysis reports with CountUncacheable()): for tests and logs.
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  void CountUncacheable() { misses_.fetch_add(1, std::memory_order_relaxed); }

  // Keeps source scans in `dir` too (DefaultAnalysisCacheDir() names the
  // user's); "" keeps everything in memory only. With `home` (the archive as
  // opened, which must outlive the cache), the first analysis also reads
  // what the disk has for that archive's records, whatever the edits
  // renamed, added or removed since. Before sharing the cache.
  void KeepOnDisk(const std::string& dir, const ZipReader* home = nullptr);
  AnalysisStore* disk() const { return disk_.get(); }
  // After a save replaced the home archive (KeepOnDisk): the disk layer
  // keeps the digests of the records it copied unchanged as the saved
  // file's (unless the home file was no longer the one the digests were
  // taken from), and the scans of its sources in the pack of its list of
  // records (the next mount's home list: a save that only deleted or
  // renamed files scanned nothing, and wrote no pack of its own), so that
  // its next analysis reads only the records the save wrote anew. Failures
  // are noted (disk_problem), never thrown.
  void RememberSavedArchive(const SavedArchive& saved) noexcept;
  // Sources the disk layer knew by their place in the home archive file
  // (neither read nor hashed).
  uint64_t digests_known() const;
  // Sources whose scan came from the disk instead of being redone.
  uint64_t disk_hits() const;
  // Waits for the packs the disk layer is writing (AnalysisStore::Save
  // writes them on a thread of its own); the destructor waits too.
  void FlushDisk();
  // Why the disk layer last failed to read or write a pack ("" if never);
  // after FlushDisk() for the packs being written.
  std::string disk_problem() const;

 private:
  struct Entry {
    RecordContentId content;
    std::shared_ptr<const RecordAnalysis> analysis;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // by record name; guarded by mu_
  mutable std::atomic<uint64_t> hits_{0}, misses_{0};
  std::unique_ptr<AnalysisStore> disk_;  // set before sharing, then read-only
};

// The user's folder for the disk layer: $TPKG_CACHE_DIR when set (set and
// empty: none; relative: to the current folder), else $XDG_CACHE_HOME/tpkgfs/analysis, else
// $HOME/.cache/tpkgfs/analysis; "" when none can be named.
std::string DefaultAnalysisCacheDir();

// Analyses every record of `zip` (prefix stripped, as ZipRecordSource names
// them) that the cache lacks, in archive order, until `stop` becomes true:
// what a read/write mount does in the background after its first edit, so
// that the save re-analyses only what the edit changed. Records that cannot
// be read or are too large to analyse are skipped (the analysis proper
// reports them). Returns how many records it analysed.
size_t WarmAnalysisCache(const ZipReader& zip, RecordAnalysisCache& cache,
                         const std::atomic<bool>& stop);

}  // namespace tpkg
