#include "zip/zip_central_directory.h"

#include <string>

#include "zip/zip_attributes.h"
#include "zip/zip_format.h"

namespace tpkg {
namespace {

using namespace zipfmt;

// Reads the ZIP64 fields, in APPNOTE order, for each slot at its maximum.
// Returns false when the block is missing or too short.
bool ApplyZip64Extra(std::string_view block, ZipEntry& e, uint32_t& disk) {
  auto take = [&block](uint64_t& field, size_t width) {
    if (block.size() < width) return false;
    field = width == 8 ? Load64(block.data()) : Load32(block.data());
    block.remove_prefix(width);
    return true;
  };
  uint64_t disk64 = disk;
  const bool ok = (e.size != kMax32 || take(e.size, 8)) &&
                  (e.compressed_size != kMax32 || take(e.compressed_size, 8)) &&
                  (e.local_header_offset != kMax32 || take(e.local_header_offset, 8)) &&
                  (disk != kMax16 || take(disk64, 4));
  disk = static_cast<uint32_t>(disk64);
  return ok;
}

bool NeedsZip64(const ZipEntry& e, uint32_t disk) {
  return e.size == kMax32 || e.compressed_size == kMax32 || e.local_header_offset == kMax32 ||
         disk == kMax16;
}

// Fills the 64-bit fields of `e` from the extra field; fatal when they are absent.
void ResolveZip64(std::string_view extra, ZipEntry& e, uint32_t& disk, Problems& problems) {
  bool well_formed = true;  // a malformed field is reported by ParseCentralDirectory
  auto block = FindExtraBlock(extra, kZip64ExtraId, well_formed);
  if (!block || !ApplyZip64Extra(*block, e, disk)) {
    problems.Fatal(Errc::kCorrupt,
                   "record " + QuoteName(e.full_name) + ": ZIP64 extra field missing or too short");
  }
}

ZipEntry ParseFixedPart(const char* p) {
  ZipEntry e;
  e.flags = Load16(p + central::kFlags);
  e.method = Load16(p + central::kMethod);
  e.crc32 = Load32(p + central::kCrc);
  e.compressed_size = Load32(p + central::kCompressedSize);
  e.size = Load32(p + central::kSize);
  e.local_header_offset = Load32(p + central::kLocalHeaderOffset);
  return e;
}

}  // namespace

std::vector<ZipEntry> ParseCentralDirectory(std::string_view cd, uint64_t count, bool strict,
                                            Problems& problems) {
  std::vector<ZipEntry> entries;
  entries.reserve(count);
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    // Built only for a refusal: a string per entry was a heap allocation per
    // record at every mount.
    auto where = [i] { return "central directory entry #" + std::to_string(i); };
    if (cd.size() - pos < kCentralHeaderSize || Load32(cd.data() + pos) != kCentralHeaderSig) {
      problems.Fatal(Errc::kCorrupt, where() + ": bad or truncated header");
    }
    const char* p = cd.data() + pos;
    const size_t name_len = Load16(p + central::kNameLength);
    const size_t extra_len = Load16(p + central::kExtraLength);
    const size_t total =
        kCentralHeaderSize + name_len + extra_len + Load16(p + central::kCommentLength);
    if (cd.size() - pos < total)
      problems.Fatal(Errc::kCorrupt, where() + ": runs past the central directory");
    ZipEntry& e = entries.emplace_back(ParseFixedPart(p));
    e.full_name.assign(p + kCentralHeaderSize, name_len);
    uint32_t disk = Load16(p + central::kDiskStart);
    const std::string_view extra = cd.substr(pos + kCentralHeaderSize + name_len, extra_len);
    if (strict) {
      if (std::string why = ExtraFieldProblem(extra); !why.empty()) {
        problems.Record(i, e.full_name, Errc::kCorrupt, "central directory " + why);
      }
    }
    if (NeedsZip64(e, disk)) ResolveZip64(extra, e, disk, problems);
    ReadAttributes(p, extra, &e);
    if (disk != 0) problems.Fatal(Errc::kUnsupported, "multi-disk archives are not supported");
    pos += total;
  }
  if (strict && pos != cd.size()) {
    problems.Archive(Errc::kCorrupt,
                     "central directory is longer than its " + std::to_string(count) + " entries");
  }
  return entries;
}

}  // namespace tpkg
