#include "journal/manifest_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>

#include "base/file_util.h"
#include "tpkg/crc32.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

constexpr char kMagic[8] = {'T', 'P', 'K', 'G', 'J', 'N', 'L', '1'};
// Two paths of at most 4095 bytes plus fixed fields fit with room to spare;
// anything longer is garbage, never a reason to allocate.
constexpr uint32_t kMaxPayload = 64 * 1024;
constexpr size_t kEntryHeader = 8;

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutStr(std::string* out, const std::string& s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

// Reads a payload field by field; any overrun marks it invalid.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view bytes) : rest_(bytes) {}
  uint64_t U(int width) {
    if (rest_.size() < static_cast<size_t>(width)) return Fail();
    uint64_t v = 0;
    for (int i = 0; i < width; ++i) v |= uint64_t{static_cast<unsigned char>(rest_[i])} << (8 * i);
    rest_.remove_prefix(width);
    return v;
  }
  std::string Str() {
    const uint64_t n = U(4);
    if (rest_.size() < n) return Fail(), std::string();
    std::string s(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return s;
  }
  bool ok() const { return ok_ && rest_.empty(); }
  bool at_end() const { return rest_.empty(); }

 private:
  uint64_t Fail() {
    ok_ = false;
    rest_ = {};
    return 0;
  }
  std::string_view rest_;
  bool ok_ = true;
};

std::optional<LogEntry> DecodePayload(std::string_view payload) {
  PayloadReader r(payload);
  LogEntry e;
  e.op = static_cast<LogOp>(r.U(1));
  e.flags = static_cast<uint8_t>(r.U(1));
  e.path = r.Str();
  e.path2 = r.Str();
  e.id = r.U(8);
  e.mode = static_cast<uint32_t>(r.U(4));
  e.sec = static_cast<int64_t>(r.U(8));
  e.nsec = static_cast<int64_t>(r.U(8));
  e.identity.size = r.U(8);
  e.identity.digest = r.U(8);
  e.identity.mtime_sec = static_cast<int64_t>(r.U(8));
  e.identity.mtime_nsec = static_cast<int64_t>(r.U(8));
  if (!r.at_end()) {  // written by a journal that keeps times and owners
    e.at_sec = static_cast<int64_t>(r.U(8));
    e.at_nsec = static_cast<int64_t>(r.U(8));
    e.uid = static_cast<uint32_t>(r.U(4));
    e.gid = static_cast<uint32_t>(r.U(4));
  }
  const auto op = static_cast<uint8_t>(e.op);
  if (!r.ok() || op < static_cast<uint8_t>(LogOp::kHeader) ||
      op > static_cast<uint8_t>(LogOp::kSetOwner))
    return std::nullopt;
  return e;
}

// Parses entries from `bytes` (the file after the magic); returns how many
// bytes were valid. An entry whose checksum holds but whose operation is
// unknown was written by a newer tpkgfs: refused (kCorrupt) rather than cut
// off as a torn tail with every entry after it.
uint64_t ParseEntries(std::string_view bytes, const std::string& path, std::vector<LogEntry>* out) {
  uint64_t good = 0;
  while (bytes.size() - good >= kEntryHeader) {
    PayloadReader header(bytes.substr(good, kEntryHeader));
    const uint64_t length = header.U(4), crc = header.U(4);
    if (length == 0 || length > kMaxPayload || bytes.size() - good - kEntryHeader < length) break;
    const std::string_view payload = bytes.substr(good + kEntryHeader, length);
    if (Crc32(0, payload) != crc) break;
    if (static_cast<uint8_t>(payload[0]) > static_cast<uint8_t>(LogOp::kSetOwner))
      throw Error(Errc::kCorrupt, "Journal manifest '" + path + "' holds an operation (" +
                                      std::to_string(static_cast<uint8_t>(payload[0])) +
                                      ") this tpkgfs does not know: a newer version wrote it");
    std::optional<LogEntry> entry = DecodePayload(payload);
    if (!entry) break;
    out->push_back(std::move(*entry));
    good += kEntryHeader + length;
  }
  return good;
}

std::string ReadWholeFile(int fd, const std::string& what) {
  const uint64_t size = static_cast<uint64_t>(FstatOrThrow(fd, what).st_size);
  std::string bytes(size, '\0');
  PreadExact(fd, std::span<char>(bytes.data(), bytes.size()), 0, what);
  return bytes;
}

}  // namespace

LogEntry PathEntry(LogOp op, std::string_view path, std::string_view path2, uint8_t flags) {
  LogEntry e;
  e.op = op;
  e.flags = flags;
  e.path = path;
  e.path2 = path2;
  return e;
}

LogEntry ModeEntry(LogOp op, std::string_view path, std::optional<uint32_t> mode) {
  LogEntry e = PathEntry(op, path, {}, mode ? kHasMode : 0);
  e.mode = mode.value_or(0) & 07777;
  return e;
}

LogEntry MtimeEntry(std::string_view path, struct timespec mtime, LogOp op) {
  LogEntry e = PathEntry(op, path);
  e.sec = mtime.tv_sec;
  e.nsec = mtime.tv_nsec;
  return e;
}

LogEntry IdentityEntry(LogOp op, const ArchiveIdentity& identity, std::string_view path) {
  LogEntry e = PathEntry(op, path);
  e.identity = identity;
  return e;
}

std::string EncodeLogEntry(const LogEntry& e) {
  std::string p;
  p.push_back(static_cast<char>(e.op));
  p.push_back(static_cast<char>(e.flags));
  PutStr(&p, e.path);
  PutStr(&p, e.path2);
  PutU64(&p, e.id);
  PutU32(&p, e.mode);
  PutU64(&p, static_cast<uint64_t>(e.sec));
  PutU64(&p, static_cast<uint64_t>(e.nsec));
  PutU64(&p, e.identity.size);
  PutU64(&p, e.identity.digest);
  PutU64(&p, static_cast<uint64_t>(e.identity.mtime_sec));
  PutU64(&p, static_cast<uint64_t>(e.identity.mtime_nsec));
  PutU64(&p, static_cast<uint64_t>(e.at_sec));
  PutU64(&p, static_cast<uint64_t>(e.at_nsec));
  PutU32(&p, e.uid);
  PutU32(&p, e.gid);
  std::string out;
  PutU32(&out, static_cast<uint32_t>(p.size()));
  PutU32(&out, Crc32(0, p));
  return out + p;
}

ManifestLog ManifestLog::Create(int dir_fd, const std::string& dir, const LogEntry& header) {
  const std::string temp = dir + "/" + kTempName, path = dir + "/" + kFileName;
  ::unlinkat(dir_fd, kTempName, 0);
  ScopedFd fd = OpenAtOrThrow(dir_fd, kTempName, O_RDWR | O_CREAT | O_EXCL, 0600, temp);
  const std::string bytes = std::string(kMagic, sizeof kMagic) + EncodeLogEntry(header);
  PwriteAll(fd.get(), bytes, 0, temp);
  FsyncOrThrow(fd.get(), temp);
  if (::renameat(dir_fd, kTempName, dir_fd, kFileName) != 0) {
    const int err = errno;
    ThrowSystemError("Cannot create '" + path + "'", err);
  }
  FsyncOrThrow(dir_fd, dir);
  return ManifestLog(std::move(fd), path, bytes.size());
}

namespace {

// The entries of a manifest's bytes; the length of the part that parses.
uint64_t ParseManifest(const std::string& bytes, const std::string& path,
                       ManifestContents* contents) {
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw Error(Errc::kCorrupt,
                "Journal manifest '" + path + "' is not a tpkgfs journal (bad magic)");
  contents->entries.clear();
  const uint64_t good = sizeof kMagic + ParseEntries(std::string_view(bytes).substr(sizeof kMagic),
                                                     path, &contents->entries);
  if (contents->entries.empty() || contents->entries[0].op != LogOp::kHeader)
    throw Error(Errc::kCorrupt, "Journal manifest '" + path + "' has no valid header entry");
  contents->torn_bytes = bytes.size() - good;
  return good;
}

}  // namespace

std::optional<ManifestContents> ManifestLog::Read(const std::string& dir) {
  const std::string path = dir + "/" + kFileName;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return std::nullopt;
    ThrowSystemError("Cannot open '" + path + "'", err);
  }
  const ScopedFd owned(fd);
  ManifestContents contents;
  ParseManifest(ReadWholeFile(owned.get(), path), path, &contents);
  return contents;
}

ManifestLog ManifestLog::Open(int dir_fd, const std::string& dir, ManifestContents* contents) {
  const std::string path = dir + "/" + kFileName;
  ScopedFd fd = OpenAtOrThrow(dir_fd, kFileName, O_RDWR, 0, path);
  const uint64_t good = ParseManifest(ReadWholeFile(fd.get(), path), path, contents);
  if (contents->torn_bytes > 0) {
    if (::ftruncate(fd.get(), static_cast<off_t>(good)) != 0) {
      const int err = errno;
      ThrowSystemError("Cannot drop the torn tail of '" + path + "'", err);
    }
    FsyncOrThrow(fd.get(), path);
  }
  return ManifestLog(std::move(fd), path, good);
}

void ManifestLog::ThrowIfBroken() const {
  if (broken_)
    throw Error(Errc::kIo,
                "Journal manifest '" + path_ + "' could not be repaired after a failed write", EIO);
}

void ManifestLog::Append(const LogEntry& entry) {
  ThrowIfBroken();
  const std::string bytes = EncodeLogEntry(entry);
  try {
    PwriteAll(fd_.get(), bytes, end_, path_);
    FdatasyncOrThrow(fd_.get(), path_);
  } catch (const Error&) {
    // A half-written or unsynced entry must not survive: it would apply at
    // the next replay although the caller was told the operation failed.
    // (Entries of earlier Write() calls are cut from nothing: they stay.)
    if (::ftruncate(fd_.get(), static_cast<off_t>(end_)) != 0 || ::fdatasync(fd_.get()) != 0)
      broken_ = true;
    throw;
  }
  end_ += bytes.size();
  synced_ = end_;
}

void ManifestLog::Write(const LogEntry& entry) {
  ThrowIfBroken();
  const std::string bytes = EncodeLogEntry(entry);
  try {
    PwriteAll(fd_.get(), bytes, end_, path_);
  } catch (const Error&) {
    if (::ftruncate(fd_.get(), static_cast<off_t>(end_)) != 0) broken_ = true;
    throw;
  }
  end_ += bytes.size();
}

}  // namespace tpkg
