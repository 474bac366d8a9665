#include "fuzz_archive.h"

#include "tpkg/zip_writer.h"

namespace tpkg::fuzz {

namespace {

struct SampleRecord {
  const char* name;
  const char* bytes;
};

// A package with an interned module, a subpackage, a pickle that references
// the module, and torch's metadata records.
constexpr SampleRecord kRecords[] = {
    {"pkg/__init__.py", ""},
    {"pkg/model.py", "import math\nfrom .util import scale\nclass M:\n    pass\n"},
    {"pkg/util.py", "def scale(x):\n    return 2 * x\n"},
    {"pkg/sub/__init__.py", "from .. import util\n"},
    // protocol 3: pkg.model.M() then EMPTY_DICT, BUILD
    {"model.pkl", "\x80\x03" "cpkg.model\nM\nq\x00)\x81q\x01}q\x02b."},
    {"pkg/weights.bin", nullptr},  // kWeightsSize bytes of WeightsBytes(): several chunks
    {".data/extern_modules", "math\n"},
    {".data/version", "6\n"},
};

// Large enough to be patched in several 64 KiB chunks (tpkg/record_patch.h).
constexpr size_t kWeightsSize = 3 * 64 * 1024 + 100;

std::string WeightsBytes() {
  std::string out(kWeightsSize, '\0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(i % 251);
  return out;
}

std::string BytesOf(const SampleRecord& r) { return r.bytes ? r.bytes : WeightsBytes(); }

}  // namespace

const std::vector<std::string>& SampleRecordNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const SampleRecord& r : kRecords) out.push_back(r.name);
    return out;
  }();
  return names;
}

std::string SampleRecordBytes(const std::string& name) {
  for (const SampleRecord& r : kRecords)
    if (name == r.name) return BytesOf(r);
  return {};
}

void WriteSampleArchive(const std::string& path) {
  ZipWriter writer = ZipWriter::Create(path, "sample", /*overwrite=*/true);
  for (const SampleRecord& r : kRecords) writer.AddRecord(r.name, BytesOf(r));
  writer.Finish();
}

}  // namespace tpkg::fuzz
