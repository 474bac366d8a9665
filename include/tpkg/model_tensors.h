// model_tensors.h: the pickles of each kind of model file (tpkg/model_file.h)
// and the tensors those pickles rebuild, read without executing anything
// (doc/format.md §3, §4.2, §10).
//
//   tpkg::ModelFile file = tpkg::OpenModelFile("model.pt");  // legacy torch.save: a clear Error
//   const tpkg::ZipReader& zip = *file.zip;
//   for (const tpkg::ModelTensor& t : tpkg::ModelTensors(zip))
//     std::cout << t.pickle << " " << t.tensor.path << " -> " << t.storage_record << "\n";
//
// Where a pickle's storage keys are records:
//
//   | kind          | pickles                                   | storage of key K      |
//   | ------------- | ----------------------------------------- | --------------------- |
//   | torch.package | every pickle saved with save_pickle       | `.data/K.storage`     |
//   |               | `.data/ts_code/<id>/{data,constants}.pkl` | `.data/K` (K = "N.storage") |
//   | torch.save    | `data.pkl`                                | `data/K`              |
//   | TorchScript   | `data.pkl`, `constants.pkl`               | `data/K`, `constants/K` |
//   | torch.export  | `serialized_state_dict.pt/data.pkl`, ... (nested torch.save files) |
//
// Thread safety: pure functions over a ZipReader, whose reads are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/metadata.h"  // RecordSource
#include "tpkg/model_file.h"
#include "tpkg/pickle_tensors.h"
#include "tpkg/progress.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

struct ModelPickle {
  std::string record;                // name without the prefix folder
  std::string storage_folder;        // where its storage keys live: ".data/", "data/", "constants/"
  bool keys_add_suffix = false;  // a save_pickle pickle: key K (of any type) is `.data/K.storage`
};

// `.data/ts_code/<id>/data.pkl` and `.data/ts_code/<id>/constants.pkl`: the
// pickles of a TorchScript module saved into a torch.package.
bool IsPackagedScriptPickle(std::string_view name);

// The pickles a loader of that kind reads, in archive order.
std::vector<ModelPickle> ModelPickles(const ZipReader& zip, FileKind kind);
std::vector<ModelPickle> ModelPickles(const RecordSource& records, FileKind kind);

// The record a storage persistent id of that pickle names.
std::string StorageRecordName(const ModelPickle& pickle, const StorageRef& storage);

// For a save of a torch.save or TorchScript archive (a torch.package's are
// RegenerateMetadata's): what its loader would fail on, in PackagingError
// form, or "" for nothing: `data.pkl` (and a TorchScript archive's
// `constants.pkl`) or the version record missing, a version torch refuses,
// a storage its pickles load missing or shorter than numel x element size,
// the code of a TorchScript class they load missing; with `edited` (a save),
// an edited TorchScript code record that does not parse as Python, and with
// `baseline` too (the archive as opened), an edited record that was a whole
// pickle there and no longer is one (emptied, overwritten, cut short).
std::string SerializedArchiveProblems(
    const RecordSource& records, FileKind kind,
    const std::function<bool(const std::string&)>& edited = nullptr,
    const RecordSource* baseline = nullptr);

// For a save of such an archive: what would make loading it less safe, in
// PackagingError form, or "": a global an edited pickle loads that runs
// code, a command or a system call on its own (os.system, builtins.eval,
// subprocess.*), or is computed while loading, and that no pickle of
// `baseline` loaded (the rule a torch.package's save applies, metadata.h).
std::string SerializedArchiveSafetyProblems(const RecordSource& records,
                                            const RecordSource& baseline,
                                            const std::function<bool(const std::string&)>& edited);

struct ModelTensor {
  std::string pickle;          // the pickle record
  std::string storage_record;  // the record the storage is read from
  bool record_found = false;
  uint64_t record_size = 0;  // its bytes in the archive (0 when missing)
  uint32_t record_crc32 = 0;
  PickleTensor tensor;
};

// Every tensor of every pickle ModelPickles() lists, pickle by pickle. For a
// torch.export archive, those of its nested torch.save files
// (`serialized_state_dict.pt`, `serialized_constants.pt`), whose names
// prefix the pickle and storage names: "serialized_state_dict.pt/data.pkl".
// Throws Error naming the record when a pickle is malformed. `progress`
// (tpkg/progress.h) counts the bytes of the records read: each pickle, or
// each nested torch.save file of a torch.export archive, once read and
// decoded; its total is ModelTensorsWork(zip).
std::vector<ModelTensor> ModelTensors(const ZipReader& zip, const ProgressCallback& progress = {});
uint64_t ModelTensorsWork(const ZipReader& zip);
std::vector<ModelTensor> PickleTensorsOf(const ZipReader& zip, const ModelPickle& pickle);

}  // namespace tpkg
