// Fuzz target: the metadata analysis of a whole archive (tpkg/metadata.h):
// every source record import-scanned, every pickle scanned, the dependency
// graph and the policy built, as a mount does for `.data/extern_modules` and
// `.data/deps.dot`. The input is the archive, opened non-strictly so that
// odd archives still reach the analysis.
#include <cstdint>

#include "fuzz_support.h"
#include "tpkg/metadata.h"
#include "tpkg/zip_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = tpkg::fuzz::WriteScratchFile(
      "input.pt", std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    const tpkg::ZipReader zip = tpkg::ZipReader::Open(path, {.strict = false});
    const tpkg::ZipRecordSource records(zip);
    const tpkg::Metadata metadata = tpkg::RegenerateMetadata(records);
    (void)tpkg::ExternModulesMismatch(records, metadata);
  } catch (const tpkg::Error&) {
  }
  return 0;
}
