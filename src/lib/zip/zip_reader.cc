// ZipReader: opening, validation and lookup. The pieces live in
// zip_end_records.cc (find the central directory), zip_central_directory.cc,
// zip_local_headers.cc, zip_name_index.cc; reading data is record_stream.cc.
//
// Why our own parser rather than libzip (which the project links anyway,
// and which the tests use as an independent cross-check): libzip exposes no
// data offsets (needed for one-pread reads of stored records), does not
// compare local headers with the central directory or detect overlaps, and
// reports failures as a generic code, so it could not name the record and
// the reason of a refusal. Parsing a torch archive's headers is ~400 lines.
#include "tpkg/zip_reader.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "base/file_util.h"
#include "base/scoped_fd.h"
#include "tpkg/record_path.h"
#include "zip/zip_central_directory.h"
#include "zip/zip_deferred_checks.h"
#include "zip/zip_end_records.h"
#include "zip/zip_format.h"
#include "zip/zip_gaps.h"
#include "zip/zip_local_headers.h"
#include "zip/zip_name_index.h"
#include "zip/zip_names.h"
#include "zip/zip_problems.h"
#include "zip/torch_lookup.h"

namespace tpkg {

namespace {

// Everything Open() learns about an archive (ZipReader::Impl is this).
struct ArchiveState {
  std::string path;
  ScopedFd fd;
  uint64_t file_size = 0;
  std::string prefix;
  std::vector<ZipEntry> entries;
  NameIndex index;
  std::unique_ptr<DeferredRecordChecks> deferred;  // null: every record was checked at Open
  std::vector<uint32_t> by_offset;  // entry indices sorted by local_header_offset
  std::vector<uint64_t> region_ends;  // per entry: the next local header, or the CD
};

// Where each entry's region ends: the next record's local header by offset,
// or the central directory.
std::vector<uint64_t> RegionEnds(const std::vector<ZipEntry>& entries,
                                 std::span<const uint32_t> by_offset, uint64_t cd_offset) {
  std::vector<uint64_t> ends(entries.size(), cd_offset);
  for (size_t k = 0; k + 1 < by_offset.size(); ++k)
    ends[by_offset[k]] = entries[by_offset[k + 1]].local_header_offset;
  return ends;
}

// Deflate cannot expand more than 1032:1 (a 258-byte match per 2 bits), so a
// larger claimed size is a lie; refusing it bounds what ReadAll allocates.
constexpr uint64_t kMaxDeflateRatio = 1032;
constexpr std::string_view kPreReleaseMagic = "PYTORCH1";
// Full names: "." may be the prefix folder, "dir/" is a directory entry.
constexpr RecordPathRules kFullNameRules{.dot_prefix_folder = true, .directory_entry = true};

// torch/serialization.py's MAGIC_NUMBER (0x1950a86a20f9469cfc6c), as the
// LONG1 opcode of the legacy format's first pickle stores it: little-endian.
constexpr std::string_view kLegacyMagic = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
constexpr size_t kLegacyHeadSize = 512;

// O_NONBLOCK: a FIFO named as an archive would block open() until a writer
// came; it is refused below like any file that is not regular (for a
// regular file the flag changes nothing).
ScopedFd OpenReadOnly(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    const int err = errno;
    ThrowSystemError("cannot open " + path, err);
  }
  return fd;
}

uint64_t RegularFileSize(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ThrowSystemError("cannot stat " + path, err);
  }
  if (S_ISDIR(st.st_mode))
    throw Error(Errc::kIsDir, path + ": is a directory, not an archive", EISDIR);
  if (!S_ISREG(st.st_mode))
    throw Error(Errc::kUnsupported,
                path + ": is " + std::string(FileTypeName(st.st_mode)) + ", not an archive");
  return static_cast<uint64_t>(st.st_size);
}

// The central directory's place; where there is none, a legacy torch.save
// file is named as such (checked only then: a ZIP's first record may hold
// anything at the offsets the tar form is recognised by).
CentralDirectoryLocation LocateOrNameTheFormat(int fd, uint64_t file_size, bool strict,
                                               Problems& problems) {
  try {
    return LocateCentralDirectory(fd, file_size, strict, problems);
  } catch (const Error&) {
    std::string head(static_cast<size_t>(std::min<uint64_t>(file_size, kLegacyHeadSize)), '\0');
    head.resize(PreadFull(fd, head, 0, problems.archive()));
    if (IsLegacyTorchSave(head))
      problems.Fatal(Errc::kUnsupported,
                     "a legacy torch.save file (PyTorch < 1.6), not a ZIP archive; "
                     "torch.save(torch.load(f), g) rewrites it as one");
    throw;
  }
}

void RefusePreRelease(int fd, Problems& problems) {
  char head[kPreReleaseMagic.size()];
  if (PreadFull(fd, head, 0, problems.archive()) == sizeof(head) &&
      std::string_view(head, sizeof(head)) == kPreReleaseMagic) {
    problems.Fatal(Errc::kUnsupported, "pre-release PyTorch format (starts with PYTORCH1)");
  }
}

std::string ReadCentralDirectory(int fd, const CentralDirectoryLocation& cd, Problems& problems) {
  std::string bytes(cd.size, '\0');
  if (PreadFull(fd, bytes, cd.offset, problems.archive()) != cd.size) {
    problems.Fatal(Errc::kCorrupt, "central directory truncated");
  }
  return bytes;
}

// Refusals that hold in every mode: without them a record cannot be read.
void CheckReadable(const std::vector<ZipEntry>& entries, Problems& problems) {
  for (size_t i = 0; i < entries.size(); ++i) {
    const ZipEntry& e = entries[i];
    auto refuse = [&](Errc code, const std::string& why) {
      problems.Record(i, e.full_name, code, why);
    };
    if (e.flags & (zipfmt::kFlagEncrypted | zipfmt::kFlagStrongEncryption)) {
      refuse(Errc::kUnsupported, "encrypted records are not supported");
    } else if (e.method != kMethodStored && e.method != kMethodDeflate) {
      refuse(Errc::kUnsupported, "compression method " + std::to_string(e.method) +
                                     " is not supported (torch reads stored and deflate only)");
    } else if (e.method == kMethodStored && e.compressed_size != e.size) {
      refuse(Errc::kCorrupt, "stored record whose compressed size differs from its size");
    } else if (e.method == kMethodDeflate && e.size > kMaxDeflateRatio &&
               (e.size - kMaxDeflateRatio) / kMaxDeflateRatio > e.compressed_size) {
      refuse(Errc::kCorrupt, "claims a size deflate cannot reach from its compressed size");
    }
  }
}

// Torch takes the prefix folder from the first central-directory name, up to
// its first '/', and requires every name to start with it (doc/format.md §2.1).
std::string FindPrefix(const std::vector<ZipEntry>& entries, ZipReaderOptions options,
                       Problems& problems) {
  if (!options.prefix_folder) return {};  // Python's zipfile: full names
  const bool strict = options.strict;
  const std::string& first = entries.front().full_name;
  const size_t slash = first.find('/');
  if (slash != std::string::npos) return first.substr(0, slash);
  if (strict) problems.Record(0, first, Errc::kCorrupt, "first record is not in a prefix folder");
  return {};
}

// Strips the prefix folder; strict mode also applies the name rules.
void AssignNames(std::vector<ZipEntry>& entries, const std::string& prefix, bool strict,
                 Problems& problems) {
  const std::string folder = prefix + "/";
  for (size_t i = 0; i < entries.size(); ++i) {
    ZipEntry& e = entries[i];
    const bool inside = !prefix.empty() && e.full_name.starts_with(folder);
    e.name = inside ? e.full_name.substr(folder.size()) : e.full_name;
    e.outside_prefix = !inside && !prefix.empty();
    if (!strict) continue;
    if (RecordPathProblem p = CheckRecordPath(e.full_name, kFullNameRules)) {
      problems.Record(i, e.full_name, Errc::kCorrupt, p.why);
    } else if (!inside && !prefix.empty()) {
      problems.Record(i, e.full_name, Errc::kCorrupt,
                      "outside the prefix folder " + QuoteName(folder) +
                          " (torch takes the prefix from the first record)");
    }
  }
}

std::vector<uint32_t> SortByOffset(const std::vector<ZipEntry>& entries) {
  std::vector<uint32_t> order(entries.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&entries](uint32_t a, uint32_t b) {
    return entries[a].local_header_offset < entries[b].local_header_offset;
  });
  return order;
}

// Each record spans [local header, end of data); spans must not meet, nor
// reach into the central directory.
void CheckOverlaps(const std::vector<ZipEntry>& entries, std::span<const uint32_t> by_offset,
                   uint64_t cd_offset, Problems& problems) {
  uint64_t previous_end = 0;
  const ZipEntry* previous = nullptr;
  for (const uint32_t i : by_offset) {
    if (problems.flagged(i)) continue;  // its data offset is unknown
    const ZipEntry& e = entries[i];
    const uint64_t end = e.data_offset + e.compressed_size;
    if (previous && e.local_header_offset < previous_end) {
      problems.Record(i, e.full_name, Errc::kCorrupt,
                      "overlaps record " + QuoteName(previous->full_name));
    } else if (end > cd_offset) {
      problems.Record(i, e.full_name, Errc::kCorrupt, "data overlaps the central directory");
    }
    if (end > previous_end) previous_end = end, previous = &e;
  }
}

// A deferred open's stand-in for CheckOverlaps: without local headers a
// record spans at least its fixed local header (and, strict, its name, which
// must equal the central one) plus its compressed data. Spans that already
// meet, or reach the central directory or past the file, are refused here;
// the exact spans are checked at each record's first read.
void CheckCentralSpans(const std::vector<ZipEntry>& entries, std::span<const uint32_t> by_offset,
                       uint64_t cd_offset, uint64_t file_size, bool strict, Problems& problems) {
  uint64_t previous_end = 0;
  const ZipEntry* previous = nullptr;
  for (const uint32_t i : by_offset) {
    if (problems.flagged(i)) continue;
    const ZipEntry& e = entries[i];
    if (e.local_header_offset >= file_size) {
      problems.Record(i, e.full_name, Errc::kCorrupt,
                      "local header offset " + std::to_string(e.local_header_offset) +
                          " is past the end of the file");
      continue;
    }
    const uint64_t header = zipfmt::kLocalHeaderSize + (strict ? e.full_name.size() : 0);
    const uint64_t end = e.compressed_size > UINT64_MAX - header - e.local_header_offset
                             ? UINT64_MAX
                             : e.local_header_offset + header + e.compressed_size;
    if (end > file_size) {
      problems.Record(i, e.full_name, Errc::kCorrupt,
                      "data runs past the end of the file (truncated archive)");
    } else if (previous && e.local_header_offset < previous_end) {
      problems.Record(i, e.full_name, Errc::kCorrupt,
                      "overlaps record " + QuoteName(previous->full_name));
    } else if (end > cd_offset) {
      problems.Record(i, e.full_name, Errc::kCorrupt, "data overlaps the central directory");
    }
    if (end > previous_end) previous_end = end, previous = &e;
  }
}

// Of entries sharing a (case-folded) name, all but the one torch's lookup
// returns are shadowed: non-strict mode serves what torch would load.
void MarkShadowed(std::vector<ZipEntry>& entries, const NameIndex& index) {
  const std::vector<uint32_t> twins = index.Twins();
  if (twins.empty()) return;
  const std::vector<uint32_t> sorted = MinizSortedOrder(entries);
  for (const uint32_t i : twins) {
    if (MinizLocate(entries, sorted, entries[i].full_name) != i) entries[i].shadowed = true;
  }
}

// Non-strict mode, an archive torch's reader opens (a version record in the
// prefix folder): an entry outside the folder is never read by torch, and its
// full name may equal an inside record's stripped name, so serving it could
// hide the bytes torch loads. Any other ZIP (torch opens none of it) is
// served whole.
void ShadowOutsiders(std::vector<ZipEntry>& entries) {
  const bool torch_opens = std::any_of(entries.begin(), entries.end(), [](const ZipEntry& e) {
    return !e.outside_prefix && (e.name == ".data/version" || e.name == "version");
  });
  if (!torch_opens) return;
  for (ZipEntry& e : entries) e.shadowed = e.shadowed || e.outside_prefix;
}

void Load(ArchiveState* impl, const std::string& path, ZipReaderOptions options,
          Problems& problems) {
  const bool strict = options.strict;
  const bool defer = options.defer_record_checks;
  impl->path = path;
  impl->fd = OpenReadOnly(path);
  const int fd = impl->fd.get();
  impl->file_size = RegularFileSize(fd, path);
  RefusePreRelease(fd, problems);
  const CentralDirectoryLocation cd = LocateOrNameTheFormat(fd, impl->file_size, strict, problems);
  if (options.on_record_count) options.on_record_count(cd.count);
  impl->entries =
      ParseCentralDirectory(ReadCentralDirectory(fd, cd, problems), cd.count, strict, problems);
  CheckReadable(impl->entries, problems);
  impl->prefix = FindPrefix(impl->entries, options, problems);
  AssignNames(impl->entries, impl->prefix, strict, problems);
  impl->by_offset = SortByOffset(impl->entries);
  const std::vector<uint32_t>& by_offset = impl->by_offset;
  impl->region_ends = RegionEnds(impl->entries, by_offset, cd.offset);
  if (defer) {
    // The central directory's share of the checks below; the rest waits for
    // each record's first read (zip/zip_deferred_checks.h).
    CheckCentralSpans(impl->entries, by_offset, cd.offset, impl->file_size, strict, problems);
    if (strict) CheckLeadingBytes(fd, impl->entries, by_offset, cd.offset, problems);
    impl->deferred =
        std::make_unique<DeferredRecordChecks>(by_offset, cd.offset, impl->file_size, strict);
  } else {
    RecordTails tails(strict ? by_offset.size() : 0);  // for CheckGaps: no second read
    ReadLocalHeaders(fd, impl->file_size, impl->entries, by_offset, strict, problems,
                     strict ? &tails : nullptr);
    // Overlapping records are refused in every mode: torch would serve them,
    // but one span of data read as many records multiplies what a small file
    // can claim to hold (and hides which record a byte belongs to).
    CheckOverlaps(impl->entries, by_offset, cd.offset, problems);
    // Offsets are only known when no record was refused.
    if (strict && !problems.any_flagged()) {
      CheckGaps(fd, impl->entries, by_offset, cd.offset, problems, &tails);
    }
  }
  impl->index = NameIndex(impl->entries);
  if (strict) {
    impl->index.Check(impl->entries, problems);
  } else {
    MarkShadowed(impl->entries, impl->index);
    ShadowOutsiders(impl->entries);
  }
}

// Reads every record not already refused to the end, so RecordStream checks
// its size and CRC-32. Progress counts compressed bytes: what is read from
// the file, and known before inflating.
void CheckRecordData(const ZipReader& zip, Problems& problems, const ProgressCallback& progress) {
  uint64_t total = 0;
  for (size_t i = 0; i < zip.entries().size(); ++i)
    if (!problems.flagged(i)) total += zip.entries()[i].compressed_size;
  uint64_t done = 0;
  std::vector<char> buffer(256 * 1024);
  for (size_t i = 0; i < zip.entries().size(); ++i) {
    if (problems.flagged(i)) continue;
    const ZipEntry& entry = zip.entries()[i];
    try {
      RecordStream in(zip, entry);
      while (const size_t n = in.Read(buffer)) {
        // Uncompressed position scaled to the compressed size (equal when stored).
        if (progress && entry.size != 0) {
          const double read = static_cast<double>(in.position()) / static_cast<double>(entry.size);
          ReportProgress(progress,
                         done + static_cast<uint64_t>(read * static_cast<double>(
                                                                 entry.compressed_size)),
                         total);
        }
      }
    } catch (const Error& e) {
      problems.Add(e);
    }
    done += entry.compressed_size;
    ReportProgress(progress, done, total);
  }
}

}  // namespace

bool IsLegacyTorchSave(std::string_view head) {
  // PROTO n, LONG1 10 <magic>: the first pickle of torch.save's legacy stream.
  if (head.size() >= 4 + kLegacyMagic.size() && head[0] == '\x80' && head[2] == '\x8a' &&
      head[3] == '\x0a' && head.substr(4, kLegacyMagic.size()) == kLegacyMagic)
    return true;
  // The still older tar form (torch < 0.4): "ustar" at offset 257.
  return head.size() >= 262 && head.substr(257, 5) == "ustar";
}

struct ZipReader::Impl : ArchiveState {};

ZipReader ZipReader::Open(const std::string& path, ZipReaderOptions options) {
  Problems problems(path, Problems::Mode::kThrowFirst);
  auto impl = std::make_unique<Impl>();
  Load(impl.get(), path, options, problems);
  return ZipReader(std::move(impl));
}

ZipReader::ZipReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZipReader::ZipReader(ZipReader&&) noexcept = default;
ZipReader& ZipReader::operator=(ZipReader&&) noexcept = default;
ZipReader::~ZipReader() = default;

const std::string& ZipReader::path() const { return impl_->path; }
const std::string& ZipReader::prefix() const { return impl_->prefix; }
const std::vector<ZipEntry>& ZipReader::entries() const { return impl_->entries; }
int ZipReader::fd() const { return impl_->fd.get(); }
uint64_t ZipReader::file_size() const { return impl_->file_size; }

bool ZipReader::deferred() const { return impl_->deferred != nullptr; }

uint64_t ZipReader::DataOffset(const ZipEntry& entry) const {
  return DataOffset(entry, 0, std::string_view());
}

uint64_t ZipReader::DataOffset(const ZipEntry& entry, uint64_t at, std::string_view bytes) const {
  if (!impl_->deferred) return entry.data_offset;
  const std::optional<size_t> index = impl_->deferred->IndexOf(impl_->entries, entry);
  if (!index) {
    throw Error(Errc::kInvalidArgument,
                RecordMessage(impl_->path, entry.full_name, "not a record of this archive"));
  }
  const FileBytes prefetched{at, bytes};
  return impl_->deferred->DataOffset(impl_->fd.get(), impl_->path, impl_->entries, *index,
                                     bytes.empty() ? nullptr : &prefetched);
}

std::optional<uint64_t> ZipReader::RegionEnd(const ZipEntry& entry) const {
  const std::optional<size_t> index = EntryIndex(impl_->entries, impl_->by_offset, entry);
  if (!index) return std::nullopt;
  return impl_->region_ends[*index];
}

const ZipEntry* ZipReader::Find(std::string_view record) const {
  return impl_->index.Find(impl_->entries, record);
}

void VerifyRecordData(const ZipReader& zip, const ProgressCallback& progress) {
  Problems first(zip.path(), Problems::Mode::kThrowFirst);  // CheckRecordData throws its first
  CheckRecordData(zip, first, progress);
}

uint64_t RecordDataWork(const ZipReader& zip) {
  uint64_t total = 0;  // what CheckRecordData counts when no record is flagged
  for (const ZipEntry& entry : zip.entries()) total += entry.compressed_size;
  return total;
}

std::vector<Error> CheckArchive(const std::string& path, const ProgressCallback& progress) {
  return CheckArchive(path, ZipReaderOptions{}, progress);
}

std::vector<Error> CheckArchive(const std::string& path, ZipReaderOptions options,
                                const ProgressCallback& progress) {
  {
    // A file that cannot be opened, or is no regular file, holds nothing to
    // check: thrown, so that callers tell a failure to check from a finding.
    const ScopedFd fd = OpenReadOnly(path);
    RegularFileSize(fd.get(), path);
  }
  Problems problems(path, Problems::Mode::kCollect);
  options.strict = true;
  try {
    auto impl = std::make_unique<ZipReader::Impl>();
    options.defer_record_checks = false;  // CheckArchive is always eager
    Load(impl.get(), path, options, problems);
    CheckRecordData(ZipReader(std::move(impl)), problems, progress);
  } catch (const Error& e) {
    problems.Add(e);
  }
  return std::move(problems.found());
}

}  // namespace tpkg
