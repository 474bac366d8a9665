// model_diff.h: what changed between two model files: records, the action of
// each module (torch.package), and the tensors the pickles rebuild.
//
//   tpkg::ModelDiff d = tpkg::DiffModels(old_zip, new_zip);
//   for (const auto& r : d.records) ...   // added / removed / changed (size or CRC-32)
//
// Records are compared by name (prefix folder stripped) and CRC-32 + size,
// never byte against byte. Tensors are matched by (pickle, place in the
// object); a tensor "changed" when its dtype, shape, stride, storage offset,
// storage record or the storage record's bytes (CRC-32 + size) differ. So
// that an equal CRC-32 means equal bytes, every record of both files is read
// first and its data verified against its CRC-32 and size (VerifyRecordData,
// the check `tpkg check` makes): a damaged record fails the diff rather than
// passing for unchanged. Both files are read in full.
//
// Thread safety: a pure function over two readers.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tpkg/model_tensors.h"
#include "tpkg/progress.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

enum class ChangeKind { kAdded, kRemoved, kChanged };

struct RecordChange {
  ChangeKind kind;
  std::string record;
  std::optional<ZipEntry> before;  // absent when added
  std::optional<ZipEntry> after;   // absent when removed
};

struct ModuleChange {
  std::string module;
  std::string before;  // "intern", "extern", "mock", or "" when absent
  std::string after;
};

struct TensorChange {
  ChangeKind kind;
  std::string pickle;
  std::string path;
  std::optional<ModelTensor> before;
  std::optional<ModelTensor> after;
  // For kChanged, in this order: "dtype", "shape", "stride", "storage_offset",
  // "storage" (another record), "bytes" (the storage record's content).
  std::vector<std::string> fields;
};

struct ModelDiff {
  FileKind before_kind = FileKind::kZip;
  FileKind after_kind = FileKind::kZip;
  std::vector<RecordChange> records;  // removed and changed in A's order, then added in B's
  std::vector<ModuleChange> modules;  // sorted by module name
  std::vector<TensorChange> tensors;  // removed and changed in A's order, then added in B's
  bool empty() const { return records.empty() && modules.empty() && tensors.empty(); }
};

// Throws Error(kCorrupt) naming the file and the record when a record's data
// does not match its CRC-32 or size, and Error when a pickle of either file
// is malformed. `progress` (tpkg/progress.h) follows the verification of
// both files' record data, then their tensor walks (ModelTensors()).
ModelDiff DiffModels(const ZipReader& before, const ZipReader& after,
                     const ProgressCallback& progress = {});

// module -> "intern" / "extern" / "mock" for a torch.package (as its
// interned_modules() / externed_modules() / mocked_modules() would say);
// empty for other kinds.
std::vector<std::pair<std::string, std::string>> ModuleActions(const ZipReader& zip);

}  // namespace tpkg
