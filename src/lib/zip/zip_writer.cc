// ZipWriter: our own writer, because libzip cannot place data on 64-byte
// boundaries nor reproduce torch's header conventions byte for byte. The
// bytes around each record come from zip_layout.cc; this file does the
// bookkeeping (offsets, names, buffering) and the I/O.
#include "tpkg/zip_writer.h"

#include <fcntl.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <vector>

#include "base/file_util.h"
#include "tpkg/crc32.h"
#include "tpkg/record_path.h"
#include "tpkg/serialization_id.h"
#include "zip/fd_sink.h"
#include "zip/source_window.h"
#include "zip/zip_layout.h"
#include "zip/zip_names.h"

namespace tpkg {
namespace {

// Headers, descriptors and small records are gathered up to this size
// before they reach the sink; bigger payloads go straight through. Not
// bigger: every fresh page of the buffer costs a page fault
// (zip/source_window.h measured it).
constexpr size_t kFlushThreshold = 256 << 10;
constexpr size_t kStreamChunk = 1 << 20;
// What the serialization id needs of a record's data (serialization_id.h).
constexpr size_t kHeadSize = 8;

std::string CheckedPrefix(std::string prefix) {
  if (!IsValidPrefixFolder(prefix))
    throw Error(Errc::kInvalidArgument, "invalid prefix folder " + QuoteName(prefix));
  return prefix;
}

}  // namespace

bool IsValidPrefixFolder(const std::string& prefix) {
  return !prefix.empty() && prefix.find('/') == std::string::npos &&
         !CheckRecordPath(prefix + "/x", {.dot_prefix_folder = true});
}

struct ZipWriter::Impl {
  std::unique_ptr<ZipSink> sink;
  std::string prefix;
  std::string pending;  // bytes accepted but not yet handed to the sink
  uint64_t offset = 0;  // bytes accepted so far, pending included
  std::vector<RecordLayout> records;
  // Per record, its first min(8, size) bytes as written, for the serialization id.
  std::vector<std::string> heads;
  NameRegistry names;
  bool finished = false;
  bool failed = false;

  void Append(std::span<const char> bytes) {
    if (pending.size() + bytes.size() > kFlushThreshold) Flush();
    if (bytes.size() >= kFlushThreshold) {
      sink->Write(bytes);
    } else {
      pending.append(bytes.data(), bytes.size());
    }
    offset += bytes.size();
  }

  // Room for `more` records, growing geometrically (a call per record must
  // not make it grow one by one).
  void Reserve(size_t more) {
    const size_t want = records.size() + more;
    if (want <= records.capacity()) return;
    records.reserve(std::max(want, 2 * records.capacity()));
    heads.reserve(records.capacity());
    names.Reserve(records.capacity() - records.size());
  }

  void Flush() {
    if (pending.empty()) return;
    sink->Write(pending);
    pending.clear();
  }

  // Refuses what the reader would refuse, before any byte is written, and
  // claims the name; returns it with the prefix folder, as the headers hold it.
  std::string ClaimRecord(std::string_view record, const RecordAttributes& attrs) {
    std::string_view why;
    std::string full;
    if (record.empty()) {
      why = "empty record name";
    } else if (record.back() == '/') {
      why = "directory entries are not records";
    } else {
      full.reserve(prefix.size() + 1 + record.size());
      full.append(prefix).append("/").append(record);
      why = CheckRecordPath(full, {.dot_prefix_folder = true}).why;
    }
    if (!why.empty())
      throw Error(Errc::kInvalidArgument,
                  "cannot add record " + QuoteName(record) + ": " + std::string(why));
    CheckAttributes(record, attrs);
    if (std::string clash = names.Claim(record); !clash.empty()) {
      throw Error(Errc::kExists, "cannot add record: " + clash);
    }
    return full;
  }

  static void CheckAttributes(std::string_view record, const RecordAttributes& attrs) {
    if (attrs.mtime && (*attrs.mtime < 0 || *attrs.mtime > kMaxZipTime))
      throw Error(Errc::kInvalidArgument,
                  "cannot add record " + QuoteName(record) + ": its time " +
                      std::to_string(*attrs.mtime) + " is outside what a ZIP can hold (0 to " +
                      std::to_string(kMaxZipTime) + " seconds since 1970)",
                  EOVERFLOW);
  }

  // Runs one write step; a failure leaves the output unusable, so later calls refuse.
  template <typename Step>
  void Guarded(Step&& step) {
    if (finished) throw Error(Errc::kInvalidArgument, "ZipWriter: already finished");
    if (failed) throw Error(Errc::kIo, "ZipWriter: an earlier write failed");
    try {
      step();
    } catch (...) {
      failed = true;
      throw;
    }
  }

  // `full_name`: ClaimRecord's.
  RecordLayout Begin(std::string full_name, uint64_t size, uint64_t compressed, uint16_t method,
                     const RecordAttributes& attrs) {
    RecordLayout r{std::move(full_name), offset, size, compressed, 0, method, attrs};
    AppendInPlace([&r](std::string& out) { AppendLocalHeader(out, r); });
    return r;
  }

  void End(RecordLayout r, std::string_view data_start) {
    AppendInPlace([&r](std::string& out) { AppendDataDescriptor(out, r); });
    records.push_back(std::move(r));
    heads.emplace_back(data_start.substr(0, kHeadSize));
  }

  // Appends what `write` appends, straight into `pending` (a header or a
  // descriptor: small, so the buffer passes its threshold by one at most).
  template <typename Write>
  void AppendInPlace(Write&& write) {
    if (pending.size() >= kFlushThreshold) Flush();
    const size_t before = pending.size();
    write(pending);
    offset += pending.size() - before;
  }

  // Streams the data; returns its first kHeadSize bytes.
  std::string StreamFromFd(RecordLayout& r, int fd, uint64_t from, uint64_t size);
  std::string StreamFrom(RecordLayout& r, uint64_t size,
                         const std::function<void(uint64_t, std::span<char>)>& read);
  uint64_t WriteCentralDirectory();
};

std::string ZipWriter::Impl::StreamFromFd(RecordLayout& r, int fd, uint64_t from, uint64_t size) {
  return StreamFrom(r, size, [&](uint64_t done, std::span<char> chunk) {
    if (PreadFull(fd, chunk, from + done, "record source for " + r.full_name) != chunk.size()) {
      throw Error(Errc::kIo, "record source for " + QuoteName(r.full_name) + " ended early");
    }
  });
}

std::string ZipWriter::Impl::StreamFrom(
    RecordLayout& r, uint64_t size, const std::function<void(uint64_t, std::span<char>)>& read) {
  Flush();
  std::string head;
  std::vector<char> buffer(static_cast<size_t>(std::min<uint64_t>(size, kStreamChunk)));
  for (uint64_t done = 0; done < size;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size - done, buffer.size()));
    const auto chunk = std::span(buffer).first(want);
    read(done, chunk);
    r.crc32 = Crc32(r.crc32, chunk);
    if (done == 0) head.assign(chunk.data(), std::min(chunk.size(), kHeadSize));
    sink->Write(chunk);
    offset += want;
    done += want;
  }
  return head;
}

uint64_t ZipWriter::Impl::WriteCentralDirectory() {
  const uint64_t cd_offset = offset;
  std::string bytes;
  for (const RecordLayout& r : records) {
    AppendCentralHeader(bytes, r);
    if (bytes.size() >= kFlushThreshold) Append(bytes), bytes.clear();
  }
  Append(bytes);
  bytes.clear();
  AppendEndRecords(bytes, records.size(), cd_offset, offset - cd_offset);
  Append(bytes);
  Flush();
  return offset;
}

ZipWriter ZipWriter::Create(const std::string& path, std::string prefix, bool overwrite) {
  prefix = CheckedPrefix(std::move(prefix));
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  ScopedFd fd(::open(path.c_str(), flags, 0666));
  if (!fd.valid()) {
    const int err = errno;
    ThrowSystemError("cannot create " + path, err);
  }
  return ToSink(std::make_unique<FdSink>(std::move(fd), path), std::move(prefix));
}

ZipWriter ZipWriter::ToFd(int fd, std::string prefix) {
  return ToSink(std::make_unique<FdSink>(fd, "fd " + std::to_string(fd)), std::move(prefix));
}

ZipWriter ZipWriter::ToSink(std::unique_ptr<ZipSink> sink, std::string prefix) {
  auto impl = std::make_unique<Impl>();
  impl->prefix = CheckedPrefix(std::move(prefix));
  impl->sink = std::move(sink);
  return ZipWriter(std::move(impl));
}

ZipWriter::ZipWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZipWriter::ZipWriter(ZipWriter&&) noexcept = default;
ZipWriter& ZipWriter::operator=(ZipWriter&&) noexcept = default;
ZipWriter::~ZipWriter() = default;

uint64_t ZipWriter::offset() const { return impl_->offset; }

void ZipWriter::AddRecord(std::string_view record, std::span<const char> data,
                          const RecordAttributes& attrs) {
  std::string full = impl_->ClaimRecord(record, attrs);
  impl_->Guarded([&] {
    RecordLayout r = impl_->Begin(std::move(full), data.size(), data.size(), kMethodStored, attrs);
    r.crc32 = Crc32(0, data);
    impl_->Append(data);
    impl_->End(std::move(r), std::string_view(data.data(), data.size()));
  });
}

void ZipWriter::AddRecordFromFd(std::string_view record, int fd, uint64_t offset, uint64_t size,
                                const RecordAttributes& attrs) {
  std::string full = impl_->ClaimRecord(record, attrs);
  impl_->Guarded([&] {
    RecordLayout r = impl_->Begin(std::move(full), size, size, kMethodStored, attrs);
    const std::string head = impl_->StreamFromFd(r, fd, offset, size);
    impl_->End(std::move(r), head);
  });
}

void ZipWriter::AddRecordFromSource(std::string_view record, uint64_t size,
                                    const std::function<void(uint64_t, std::span<char>)>& read,
                                    const RecordAttributes& attrs) {
  std::string full = impl_->ClaimRecord(record, attrs);
  impl_->Guarded([&] {
    RecordLayout r = impl_->Begin(std::move(full), size, size, kMethodStored, attrs);
    const std::string head = impl_->StreamFrom(r, size, read);
    impl_->End(std::move(r), head);
  });
}

void ZipWriter::CopyRawRecord(const ZipReader& src, const ZipEntry& entry, std::string_view record,
                              const RecordAttributes& attrs) {
  const RawRecordCopy copy{&entry, record, attrs};
  CopyRawRecords(src, std::span(&copy, 1));
}

void ZipWriter::CopyRawRecords(const ZipReader& src, std::span<const RawRecordCopy> copies) {
  impl_->Reserve(copies.size());
  SourceWindow window;
  for (size_t i = 0; i < copies.size(); ++i) {
    const ZipEntry& entry = *copies[i].entry;
    const std::string_view record = copies[i].record.empty() ? entry.name : copies[i].record;
    const RecordAttributes& attrs = copies[i].attrs;
    // An empty record has no bytes to copy; torch writes it stored.
    if (entry.size == 0) {
      AddRecord(record, std::string_view(), attrs);
      continue;
    }
    std::string full = impl_->ClaimRecord(record, attrs);
    impl_->Guarded([&] {
      RecordLayout r =
          impl_->Begin(std::move(full), entry.size, entry.compressed_size, entry.method, attrs);
      r.crc32 = entry.crc32;
      if (const std::optional<FileBytes> bytes = window.Region(src, copies, i)) {
        // Checks the record's local header and region first when `src`
        // defers them, on the bytes just read.
        const uint64_t data_offset = src.DataOffset(entry, bytes->start, bytes->bytes);
        if (bytes->Holds(data_offset, entry.compressed_size)) {
          const std::string_view data = bytes->Get(data_offset, entry.compressed_size);
          impl_->Append(data);
          return impl_->End(std::move(r), data);
        }
      }
      // Checks the record's local header and region first when `src` defers them.
      const uint64_t data_offset = src.DataOffset(entry);
      std::string head(std::min<uint64_t>(entry.compressed_size, kHeadSize), '\0');
      PreadExact(src.fd(), head, data_offset, src.path() + " (" + entry.name + ")");
      impl_->Flush();
      impl_->sink->CopyFrom(src.fd(), data_offset, entry.compressed_size);
      impl_->offset += entry.compressed_size;
      impl_->End(std::move(r), head);
    });
  }
}

void ZipWriter::AddDirectory(std::string_view folder, const RecordAttributes& attrs) {
  const std::string full = impl_->prefix + "/" + std::string(folder);
  const std::string why = folder.empty() || folder.back() == '/'
                              ? std::string("not a folder name")
                              : std::string(CheckRecordPath(full, {.dot_prefix_folder = true}).why);
  if (!why.empty())
    throw Error(Errc::kInvalidArgument, "cannot add folder " + QuoteName(folder) + ": " + why);
  if (std::string clash = impl_->names.FolderProblem(folder); !clash.empty())
    throw Error(Errc::kExists, "cannot add folder: " + clash);
  Impl::CheckAttributes(folder, attrs);
  impl_->Guarded([&] {
    impl_->names.AddFolder(folder);
    RecordLayout r{impl_->prefix + "/" + std::string(folder) + "/", impl_->offset, 0, 0, 0,
                   kMethodStored, attrs, /*directory=*/true};
    std::string header;
    AppendLocalHeader(header, r);
    impl_->Append(header);
    impl_->End(std::move(r), {});
  });
}

void ZipWriter::AddSerializationId() {
  const size_t prefix_size = impl_->prefix.size() + 1;  // "<prefix>/"
  std::vector<RecordDigest> written;
  written.reserve(impl_->records.size());
  for (size_t i = 0; i < impl_->records.size(); ++i) {
    const RecordLayout& r = impl_->records[i];
    if (r.directory) continue;  // torch's writer has none; they are no records
    written.push_back(
        {std::string_view(r.full_name).substr(prefix_size), r.crc32, r.size, impl_->heads[i]});
  }
  AddRecord(kSerializationIdRecord, TorchSerializationId(impl_->prefix, written));
}

void ZipWriter::AddTorchPackageTrailer(TorchRelease release) {
  AddRecord(".data/version", std::string_view("6\n"));
  if (release == TorchRelease::kTorch1_13) return;
  AddRecord("byteorder", std::endian::native == std::endian::little ? std::string_view("little")
                                                                    : std::string_view("big"));
  AddSerializationId();
}

uint64_t ZipWriter::Finish() {
  uint64_t size = 0;
  impl_->Guarded([&] { size = impl_->WriteCentralDirectory(); });
  impl_->finished = true;
  return size;
}

// torch's basename(): after the last '/' or '\', cut at the last '.'
// (doc/format.md §2.1; ".hidden" gives "" because the dot is at the start).
std::string PrefixForPath(std::string_view path) {
  const size_t sep = path.find_last_of("/\\");
  std::string_view base = sep == std::string_view::npos ? path : path.substr(sep + 1);
  if (const size_t dot = base.find_last_of('.'); dot != std::string_view::npos) {
    base = base.substr(0, dot);
  }
  if (base.empty()) {
    throw Error(Errc::kInvalidArgument, "invalid file name: " + std::string(path));
  }
  return std::string(base);
}

}  // namespace tpkg
