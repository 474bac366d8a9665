// zip_reader.h: open a torch.package / torch.save / generic ZIP archive read-only.
//
// Start here for anything that reads archives. The reader lists records in
// central-directory order with the prefix folder stripped exactly as torch's
// PyTorchStreamReader does (doc/format.md §2.1), and exposes, for stored records,
// the absolute data offset so that a byte range is one pread() on fd().
//
//   auto zip = tpkg::ZipReader::Open("model.pt");           // strict
//   for (const auto& e : zip.entries()) std::cout << e.name << "\n";
//   std::string v = zip.ReadAll(*zip.Find(".data/version"));  // "6\n", CRC checked
//
// Strict mode (the default) refuses anything torch's reader and ours could
// disagree about (truncation, CD out of range, bytes after the end record
// (both modes read the end record torch's reader takes), duplicate or case-colliding
// names, file-and-directory names, absolute / `..` / empty / NUL components,
// local headers disagreeing with the CD, overlapping records, records outside
// the prefix folder, encryption, methods other than stored/deflate, an empty
// archive, the pre-release `PYTORCH1` format). In every mode it names torch's
// formats that are not ZIP archives (`PYTORCH1`, a legacy torch.save file),
// and refuses what is not a regular file (never blocking on a FIFO). Every refusal is an
// Error(kCorrupt or kUnsupported) whose message names the archive, the record
// and the reason:  `model.pt: record 'model/../x.py': '..' path component`.
// Non-strict mode keeps only the refusals without which nothing could be read,
// plus overlapping records (one span of bytes read as many records). What it
// serves is what torch loads: of several entries with one name, the one
// torch's lookup finds (zip/torch_lookup.h; the others are `shadowed`), and,
// when torch can open the archive at all (its prefix folder holds a version
// record), no entry outside the prefix folder (also `shadowed`); a
// local header whose name or flags disagree with the central directory is
// read as torch reads it (central-directory name, sizes and CRC; the local
// header only says where the data starts). Strict mode also refuses bytes
// between records that no record holds (a hidden local header), a data
// descriptor disagreeing with the central directory, and malformed extra
// fields (zip/zip_gaps.h).
//
// Parsing is libtpkg's own, not libzip's: libzip exposes no data offsets,
// cannot say which rule an archive breaks, and does not compare local
// headers with the central directory. CheckArchive() lists every problem
// instead of the first; RecordStream reads a record with bounded memory.
//
// Thread safety: a ZipReader is immutable after Open() but for the deferred
// checks' verdicts, which guard themselves; const methods may be called
// concurrently from any thread (they use pread on a shared fd). A
// RecordStream belongs to one thread; many may share one ZipReader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/progress.h"

namespace tpkg {

inline constexpr uint16_t kMethodStored = 0;
inline constexpr uint16_t kMethodDeflate = 8;

struct ZipEntry {
  std::string name;  // record name, prefix folder stripped ("" or "dir/" for directory entries;
                     // the full name for an entry outside the prefix, non-strict mode only)
  std::string full_name;  // name as stored in the archive
  uint16_t method = 0;    // kMethodStored or kMethodDeflate
  uint16_t flags = 0;     // general-purpose bit flags from the central directory
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;  // uncompressed size
  uint64_t local_header_offset = 0;
  // Absolute offset of the (possibly compressed) data. 0 in a reader opened
  // with defer_record_checks, which learns it at the record's first read:
  // ZipReader::DataOffset() is right for every reader.
  uint64_t data_offset = 0;
  // Non-strict mode only: torch's reader never returns this entry, so Find(),
  // the analysis and the mount skip it: another entry has the same name (or
  // one differing only in case) and torch's lookup returns that one, or the
  // entry lies outside the prefix folder of an archive torch opens (its
  // prefix folder holds `.data/version` or `version`).
  bool shadowed = false;
  // The archive has a prefix folder and this entry is not in it. Torch
  // prefixes every lookup with the folder, so it can never read the entry
  // (torch's get_all_records() even refuses the archive); its full name
  // could otherwise pass for an inside record's stripped name.
  bool outside_prefix = false;
  // What a zip tool or a tpkgfs save recorded about the file (torch records
  // neither; doc/format.md §2.5): the permission bits (07777) of the external
  // attributes when "version made by" names a Unix host, and the modification
  // time in seconds since the epoch, from the 0x5455 extended-timestamp extra
  // field, else from a valid DOS date and time (read as local time).
  std::optional<uint32_t> mode;
  std::optional<int64_t> mtime;
  bool is_directory() const { return !full_name.empty() && full_name.back() == '/'; }
};

struct ZipReaderOptions {
  bool strict = true;  // false: still refuses what cannot be read at all
  // Open() reads the end records and the central directory only, and refuses
  // what they show (in strict mode: names, duplicates, the prefix folder,
  // records that overlap by their central sizes, bytes before the first
  // record). Each record's local header, and the bytes from its data to the
  // next record (strict: its data descriptor and nothing else), are checked
  // by the record's first DataOffset(), which every read of the record goes
  // through (ReadAll, ReadAt, RecordStream, ZipWriter::CopyRawRecord): a
  // record that fails is never read, its reads throw Error(kCorrupt) naming
  // it and the problem, and the other records read normally. The same rules
  // as an eager open, spread over the records' first reads: a mount lists
  // and stats a large archive without reading it (doc/design.md §3.1).
  // CheckArchive() is always eager.
  bool defer_record_checks = false;
  // false: the archive is read as Python's zipfile reads it (a torch.export
  // `.pt2` of torch 2.6): no prefix folder is taken or required, every
  // record is named by its full name; the other strict rules still apply.
  bool prefix_folder = true;
  // Called once Open() has found the central directory, with its record
  // count, before it builds anything per record: lets a caller prepare memory
  // for them (tpkgfs pre-faults its heap, src/fs/heap_prefault.h). Called on
  // Open()'s thread; an exception it throws leaves Open().
  void (*on_record_count)(uint64_t records) = nullptr;
};

// Whether `head` (the first bytes of a file, 512 are enough) starts a legacy
// torch.save file (torch < 1.6, `_use_new_zipfile_serialization=False`): its
// magic-number pickle, or the still older tar form. ZipReader::Open() names
// such a file instead of saying only that it is not a ZIP archive.
bool IsLegacyTorchSave(std::string_view head);

class ZipReader;
std::vector<Error> CheckArchive(const std::string& path, const ProgressCallback& progress);
std::vector<Error> CheckArchive(const std::string& path, ZipReaderOptions options,
                                const ProgressCallback& progress);

class ZipReader {
 public:
  // Throws Error naming `path` and the reason.
  static ZipReader Open(const std::string& path, ZipReaderOptions options = {});

  ZipReader(ZipReader&&) noexcept;
  ZipReader& operator=(ZipReader&&) noexcept;
  ~ZipReader();

  const std::string& path() const;
  // The prefix folder: the first central-directory name up to its first '/'.
  const std::string& prefix() const;
  // All entries in central-directory order.
  const std::vector<ZipEntry>& entries() const;
  // Exact (case-sensitive) lookup of a record name; nullptr when absent.
  // Never returns a shadowed entry.
  const ZipEntry* Find(std::string_view record) const;

  // Where the record's data starts. With defer_record_checks, the record's
  // first call checks its local header and region (above) and throws
  // Error(kCorrupt) now and on every later call when they are wrong; `entry`
  // is one of entries() or a copy of one. Otherwise entry.data_offset.
  uint64_t DataOffset(const ZipEntry& entry) const;
  // The same, the record's first checks taking the bytes they need from
  // `bytes` (the file's bytes at offset `at`, which the caller read: one
  // pread for a run of records) where it holds them: the same checks,
  // errors and kept verdicts, without their preads.
  uint64_t DataOffset(const ZipEntry& entry, uint64_t at, std::string_view bytes) const;
  // Runs the first checks of these records now (with defer_record_checks;
  // nothing otherwise), a run of small records that follow each other in
  // the file on one pread, so that the reads coming next find their verdicts
  // kept: what an analysis about to read most records does first (a pread
  // or two per record otherwise). A failed check is kept, not thrown: the
  // record's reads throw it, as they would have; an I/O error is left for
  // them to meet.
  void CheckRecords(std::span<const ZipEntry* const> entries) const;
  // Where the record's region ends: the next record's local header (by
  // offset), or the central directory; known from the central directory
  // alone. Its local header and data (strict: and data descriptor, and
  // nothing else) lie in [local_header_offset, RegionEnd()) once
  // DataOffset() has returned. nullopt when `entry` is neither one of
  // entries() nor a copy of one.
  std::optional<uint64_t> RegionEnd(const ZipEntry& entry) const;
  // Whether the records are checked at their first read (defer_record_checks).
  bool deferred() const;

  // The whole record, inflated if needed; the CRC is verified (kCorrupt on mismatch).
  std::string ReadAll(const ZipEntry& entry) const;
  // ReadAll of each of `entries` (records of this reader, none null) that is
  // a small stored record, a run of them that follow each other in the file
  // on one pread (an analysis reads thousands of sources of a few KiB: one
  // system call each cost more than their copies), until kMaxReadTogether
  // bytes are served (the caller holds them all at once); nullopt for any
  // other record, for those past that bound, and for one that fails a check
  // or its CRC-32, whose ReadAll then reads it again and throws what is
  // wrong. With the same kept verdicts as ReadAll.
  static constexpr uint64_t kMaxReadTogether = 256 << 10;
  std::vector<std::optional<std::string>> ReadSmallRecords(
      std::span<const ZipEntry* const> entries) const;
  // Up to out.size() bytes of the uncompressed data starting at `offset`;
  // no CRC check (the whole record is not read);
  // returns the count (short only at the end of the record). Stored records:
  // one pread, no copy of the rest. Deflated records: inflates from the start
  // with bounded memory (callers that stream should keep an Inflater instead).
  size_t ReadAt(const ZipEntry& entry, uint64_t offset, std::span<char> out) const;

  int fd() const;  // the archive's descriptor (O_RDONLY | O_CLOEXEC)
  uint64_t file_size() const;

 private:
  friend std::vector<Error> CheckArchive(const std::string& path, ZipReaderOptions options,
                                         const ProgressCallback& progress);
  struct Impl;
  explicit ZipReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sequential reader of one record's uncompressed bytes with bounded memory:
// stored data is pread in place, deflated data inflated 64 KiB at a time.
// When the end is reached the size and the CRC-32 are verified (kCorrupt).
// `zip` and `entry` must outlive the stream. The constructor throws what
// ZipReader::DataOffset() throws (a deferred record whose checks fail).
//
//   tpkg::RecordStream in(zip, *zip.Find("model/model.pkl"));
//   char buf[65536];
//   while (size_t n = in.Read(buf)) consume(buf, n);
class RecordStream {
 public:
  RecordStream(const ZipReader& zip, const ZipEntry& entry);
  RecordStream(RecordStream&&) noexcept;
  RecordStream& operator=(RecordStream&&) noexcept;
  ~RecordStream();

  // Fills up to out.size() bytes (out must not be empty); 0 only at the end.
  size_t Read(std::span<char> out);
  // Discards up to `count` bytes; returns how many were skipped.
  uint64_t Skip(uint64_t count);
  // Uncompressed bytes delivered or skipped so far.
  uint64_t position() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Every problem strict mode finds in the archive at `path`, plus each record
// whose data does not match its CRC-32 or size; empty when the archive is
// valid; a file that is not a ZIP at all is one entry. `progress`
// (tpkg/progress.h) follows the records' compressed bytes read. Throws Error
// naming `path` and the reason when there is nothing to check: the file
// cannot be opened (missing, no permission) or is no regular file (a
// folder, a FIFO). `options.strict` is ignored (always strict).
std::vector<Error> CheckArchive(const std::string& path, const ProgressCallback& progress = {});
std::vector<Error> CheckArchive(const std::string& path, ZipReaderOptions options,
                                const ProgressCallback& progress = {});

// The record-data half of CheckArchive() on an open reader: reads every
// entry to the end, so that RecordStream verifies its size and CRC-32, and
// throws the first failure (Error(kCorrupt) naming the archive, the record
// and the reason, as check prints it). For callers that compare records by
// their central-directory CRC-32 and must not vouch for data that does not
// match it (DiffModels). `progress` counts compressed bytes; its total is
// RecordDataWork(zip).
void VerifyRecordData(const ZipReader& zip, const ProgressCallback& progress = {});
uint64_t RecordDataWork(const ZipReader& zip);

}  // namespace tpkg
