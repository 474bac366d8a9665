// Fuzz target: the ZIP reader. Opens the input strictly and not, reads every
// record whole (CRC checked), streamed and by ranges, and lists every problem
// CheckArchive finds. Errors are the expected outcome for most inputs; a
// crash, a sanitizer report, a hang or an unbounded allocation is a finding.
#include <array>
#include <cstdint>
#include <exception>

#include "fuzz_support.h"
#include "tpkg/zip_reader.h"

namespace {

// Records are read whole only up to this size: a 64 KiB input can declare
// a record of 4 GiB, which ReadAll would honestly try to inflate.
constexpr uint64_t kReadAllLimit = 16u << 20;
constexpr uint64_t kStreamLimit = 1u << 20;

void ReadEveryRecord(const tpkg::ZipReader& zip) {
  std::array<char, 4096> buffer;
  for (const tpkg::ZipEntry& entry : zip.entries()) {
    try {
      if (entry.size <= kReadAllLimit) (void)zip.ReadAll(entry);
    } catch (const tpkg::Error&) {
    }
    try {
      tpkg::RecordStream stream(zip, entry);
      while (stream.position() < kStreamLimit && stream.Read(buffer) > 0) {
      }
    } catch (const tpkg::Error&) {
    }
    try {
      (void)zip.ReadAt(entry, entry.size / 2, buffer);
    } catch (const tpkg::Error&) {
    }
    (void)zip.Find(entry.name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = tpkg::fuzz::WriteScratchFile(
      "input.zip", std::string_view(reinterpret_cast<const char*>(data), size));
  for (const bool strict : {true, false}) {
    try {
      const tpkg::ZipReader zip = tpkg::ZipReader::Open(path, {.strict = strict});
      ReadEveryRecord(zip);
    } catch (const tpkg::Error&) {
    }
  }
  (void)tpkg::CheckArchive(path);
  return 0;
}
