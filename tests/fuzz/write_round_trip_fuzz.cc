// Fuzz target: the writer round trip. An input the strict reader accepts is
// written again twice, record by record (AddRecord: stored, new CRCs) and
// raw (CopyRawRecord: the bytes as they are), and each result must read back
// strictly with the same names in the same order and the same bytes.
// Anything else (a refusal of the writer, a difference) is a finding: what
// the reader accepts, the writer must be able to keep.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"

namespace {

using tpkg::fuzz::Fail;

// Inputs whose records add up to more are skipped (they cost time, not coverage).
constexpr uint64_t kMaxTotalBytes = 16u << 20;

struct Record {
  std::string name;
  std::string bytes;
};

void ExpectSameRecords(const std::vector<Record>& expected, const std::string& path,
                       const char* how) {
  const tpkg::ZipReader copy = tpkg::ZipReader::Open(path);
  if (copy.entries().size() != expected.size()) Fail(std::string(how) + ": record count differs");
  for (size_t i = 0; i < expected.size(); ++i) {
    const tpkg::ZipEntry& entry = copy.entries()[i];
    if (entry.name != expected[i].name) Fail(std::string(how) + ": name differs at " + std::to_string(i));
    if (copy.ReadAll(entry) != expected[i].bytes) Fail(std::string(how) + ": bytes differ: " + entry.name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = tpkg::fuzz::WriteScratchFile(
      "input.zip", std::string_view(reinterpret_cast<const char*>(data), size));
  std::vector<Record> records;
  std::string prefix;
  try {
    const tpkg::ZipReader zip = tpkg::ZipReader::Open(path);
    prefix = zip.prefix();
    uint64_t total = 0;
    for (const tpkg::ZipEntry& entry : zip.entries()) {
      total += entry.size;
      if (total > kMaxTotalBytes) return 0;
      records.push_back({entry.name, zip.ReadAll(entry)});
    }
  } catch (const tpkg::Error&) {
    return 0;  // not an archive the strict reader takes: nothing to round-trip
  }
  const tpkg::ZipReader zip = tpkg::ZipReader::Open(path);
  const std::string rewritten = tpkg::fuzz::ScratchFolder() + "/rewritten.zip";
  const std::string copied = tpkg::fuzz::ScratchFolder() + "/copied.zip";
  try {
    tpkg::ZipWriter writer = tpkg::ZipWriter::Create(rewritten, prefix, /*overwrite=*/true);
    for (const Record& r : records) {
      if (r.name.empty() || r.name.back() == '/') continue;  // directory entries
      writer.AddRecord(r.name, r.bytes);
    }
    writer.Finish();
    tpkg::ZipWriter raw = tpkg::ZipWriter::Create(copied, prefix, /*overwrite=*/true);
    for (const tpkg::ZipEntry& entry : zip.entries()) {
      if (entry.is_directory()) continue;
      raw.CopyRawRecord(zip, entry);
    }
    raw.Finish();
  } catch (const tpkg::Error& e) {
    Fail(std::string("the writer refused what the strict reader accepted: ") + e.what());
  }
  std::vector<Record> files;
  for (const Record& r : records)
    if (!r.name.empty() && r.name.back() != '/') files.push_back(r);
  try {
    ExpectSameRecords(files, rewritten, "AddRecord");
    ExpectSameRecords(files, copied, "CopyRawRecord");
  } catch (const tpkg::Error& e) {
    Fail(std::string("the strict reader refused the writer's archive: ") + e.what());
  }
  return 0;
}
