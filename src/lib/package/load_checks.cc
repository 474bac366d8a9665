// CheckStorages / CheckVersion: the loader's needs beyond modules.
#include "package/load_checks.h"

#include <algorithm>
#include <map>
#include <unordered_set>

namespace tpkg {
namespace {

// caffe2/serialize/versions.h of torch 1.13 (doc/format.md §3.1).
constexpr uint64_t kMinSupportedVersion = 1;
constexpr uint64_t kMaxSupportedVersion = 10;

void AddProblem(DepGraph& graph, const std::string& node, PackagingErrorReason reason,
                const std::string& context) {
  NodeAttrs& attrs = graph.AddNode(node);
  if (attrs.error) return;
  attrs.error = reason;
  attrs.error_context = context;
}

// The value as the reader parses it: C strtoull in base 10, leading blanks
// skipped, trailing junk ignored; nullopt when no digit was parsed.
std::optional<uint64_t> ParseVersion(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r'))) ++i;
  if (i < text.size() && text[i] == '+') ++i;
  uint64_t value = 0;
  size_t digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
    if (value > (UINT64_MAX - 9) / 10) return UINT64_MAX;  // strtoull saturates
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  return value;
}

}  // namespace

uint64_t StorageElementSize(std::string_view storage_class) {
  static const std::map<std::string_view, uint64_t> kSizes = {
      {"DoubleStorage", 8},   {"FloatStorage", 4},          {"HalfStorage", 2},
      {"BFloat16Storage", 2}, {"LongStorage", 8},           {"IntStorage", 4},
      {"ShortStorage", 2},    {"CharStorage", 1},           {"ByteStorage", 1},
      {"BoolStorage", 1},     {"ComplexDoubleStorage", 16}, {"ComplexFloatStorage", 8},
      {"QInt8Storage", 1},    {"QInt32Storage", 4},         {"QUInt8Storage", 1},
      {"QUInt4x2Storage", 1}, {"QUInt2x4Storage", 1},       {"UntypedStorage", 1},
  };
  const auto it = kSizes.find(storage_class);
  return it == kSizes.end() ? 0 : it->second;
}

void CheckStorages(const ArchiveLayout& layout, const RecordSource& records,
                   const std::vector<std::string>& names, DepGraph& problems) {
  const std::unordered_set<std::string> present(names.begin(), names.end());
  for (const ArchivePickle& pickle : layout.pickles()) {
    for (const StorageRef& ref : pickle.storages) {
      // torch.package pickles name storages by int key; other keys belong to
      // TorchScript or torch.save, whose records live elsewhere.
      if (!ref.key_is_int) continue;
      const std::string record = ".data/" + ref.key + ".storage";
      if (!present.contains(record)) {
        AddProblem(problems, record, PackagingErrorReason::kMissingStorage,
                   "loaded by " + pickle.record + ", and the package has no such record");
        continue;
      }
      const uint64_t element = StorageElementSize(ref.storage_type.name);
      if (element == 0 || ref.numel > UINT64_MAX / element) continue;  // size not knowable
      const uint64_t needed = ref.numel * element;
      const uint64_t size = records.RecordSize(record);
      if (size < needed) {
        AddProblem(problems, record, PackagingErrorReason::kMissingStorage,
                   "loaded by " + pickle.record + " as " + std::to_string(ref.numel) + " x " +
                       ref.storage_type.name + " (" + std::to_string(needed) +
                       " bytes), and the record holds " + std::to_string(size));
      }
    }
  }
}

void CheckVersion(const RecordSource& records, const std::vector<std::string>& names,
                  DepGraph& problems) {
  const auto has = [&](std::string_view n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  const bool data_version = has(".data/version");
  if (!data_version && !has(".data/extern_modules")) return;  // not a torch.package
  const std::string record = data_version ? ".data/version" : "version";
  if (!data_version && !has("version")) {
    AddProblem(problems, ".data/version", PackagingErrorReason::kUnsupportedVersion,
               "the package has no version record");
    return;
  }
  const std::string text = records.ReadPrefix(record, 64);
  const std::optional<uint64_t> version = ParseVersion(text);
  if (!version) {
    AddProblem(problems, record, PackagingErrorReason::kUnsupportedVersion,
               "not a number, torch cannot parse the version");
  } else if (*version < kMinSupportedVersion || *version > kMaxSupportedVersion) {
    AddProblem(problems, record, PackagingErrorReason::kUnsupportedVersion,
               "version " + std::to_string(*version) + ", and torch 1.13 loads " +
                   std::to_string(kMinSupportedVersion) + " to " +
                   std::to_string(kMaxSupportedVersion));
  }
}

}  // namespace tpkg
