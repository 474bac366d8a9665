// zip_hostile_cases.h: one hostile archive per refusal of the strict reader
// (a valid archive from the writer with specific bytes corrupted), with the
// reason each must be refused with; shared by the eager reader's tests
// (zip_reader_test.cc) and the deferred checks' (zip_deferred_checks_test.cc).
//
// Thread safety: test code, single-threaded.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "zip/zip_format.h"
#include "zip_hostile_util.h"

namespace tpkg::testing {

using Mutation = std::function<void(std::string&)>;

struct HostileCase {
  std::string name;
  std::function<std::string()> base;
  Mutation mutate;
  Errc code;
  std::string reason;  // a substring of the message
  bool lenient_opens;  // ZipReaderOptions{.strict = false} accepts it
};

inline std::vector<HostileCase> HostileCases() {
  const auto base = BaseArchive;
  const auto deflated = DeflatedArchive;
  const Errc kCorrupt = Errc::kCorrupt, kUnsupported = Errc::kUnsupported;
  return {
      {"TruncatedTail", base, [](auto& b) { b.resize(b.size() - 10); }, kCorrupt,
       "no end of central directory record", false},
      {"TruncatedHalf", base, [](auto& b) { b.resize(b.size() / 2); }, kCorrupt,
       "no end of central directory record", false},
      // Torch's reader reads an archive with bytes after its end record (up
      // to its search window): lenient mode too, strict mode refuses.
      {"TrailingBytes", base, [](auto& b) { b += "junk"; }, kCorrupt,
       "4 bytes after the end of central directory record", true},
      {"TrailingBytesBeyondTorchsSearch", base,
       [](auto& b) { b += std::string(zipfmt::kTorchEocdSearchWindow - 21, 'j'); }, kCorrupt,
       "no end of central directory record", false},
      // A signature with fewer than 22 bytes after it is no end record for torch.
      {"TrailingShortEndRecordSignature", base,
       [](auto& b) { b += std::string("PK\x05\x06", 4) + std::string(17, '\0'); }, kCorrupt,
       "21 bytes after the end of central directory record", true},
      {"EndRecordCommentPastTheEnd", base, [](auto& b) { Put16(b, EocdAt(b) + 20, 5); }, kCorrupt,
       "comment runs past the end of the file", true},
      {"NotAZip", base, [](auto& b) { b = "just some text that is long enough"; }, kCorrupt,
       "not a ZIP archive", false},
      {"TooShort", base, [](auto& b) { b = "PK"; }, kCorrupt, "too short", false},
      {"PreReleaseFormat", base, [](auto& b) { b.replace(0, 8, "PYTORCH1"); }, kUnsupported,
       "PYTORCH1", false},
      {"NoEntries", [] { return BuildArchive("p", {}); }, [](auto&) {}, kCorrupt,
       "does not contain any files", false},
      {"CentralDirectoryOutOfRange", base,
       [](auto& b) {
         Put32(b, EocdAt(b) + 16, Get32(b, EocdAt(b) + 16) + 1000);
         Put64(b, Zip64EocdAt(b) + 48, Get32(b, Zip64EocdAt(b) + 48) + 1000);
       },
       kCorrupt, "central directory out of range", false},
      {"MoreEntriesThanTheCentralDirectoryHolds", base,
       [](auto& b) {
         for (size_t at : {EocdAt(b) + 8, EocdAt(b) + 10}) Put16(b, at, Get16(b, at) + 1);
         for (size_t at : {Zip64EocdAt(b) + 24, Zip64EocdAt(b) + 32})
           Put64(b, at, Get32(b, at) + 1);
       },
       kCorrupt, "central directory entry #11: bad or truncated header", false},
      {"Zip64LocatorPointsElsewhere", base, [](auto& b) { Put64(b, LocatorAt(b) + 8, 0); },
       kCorrupt, "no ZIP64 end of central directory record where the locator points", false},
      {"MultiDisk", base, [](auto& b) { Put32(b, Zip64EocdAt(b) + 16, 1); }, kUnsupported,
       "multi-disk", false},
      {"EndRecordsDisagree", base, [](auto& b) { Put16(b, EocdAt(b) + 10, 5); }, kCorrupt,
       "disagrees with the ZIP64 end record", true},
      {"Zip64ExtraMissing", base,
       [](auto& b) { Put32(b, CentralAt(b, "p/dup1") + 24, 0xffffffff); }, kCorrupt,
       "record 'p/dup1': ZIP64 extra field missing", false},
      {"DuplicateName", base, [](auto& b) { Rename(b, "p/dup2", "p/dup1"); }, kCorrupt,
       "record 'p/dup1': duplicate name", true},
      {"NamesDifferingOnlyInCase", base, [](auto& b) { Rename(b, "p/dup2", "p/DUP1"); }, kCorrupt,
       "differs only in case", true},
      {"FileAndFolder", base, [](auto& b) { Rename(b, "p/sux/f", "p/sub/f"); }, kCorrupt,
       "record 'p/sub': is both a file and a folder (see 'p/sub/f')", true},
      {"AbsoluteName", base, [](auto& b) { Rename(b, "p/abs", "//abs"); }, kCorrupt,
       "record '//abs': absolute name", true},
      {"DotDotComponent", base, [](auto& b) { Rename(b, "p/d/xx/e", "p/d/../e"); }, kCorrupt,
       "record 'p/d/../e': '..' path component", true},
      {"DotComponent", base, [](auto& b) { Rename(b, "p/d/xx/e", "p/d/./xe"); }, kCorrupt,
       "'.' path component", true},
      {"EmptyComponent", base, [](auto& b) { Rename(b, "p/d/xx/e", "p/d//xxe"); }, kCorrupt,
       "empty path component", true},
      {"NulComponent", base, [](auto& b) { Rename(b, "p/d/xx/e", std::string("p/d/x\0/e", 8)); },
       kCorrupt, "record 'p/d/x\\x00/e': name contains a NUL byte", true},
      {"OutsideThePrefixFolder", base, [](auto& b) { Rename(b, "p/outx", "q/outx"); }, kCorrupt,
       "record 'q/outx': outside the prefix folder 'p/'", true},
      {"FirstRecordNotInAFolder", base, [](auto& b) { Rename(b, "p/first.txt", "p_first.txt"); },
       kCorrupt, "record 'p_first.txt': first record is not in a prefix folder", true},
      {"LocalNameDisagrees", base, [](auto& b) { b.replace(b.find("p/dup1"), 6, "p/dupX"); },
       kCorrupt, "local header disagrees with the central directory (name 'p/dupX')", true},
      {"LocalMethodDisagrees", base, [](auto& b) { Put16(b, LocalAt(b, "p/dup1") + 8, 8); },
       kCorrupt, "local header disagrees with the central directory (compression method)", true},
      {"LocalFlagsDisagree", base, [](auto& b) { Put16(b, LocalAt(b, "p/dup1") + 6, 0x0800); },
       kCorrupt, "local header disagrees with the central directory (flags)", true},
      {"LocalCrcDisagrees", base, [](auto& b) { Put32(b, LocalAt(b, "p/dup1") + 14, 0x1234); },
       kCorrupt, "local header disagrees with the central directory (CRC-32)", true},
      {"OverlappingRecords", base,
       [](auto& b) {
         for (size_t at : {20, 24}) Put32(b, CentralAt(b, "p/data.bin") + at, 250);
       },
       kCorrupt, "record 'p/dup1': overlaps record 'p/data.bin'", false},
      {"LocalHeaderTheDirectoryDoesNotList", base, [](auto& b) { Unlist(b, "p/dup2"); }, kCorrupt,
       "64 bytes at offset 403 before record 'p/sub' belong to no record (a local header the "
       "central directory does not list)",
       true},
      {"DataBetweenRecords", base,
       [](auto& b) {
         Unlist(b, "p/dup2");
         Put32(b, LocalAt(b, "p/dup2"), 0x12345678);
       },
       kCorrupt, "before record 'p/sub' belong to no record (data outside any record)", true},
      {"DataDescriptorDisagrees", base, [](auto& b) { Put32(b, DataAt(b, "p/dup1") + 3 + 8, 300); },
       kCorrupt, "record 'p/dup1': data descriptor disagrees with the central directory", true},
      {"DataDescriptorMissing", base,
       [](auto& b) {
         Put16(b, LocalAt(b, "p/empty") + 6, 0x0808);
         Put16(b, CentralAt(b, "p/empty") + 8, 0x0808);
       },
       kCorrupt, "record 'p/empty': data descriptor missing", true},
      {"CentralExtraBlockRunsPastTheField", base,
       [](auto& b) {
         Put16(b, CentralAt(b, "p/d/xx/e") + 28, 4);
         Put16(b, CentralAt(b, "p/d/xx/e") + 30, 4);
       },
       kCorrupt,
       "record 'p/d/': central directory extra block 0x7878 at byte 0 declares 25903 bytes, "
       "and only 0 remain",
       true},
      {"DataPastTheEndOfTheFile", base,
       [](auto& b) {
         for (size_t at : {20, 24}) Put32(b, CentralAt(b, "p/data.bin") + at, 0x10000000);
       },
       kCorrupt, "record 'p/data.bin': data runs past the end of the file", false},
      {"LocalHeaderPastTheEnd", base,
       [](auto& b) { Put32(b, CentralAt(b, "p/dup1") + 42, 0x7ffffff0); }, kCorrupt,
       "past the end of the file", false},
      {"NoLocalHeaderWhereTheDirectoryPoints", base,
       [](auto& b) {
         Put32(b, CentralAt(b, "p/dup1") + 42, Get32(b, CentralAt(b, "p/dup1") + 42) + 1);
       },
       kCorrupt, "record 'p/dup1': no local header at offset", false},
      {"Encrypted", base,
       [](auto& b) {
         Put16(b, LocalAt(b, "p/dup1") + 6, Get16(b, LocalAt(b, "p/dup1") + 6) | 1);
         Put16(b, CentralAt(b, "p/dup1") + 8, Get16(b, CentralAt(b, "p/dup1") + 8) | 1);
       },
       kUnsupported, "record 'p/dup1': encrypted records are not supported", false},
      {"UnsupportedCompression", base,
       [](auto& b) {
         Put16(b, LocalAt(b, "p/dup1") + 8, 12);
         Put16(b, CentralAt(b, "p/dup1") + 10, 12);
       },
       kUnsupported, "record 'p/dup1': compression method 12 is not supported", false},
      {"StoredSizesDisagree", base, [](auto& b) { Put32(b, CentralAt(b, "p/dup1") + 20, 2); },
       kCorrupt, "stored record whose compressed size differs from its size", false},
      {"ImpossibleDeflateRatio", deflated,
       [](auto& b) { Put32(b, CentralAt(b, "p/model.py") + 24, 2000000); }, kCorrupt,
       "claims a size deflate cannot reach", false},
  };
}

inline void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }

}  // namespace tpkg::testing
