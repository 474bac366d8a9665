// The end records are parsed by hand rather than through libzip: libzip
// neither reports *which* rule an archive breaks nor exposes the offsets the
// rest of the reader needs (see zip_reader.cc).
#include "zip/zip_end_records.h"

#include <algorithm>
#include <string>

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

// The EOCD is the last record whose comment length reaches exactly to the
// end of the file; torch never writes a comment, so it is the last 22 bytes.
Eocd FindEocd(int fd, uint64_t file_size, Problems& problems) {
  if (file_size < kEocdSize) problems.Fatal(Errc::kCorrupt, "not a ZIP archive (too short)");
  const uint64_t tail_size = std::min<uint64_t>(file_size, kEocdSize + kMaxCommentSize);
  std::string tail(tail_size, '\0');
  const uint64_t tail_start = file_size - tail_size;
  if (PreadFull(fd, tail, tail_start, problems.archive()) != tail_size) {
    problems.Fatal(Errc::kCorrupt, "file shrank while being read");
  }
  for (size_t i = tail_size - kEocdSize + 1; i-- > 0;) {
    const char* p = tail.data() + i;
    if (Load32(p) == kEocdSig && i + kEocdSize + Load16(p + 20) == tail_size) {
      return Eocd{tail_start + i, Load16(p + 4),  Load16(p + 6), Load16(p + 8),
                  Load16(p + 10), Load32(p + 12), Load32(p + 16)};
    }
  }
  problems.Fatal(Errc::kCorrupt,
                 "not a ZIP archive or truncated (no end of central directory record)");
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
  Eocd eocd = FindEocd(fd, file_size, problems);
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
