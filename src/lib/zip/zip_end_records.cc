// The end records are parsed by hand rather than through libzip: libzip
// neither reports *which* rule an archive breaks nor exposes the offsets the
// rest of the reader needs (see zip_reader.cc).
#include "zip/zip_end_records.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "base/file_util.h"
#include "zip/zip_format.h"

namespace tpkg {
namespace {

using namespace zipfmt;

struct Eocd {
  uint64_t pos = 0;
  uint32_t disk = 0, cd_disk = 0;
  uint64_t entries_on_disk = 0, entries = 0, cd_size = 0, cd_offset = 0;
};

// Where torch's reader (miniz's mz_zip_reader_locate_header_sig, the same in
// torch 1.13 and 2.6) finds the end record in the file's last bytes `tail`:
// it reads 4 KiB blocks backwards, each 3 bytes over the one after it, and
// takes the last "PK\5\6" with 22 bytes after it, whatever its comment
// length says. It gives up after the block that starts 64 KiB + 22 bytes or
// more from the end (zip_format.h kTorchEocdSearchWindow), and when the next
// block would start before the file (its unsigned step wraps below 0 and the
// read fails), so in a file over 4 KiB a record near the start may go unseen.
std::optional<uint64_t> TorchEocdOffset(std::string_view tail, uint64_t file_size) {
  constexpr int64_t kBlock = 4096, kOverlap = 3;
  const auto size = static_cast<int64_t>(file_size);
  const int64_t tail_start = size - static_cast<int64_t>(tail.size());
  for (int64_t block = std::max<int64_t>(size - kBlock, 0); block >= 0;
       block -= kBlock - kOverlap) {
    const int64_t n = std::min(kBlock, size - block);
    for (int64_t i = n - 4; i >= 0; --i) {
      const int64_t at = block + i;
      if (size - at >= static_cast<int64_t>(kEocdSize) &&
          Load32(tail.data() + (at - tail_start)) == kEocdSig)
        return static_cast<uint64_t>(at);
    }
    if (block == 0 || size - block >= static_cast<int64_t>(kEocdSize + kMaxCommentSize))
      return std::nullopt;
  }
  return std::nullopt;
}

// The EOCD torch reads. Other ZIP tools (Info-ZIP's unzip, for one) want
// the record whose comment reaches exactly to the end of the file; with
// bytes after torch's record and its comment, the two can be different
// archives in one file (a scanner that read the other one would vouch for
// what torch never loads). So the reader always reads torch's, and strict
// mode refuses a file that record does not end.
Eocd FindEocd(int fd, uint64_t file_size, bool strict, Problems& problems) {
  if (file_size < kEocdSize) problems.Fatal(Errc::kCorrupt, "not a ZIP archive (too short)");
  const uint64_t tail_size = std::min<uint64_t>(file_size, kTorchEocdSearchWindow);
  std::string tail(tail_size, '\0');
  const uint64_t tail_start = file_size - tail_size;
  if (PreadFull(fd, tail, tail_start, problems.archive()) != tail_size) {
    problems.Fatal(Errc::kCorrupt, "file shrank while being read");
  }
  const std::optional<uint64_t> at = TorchEocdOffset(tail, file_size);
  if (!at) {
    problems.Fatal(Errc::kCorrupt,
                   "not a ZIP archive or truncated (no end of central directory record)");
  }
  const char* p = tail.data() + (*at - tail_start);
  const uint64_t end = *at + kEocdSize + Load16(p + 20);  // of its comment
  if (strict && end != file_size) {
    problems.Archive(Errc::kCorrupt,
                     end > file_size
                         ? std::string("the end of central directory record's comment runs past "
                                       "the end of the file")
                         : std::to_string(file_size - end) +
                               " bytes after the end of central directory record and its comment "
                               "(torch's reader ignores them; other ZIP tools may read another "
                               "archive)");
  }
  return Eocd{*at,           Load16(p + 4),  Load16(p + 6),
              Load16(p + 8), Load16(p + 10), Load32(p + 12),
              Load32(p + 16)};
}

std::string ReadExactly(int fd, uint64_t offset, size_t size, Problems& problems,
                        const char* what) {
  std::string bytes(size, '\0');
  if (offset > UINT64_MAX - size || PreadFull(fd, bytes, offset, problems.archive()) != size) {
    problems.Fatal(Errc::kCorrupt, std::string(what) + " out of range (truncated archive)");
  }
  return bytes;
}

// Replaces the clamped fields of `eocd` with the ZIP64 end record's values.
void ApplyZip64(int fd, Eocd& eocd, bool strict, Problems& problems) {
  const uint64_t locator_pos = eocd.pos - kZip64LocatorSize;
  const std::string loc =
      ReadExactly(fd, locator_pos, kZip64LocatorSize, problems, "ZIP64 locator");
  const uint64_t z64_pos = Load64(loc.data() + 8);
  if (Load32(loc.data() + 4) != 0 || Load32(loc.data() + 16) > 1) {
    problems.Fatal(Errc::kUnsupported, "multi-disk archives are not supported");
  }
  if (z64_pos > locator_pos || locator_pos - z64_pos < kZip64EocdSize) {
    problems.Fatal(Errc::kCorrupt, "ZIP64 end of central directory record out of range");
  }
  const std::string rec = ReadExactly(fd, z64_pos, kZip64EocdSize, problems, "ZIP64 end record");
  if (Load32(rec.data()) != kZip64EocdSig) {
    problems.Fatal(Errc::kCorrupt,
                   "no ZIP64 end of central directory record where the locator points");
  }
  if (strict && z64_pos + 12 + Load64(rec.data() + 4) != locator_pos) {
    problems.Archive(Errc::kCorrupt, "ZIP64 end record size disagrees with its locator");
  }
  const Eocd z64{z64_pos,
                 Load32(rec.data() + 16),
                 Load32(rec.data() + 20),
                 Load64(rec.data() + 24),
                 Load64(rec.data() + 32),
                 Load64(rec.data() + 40),
                 Load64(rec.data() + 48)};
  // A classic field either holds the real value or the clamp (torch: min(v, max)).
  auto agrees = [](uint64_t classic, uint64_t real, uint64_t max) {
    return classic == real || classic == max || classic == std::min(real, max);
  };
  if (strict &&
      !(agrees(eocd.entries, z64.entries, kMax16) && agrees(eocd.cd_size, z64.cd_size, kMax32) &&
        agrees(eocd.cd_offset, z64.cd_offset, kMax32))) {
    problems.Archive(Errc::kCorrupt,
                     "end of central directory disagrees with the ZIP64 end record");
  }
  eocd = z64;
}

bool HasZip64Locator(int fd, const Eocd& eocd, Problems& problems) {
  if (eocd.pos < kZip64LocatorSize) return false;
  char sig[4];
  return PreadFull(fd, sig, eocd.pos - kZip64LocatorSize, problems.archive()) == 4 &&
         Load32(sig) == kZip64LocatorSig;
}

void CheckRange(const Eocd& eocd, uint64_t end_records, bool strict, Problems& problems) {
  if (eocd.disk != 0 || eocd.cd_disk != 0 || eocd.entries_on_disk != eocd.entries) {
    problems.Fatal(Errc::kUnsupported, "multi-disk archives are not supported");
  }
  if (eocd.entries == 0) problems.Fatal(Errc::kCorrupt, "archive does not contain any files");
  if (eocd.cd_offset > end_records || eocd.cd_size > end_records - eocd.cd_offset) {
    problems.Fatal(Errc::kCorrupt, "central directory out of range (offset " +
                                       std::to_string(eocd.cd_offset) + " + size " +
                                       std::to_string(eocd.cd_size) + " > " +
                                       std::to_string(end_records) + ")");
  }
  if (eocd.cd_size / kCentralHeaderSize < eocd.entries) {
    problems.Fatal(Errc::kCorrupt,
                   "central directory too small for " + std::to_string(eocd.entries) + " entries");
  }
  if (strict && eocd.cd_offset + eocd.cd_size != end_records) {
    problems.Archive(Errc::kCorrupt,
                     "unexplained bytes between the central directory and the end records");
  }
}

}  // namespace

CentralDirectoryLocation LocateCentralDirectory(int fd, uint64_t file_size, bool strict,
                                                Problems& problems) {
  Eocd eocd = FindEocd(fd, file_size, strict, problems);
  CentralDirectoryLocation where;
  where.end_records = eocd.pos;
  if (HasZip64Locator(fd, eocd, problems)) {
    ApplyZip64(fd, eocd, strict, problems);
    where.end_records = eocd.pos;
    where.zip64 = true;
  } else if (eocd.cd_offset == kMax32 || eocd.cd_size == kMax32) {
    problems.Fatal(Errc::kCorrupt,
                   "end of central directory needs a ZIP64 record, which is missing");
  }
  CheckRange(eocd, where.end_records, strict, problems);
  where.offset = eocd.cd_offset;
  where.size = eocd.cd_size;
  where.count = eocd.entries;
  return where;
}

}  // namespace tpkg
