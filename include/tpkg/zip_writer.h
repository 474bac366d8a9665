// zip_writer.h: write archives exactly as PyTorch's PyTorchStreamWriter does
// (1.13's, and 2.x's: the same layout, plus `.data/serialization_id`).
//
// Records are stored (method 0) with their data 64-byte aligned through the
// `FB` extra field, data descriptors as torch writes them, ZIP64 blocks when a
// size or offset reaches 4 GiB, and the ZIP64 end records always
// (doc/format.md §2.2-2.9). Feeding the records of a torch-written archive in
// order rebuilds it byte for byte. Unchanged records of another archive are
// copied raw (never decoded, never held in memory; copy_file_range when the
// kernel offers it), so rewriting a big archive after a small edit costs
// about one file copy.
//
//   tpkg::ZipWriter w = tpkg::ZipWriter::Create("out.pt", "out");
//   w.AddRecord("notes/readme.txt", "hello\n");
//   w.AddRecord(".data/version", "6\n");   // the caller decides the order
//   w.Finish();                             // central directory + end records
//
// Attributes (RecordAttributes): a record or folder may carry permission
// bits (Unix "version made by" and external attributes) and a modification
// time (the DOS date and time plus the 0x5455 extended timestamp, whole
// seconds). Without them the headers are torch's, byte for byte; torch's
// reader ignores them either way (doc/format.md §2.5).
//
// The writer does not reorder, deduplicate or add records. It refuses, before
// writing anything, what the strict reader would refuse: a name written
// twice, names differing only in case, a name used as file and folder
// (kExists); empty, absolute, `.`/`..`/empty-component, NUL and
// directory (`dir/`) names (kInvalidArgument). After a failed write (a full
// disk) every later call throws. Finish() must be called; destroying an
// unfinished writer leaves an incomplete file the caller is expected to
// discard (tpkg repack writes through a temporary file and renames it).
//
// Thread safety: none; one thread owns a ZipWriter.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tpkg/torch_release.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

// Where the archive bytes go. FdSink enables copy_file_range for raw copies.
class ZipSink {
 public:
  virtual ~ZipSink() = default;
  virtual void Write(std::span<const char> bytes) = 0;
  // Copies `size` bytes at `offset` of `src_fd` to the sink. The default
  // implementation preads into a bounded buffer and calls Write().
  virtual void CopyFrom(int src_fd, uint64_t offset, uint64_t size);
};

// What a record or folder entry says about the file besides its bytes.
struct RecordAttributes {
  std::optional<uint32_t> mode;   // permission bits (07777)
  std::optional<int64_t> mtime;   // seconds since the epoch, 0 .. kMaxZipTime
  bool operator==(const RecordAttributes&) const = default;
};
// The extended timestamp is an unsigned 32-bit count of seconds (to 2106).
inline constexpr int64_t kMaxZipTime = 0xffffffffLL;

// One record of a ZipWriter::CopyRawRecords batch.
struct RawRecordCopy {
  const ZipEntry* entry = nullptr;  // an entry of the source archive
  std::string_view record;          // the name to write; empty: the entry's own
  RecordAttributes attrs;
};

class ZipWriter {
 public:
  // Creates (O_CREAT|O_TRUNC|O_EXCL unless `overwrite`) `path` and writes to it.
  static ZipWriter Create(const std::string& path, std::string prefix, bool overwrite = false);
  // Writes to a caller-owned descriptor positioned at 0 (not closed by the writer).
  static ZipWriter ToFd(int fd, std::string prefix);
  // Writes to an arbitrary sink (e.g. a Python file-like object).
  static ZipWriter ToSink(std::unique_ptr<ZipSink> sink, std::string prefix);

  ZipWriter(ZipWriter&&) noexcept;
  ZipWriter& operator=(ZipWriter&&) noexcept;
  ~ZipWriter();

  // A stored record from memory.
  void AddRecord(std::string_view record, std::span<const char> data,
                 const RecordAttributes& attrs = {});
  // Text (std::string, string_view, a literal without its NUL): a template so
  // that it wins over the span overload instead of being ambiguous with it.
  template <typename Text>
  requires std::convertible_to<const Text&, std::string_view>
  void AddRecord(std::string_view record, const Text& data, const RecordAttributes& attrs = {}) {
    const std::string_view text = data;
    AddRecord(record, std::span<const char>(text.data(), text.size()), attrs);
  }
  // A stored record streamed from `size` bytes at `offset` of `fd` (a journal
  // file, a temp file): CRC computed while copying, memory bounded.
  void AddRecordFromFd(std::string_view record, int fd, uint64_t offset, uint64_t size,
                       const RecordAttributes& attrs = {});
  // A stored record of `size` bytes that `read(offset, out)` produces (it
  // fills all of `out`, or throws): CRC computed while streaming, memory
  // bounded. For records merged from several sources (tpkg/record_patch.h).
  void AddRecordFromSource(std::string_view record, uint64_t size,
                           const std::function<void(uint64_t, std::span<char>)>& read,
                           const RecordAttributes& attrs = {});
  // An entry of `src` copied without decoding (stored or deflated), under
  // `record` (defaults to the entry's own name), re-aligned to 64 bytes. The
  // CRC-32 is taken from `entry`, not recomputed. A 0-byte entry is written
  // as an empty stored record, as torch does. The headers carry `attrs`, not
  // the entry's own attributes.
  void CopyRawRecord(const ZipReader& src, const ZipEntry& entry, std::string_view record = {},
                     const RecordAttributes& attrs = {});
  // CopyRawRecord() for each of `copies`, in order: the same bytes and the
  // same first error. Cheaper for many small records: those that follow
  // each other in `src` are read with one pread (their deferred checks run
  // on those bytes) and written in 256 KiB pieces, where each alone costs a
  // few system calls; big ones are copied in the kernel as by CopyRawRecord.
  void CopyRawRecords(const ZipReader& src, std::span<const RawRecordCopy> copies);
  // A folder entry `<prefix>/<folder>/` (0 bytes, stored), as zip tools write
  // them: how an empty folder, or a folder's mode and time, is kept. Refused
  // (kExists) when `folder` is a file or its entry was already written.
  void AddDirectory(std::string_view folder, const RecordAttributes& attrs = {});

  // `.data/serialization_id` computed from every record written so far, as
  // torch 2.x's writer adds it at the end of the file (serialization_id.h).
  // Call it after the last other record; an archive whose records came from
  // torch 1.13 has none and gets none.
  void AddSerializationId();

  // What torch's writer appends when a PackageExporter of that release
  // finishes: `.data/version` ("6\n"); torch 2.x then `byteorder` (the host's,
  // "little" or "big") and `.data/serialization_id` (doc/format.md §12). The
  // exporter calls it after its last record (also for a failed export,
  // which leaves a valid but unloadable archive, as torch does).
  void AddTorchPackageTrailer(TorchRelease release);

  // Bytes written so far (the offset of the next local header).
  uint64_t offset() const;
  // Writes the central directory and the end records; returns the final size.
  uint64_t Finish();

 private:
  struct Impl;
  explicit ZipWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether `prefix` can be an archive's prefix folder: one path component
// that makes valid record names (what Create/ToFd/ToSink refuse otherwise).
bool IsValidPrefixFolder(const std::string& prefix);

// The prefix torch derives from an output path: the basename cut at its last
// '.' ("sub/model.pt" -> "model"); kInvalidArgument when that would be empty.
std::string PrefixForPath(std::string_view path);

}  // namespace tpkg
