// record_patch.cc: records patched in place (tpkg/record_patch.h): the chunk
// map, merged reads, writes that copy at most the chunks they touch, and
// Journal::OpenPatch / FindPatch.
#include "tpkg/record_patch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "base/file_util.h"
#include "journal/data_files.h"
#include "journal/journal_impl.h"
#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/journal.h"

namespace tpkg {

void PatchState::Map(uint64_t first, uint64_t count) {
  if (mapped.size() < first + count) mapped.resize(first + count, false);
  for (uint64_t c = first; c < first + count; ++c) {
    if (!mapped[c]) ++mapped_count;
    mapped[c] = true;
  }
}

namespace {

constexpr size_t kCopyBlock = 1024 * 1024;

// A run of bytes [pos, pos + len) of the record that one source holds.
struct Segment {
  bool archive = false;  // else: the data file
  uint64_t pos = 0;
  uint64_t len = 0;
};

// Where the bytes [offset, end) come from. `mu` held.
std::vector<Segment> SegmentsOf(const PatchState& s, uint64_t offset, uint64_t end) {
  std::vector<Segment> out;
  for (uint64_t pos = offset; pos < end;) {
    const uint64_t chunk = pos / s.chunk_size;
    uint64_t stop = std::min(end, (chunk + 1) * s.chunk_size);
    const bool archive = pos < s.base_len && !s.Mapped(chunk);
    if (archive) stop = std::min(stop, s.base_len);
    if (!out.empty() && out.back().archive == archive) {
      out.back().len += stop - pos;
    } else {
      out.push_back({archive, pos, stop - pos});
    }
    pos = stop;
  }
  return out;
}

// Fills `out` (the record's bytes from `offset`) from the segments.
void ReadSegments(const ZipReader& zip, const ZipEntry& base, int data_fd,
                  const std::vector<Segment>& segments, uint64_t offset, std::span<char> out) {
  std::optional<uint64_t> base_offset;  // looked up once, and only when the archive is read
  for (const Segment& seg : segments) {
    std::span<char> part = out.subspan(seg.pos - offset, seg.len);
    if (seg.archive) {
      if (!base_offset) base_offset = zip.DataOffset(base);
      if (PreadFull(zip.fd(), part, *base_offset + seg.pos, zip.path()) != part.size())
        throw Error(Errc::kCorrupt, "'" + zip.path() + "' ends inside record '" + base.name + "'");
    } else {
      // Short only when a truncate raced the read: what is gone reads as zeros.
      const size_t got = PreadFull(data_fd, part, seg.pos, "a journal patch");
      std::memset(part.data() + got, 0, part.size() - got);
    }
  }
}

uint64_t SizeOf(int fd, const std::string& what) {
  return static_cast<uint64_t>(FstatOrThrow(fd, what).st_size);
}

void TruncateOrThrow(int fd, uint64_t size, const std::string& what) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int err = errno;
    ThrowSystemError("Cannot truncate '" + what + "'", err);
  }
}

// True while the namespace still references `state` as data file <id>:
// only then are its changes logged.
bool Referenced(const JournalState& impl, uint64_t id, const PatchState& state) {
  auto it = impl.patches.find(id);
  return !impl.dropped && it != impl.patches.end() && it->second.get() == &state;
}

// Logs (group commit) and applies a chunk-map entry, or only applies it to
// a patch the namespace no longer references.
void LogPatchEntry(JournalState& impl, uint64_t id, PatchState& state, LogEntry e) {
  e.id = id;
  if (!Referenced(impl, id, state)) {
    if (e.op == LogOp::kPatchChunks) state.Map(e.sec, e.nsec);
    if (e.op == LogOp::kPatchCut) state.base_len = std::min<uint64_t>(state.base_len, e.sec);
    return;
  }
  e = Stamped(std::move(e));
  if (int err = impl.CheckEntry(e)) ThrowOpError("patch", impl.DataPath(id), err);
  impl.LogGrouped(e);
  impl.FreeWhenCommitted(impl.ApplyEntry(e));
}

// Maps every chunk [offset, end) touches below the base length: copies the
// archive's bytes of the unmapped ones into the data file, syncs them, then
// logs them. `mu` held.
void MapChunks(JournalState& impl, uint64_t id, PatchState& state, int data_fd, uint64_t offset,
               uint64_t end) {
  if (offset >= state.base_len) return;
  const uint64_t cs = state.chunk_size;
  const uint64_t first = offset / cs, last = (std::min(end, state.base_len) - 1) / cs;
  std::vector<std::pair<uint64_t, uint64_t>> runs;  // first chunk, count
  std::vector<char> buffer;
  const std::string what = impl.DataPath(id);
  for (uint64_t c = first; c <= last; ++c) {
    if (state.Mapped(c)) continue;
    const uint64_t from = c * cs, to = std::min((c + 1) * cs, state.base_len);
    buffer.resize(static_cast<size_t>(to - from));
    ReadSegments(impl.zip, *state.base, data_fd, {{true, from, to - from}}, from, buffer);
    PwriteAll(data_fd, buffer, from, what);
    if (!runs.empty() && runs.back().first + runs.back().second == c) {
      ++runs.back().second;
    } else {
      runs.emplace_back(c, 1);
    }
  }
  if (runs.empty()) return;
  // The copied archive bytes (and the file's size) are durable before any
  // entry says where they are, and so is the file's name.
  FdatasyncOrThrow(data_fd, what);
  if (impl.data_names_pending) SyncDataNames(impl);
  for (const auto& [chunk, count] : runs) {
    LogEntry e;
    e.op = LogOp::kPatchChunks;
    e.sec = static_cast<int64_t>(chunk);
    e.nsec = static_cast<int64_t>(count);
    LogPatchEntry(impl, id, state, std::move(e));
  }
}

}  // namespace

PatchState& PatchOf(const JournalState& impl, uint64_t id) {
  auto it = impl.patches.find(id);
  if (it == impl.patches.end())
    throw Error(Errc::kCorrupt, "Journal '" + impl.dir + "' has no chunk map for the patch " +
                                    impl.DataPath(id) + "; move it away to mount the archive");
  return *it->second;
}

int CheckPatchEntry(const JournalState& impl, const LogEntry& e) {
  if (e.op == LogOp::kSetPatch) {
    if (int err = impl.tree.CheckFileExists(e.path)) return err;
    // A new data file: ids are handed out in log order, never shared.
    if (e.id < impl.next_id) return EINVAL;
    const TreeFile* file = impl.tree.FindFile(e.path);
    // A chunk size of 4 KiB .. 1 GiB, a power of two.
    const bool chunk_ok = e.mode >= 4096 && e.mode <= (1u << 30) && (e.mode & (e.mode - 1)) == 0;
    // Over an original, or over a patch recovery found lost (RepairPatches
    // reverts it without logging; the next patch replaces it at replay).
    const ZipEntry* base = file->original ? file->original : file->patch_base;
    return base && base->method == kMethodStored && chunk_ok && e.id != 0
               ? 0
               : EINVAL;
  }
  // Only a referenced patch is logged, and only chunks below its base
  // length are ever mapped (MapChunks).
  auto it = impl.patches.find(e.id);
  if (it == impl.patches.end()) return ENOENT;
  const PatchState& state = *it->second;
  const uint64_t chunks = (state.base_len + state.chunk_size - 1) / state.chunk_size;
  if (e.sec < 0) return EINVAL;
  if (e.op == LogOp::kPatchChunks &&
      (e.nsec <= 0 || static_cast<uint64_t>(e.sec) >= chunks ||
       static_cast<uint64_t>(e.nsec) > chunks - static_cast<uint64_t>(e.sec)))
    return EINVAL;
  return 0;
}

void ResizePatch(JournalState& impl, uint64_t id, PatchState& state, int data_fd, uint64_t size) {
  const std::string what = impl.DataPath(id);
  TruncateOrThrow(data_fd, size, what);
  if (size >= state.base_len) return;
  // The cut is durable before it is logged: a crash must not show archive
  // bytes past it, nor bytes the truncate removed.
  FdatasyncOrThrow(data_fd, what);
  if (impl.data_names_pending) SyncDataNames(impl);
  LogEntry e;
  e.op = LogOp::kPatchCut;
  e.sec = static_cast<int64_t>(size);
  LogPatchEntry(impl, id, state, std::move(e));
}

void CopyPatch(const JournalState& impl, const PatchState& state, int data_fd, int dst_fd,
               uint64_t size, const std::string& what) {
  std::vector<char> buffer(kCopyBlock);
  for (uint64_t pos = 0; pos < size;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size - pos, buffer.size()));
    const std::span<char> part(buffer.data(), n);
    ReadSegments(impl.zip, *state.base, data_fd, SegmentsOf(state, pos, pos + n), pos, part);
    PwriteAll(dst_fd, part, pos, what);
    pos += n;
  }
}

RecordPatch::RecordPatch(JournalState& journal, uint64_t id, std::shared_ptr<PatchState> state,
                         ScopedFd data_fd)
    : journal_(journal), id_(id), state_(std::move(state)), fd_(std::move(data_fd)) {}

RecordPatch::~RecordPatch() = default;

const ZipEntry& RecordPatch::base() const { return *state_->base; }

uint64_t RecordPatch::mapped_bytes() const {
  std::lock_guard lock(journal_.mu);
  return state_->mapped_count * state_->chunk_size;
}
int RecordPatch::fd() const { return fd_.get(); }
uint64_t RecordPatch::size() const { return SizeOf(fd_.get(), journal_.DataPath(id_)); }

size_t RecordPatch::Read(uint64_t offset, std::span<char> out) const {
  const uint64_t size = this->size();
  if (offset >= size) return 0;
  out = out.first(static_cast<size_t>(std::min<uint64_t>(out.size(), size - offset)));
  std::vector<Segment> segments;
  {
    std::lock_guard lock(journal_.mu);
    segments = SegmentsOf(*state_, offset, offset + out.size());
  }
  ReadSegments(journal_.zip, *state_->base, fd_.get(), segments, offset, out);
  return out.size();
}

size_t RecordPatch::Write(uint64_t offset, std::span<const char> data) {
  if (data.empty()) return 0;
  if (offset > UINT64_MAX / 2 || data.size() > UINT64_MAX / 2 - offset)
    throw Error(Errc::kInvalidArgument, "write past the largest file size", EFBIG);
  {
    std::lock_guard lock(journal_.mu);
    MapChunks(journal_, id_, *state_, fd_.get(), offset, offset + data.size());
  }
  // Outside the lock: the chunks are mapped, so these bytes are the record's.
  // A failure while mapping wrote nothing of `data`: it throws above.
  return PwriteSome(fd_.get(), data, offset, journal_.DataPath(id_));
}

void RecordPatch::Resize(uint64_t size) {
  std::lock_guard lock(journal_.mu);
  ResizePatch(journal_, id_, *state_, fd_.get(), size);
}

void RecordPatch::VerifyBase() const {
  RecordStream in(journal_.zip, *state_->base);  // checks size and CRC-32 at the end
  std::vector<char> buffer(kCopyBlock);
  while (in.Read(buffer) != 0) {
  }
}

int RepairPatches(JournalState& impl) {
  int reverted = 0;
  std::vector<std::string> lost;
  for (const auto& [path, file] : impl.tree.files()) {
    if (!file.patch_base) continue;
    struct stat st;
    const std::string name = std::to_string(file.journal_id);
    if (::fstatat(impl.data_fd.get(), name.c_str(), &st, 0) != 0) {
      lost.push_back(path);
      continue;
    }
    PatchState& state = PatchOf(impl, file.journal_id);
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size >= state.base_len) continue;
    if (state.mapped_count > 0) {
      // A cut was synced but its entry lost (mapping a chunk syncs the
      // size): the file is as truncated; log the cut now.
      LogEntry e;
      e.op = LogOp::kPatchCut;
      e.sec = static_cast<int64_t>(size);
      LogPatchEntry(impl, file.journal_id, state, std::move(e));
    } else {
      // The size of a new patch was lost, or a cut of a patch holding no
      // chunk: nothing of it was written, the record is back as it was.
      const ScopedFd fd = impl.OpenData(file.journal_id, O_RDWR);
      TruncateOrThrow(fd.get(), state.base_len, impl.DataPath(file.journal_id));
      FdatasyncOrThrow(fd.get(), impl.DataPath(file.journal_id));
    }
  }
  for (const std::string& path : lost) {
    impl.patches.erase(impl.tree.FindFile(path)->journal_id);
    impl.tree.RevertPatch(path);
    ++reverted;
  }
  return reverted;
}

std::shared_ptr<RecordPatch> Journal::FindPatch(std::string_view record) const {
  std::lock_guard lock(impl_->mu);
  impl_->ThrowIfDropped();
  const TreeFile* file = impl_->tree.FindFile(record);
  if (!file) ThrowOpError("open", record, impl_->tree.FindDir(record) ? EISDIR : ENOENT);
  if (!file->patch_base) return nullptr;
  PatchOf(*impl_, file->journal_id);  // throws for a damaged journal
  return std::make_shared<RecordPatch>(*impl_, file->journal_id,
                                       impl_->patches.at(file->journal_id),
                                       impl_->OpenData(file->journal_id, O_RDWR));
}

std::shared_ptr<RecordPatch> Journal::OpenPatch(std::string_view record) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->ThrowIfDropped();
    if (int err = ValidateRecordPath(record)) ThrowOpError("open", record, err);
    if (int err = impl_->tree.CheckFileExists(record)) ThrowOpError("open", record, err);
    const TreeFile& file = *impl_->tree.FindFile(record);
    if (file.journal_id != 0 && !file.patch_base) return nullptr;  // a whole journal file
    if (file.journal_id == 0) {
      if (file.original->method != kMethodStored) return nullptr;
      // A sparse file of the record's size; nothing copied, nothing synced:
      // a crash that loses its size or name before the first chunk is
      // mapped (which syncs both) is repaired by recovery (RepairPatches).
      LogEntry e = PathEntry(LogOp::kSetPatch, record);
      e.mode = static_cast<uint32_t>(RecordPatch::kChunkSize);
      const uint64_t size = file.original->size;
      NewDataFile(*impl_, e, [size](int fd, const std::string& what) {
        TruncateOrThrow(fd, size, what);
        return false;  // no bytes yet: nothing to sync
      });
    }
  }
  return FindPatch(record);
}

}  // namespace tpkg
