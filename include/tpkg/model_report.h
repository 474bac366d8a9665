// model_report.h: what a model file holds, for `tpkg info`, `tpkg modules`
// and `tpkg deps`, computed without executing anything.
//
//   tpkg::ModelFile f = tpkg::OpenModelFile("model.pt");
//   tpkg::ModelReport r = tpkg::InspectModel(*f.zip, f.kind);
//   for (const tpkg::ModuleInfo& m : r.modules) std::cout << m.name << " " << m.action << "\n";
//   r.metadata->deps_dot;  // torch.packages: the mount's .data/deps.dot, byte for byte
//
// Modules, by kind:
//   torch.package   the exporter's dependency graph rebuilt from the records
//                   (metadata.h): every node but the pickles, in insertion
//                   order, with torch's action ("intern", "extern", "mock",
//                   "deny", "repackaged_mock_module", "skip"; "" for none),
//                   the record that provides it (a source or a mock stub)
//                   and its reverse dependencies (pickle nodes are named
//                   "<package.resource>", as in deps.dot).
//   torchscript     the modules of the pickles' globals: `__torch__.*` ones
//                   are "torchscript" (their code is the `code/` record of
//                   the same path), the rest "extern" (the loader imports
//                   them), needed by the pickle records.
//   torch.save      the modules of the pickles' globals, all "extern".
//   torch.export    the modules of the globals of the pickles of its nested
//                   torch.save files (state dict, constants, example inputs:
//                   "serialized_state_dict.pt/data.pkl"), all "extern"; and
//                   in `operators` the operators its program calls
//                   (tpkg/export_program.h), with who registers each.
// Problems (ModelReport::problems, and ModuleInfo::problem per module): what
// the exporter would raise (its PackagingError text, one line each), extern
// modules the package does not declare (torch's importer refuses them), a
// pickle global whose module is empty or whose TorchScript code is missing.
//
// Thread safety: InspectModel() and DependencyPaths() are pure functions;
// the results are plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tpkg/dep_graph.h"
#include "tpkg/export_program.h"
#include "tpkg/metadata.h"
#include "tpkg/model_file.h"
#include "tpkg/pickle_scan.h"
#include "tpkg/progress.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

struct ModuleInfo {
  std::string name;
  std::string action;                  // table above
  std::string record;                  // the record providing it, "" if none
  std::vector<std::string> needed_by;  // pickle records or graph nodes that need it
  std::string problem;                 // "" when none
};

struct PickleInfo {
  std::string record;
  int protocol = 0;
  std::vector<PickleGlobal> globals;         // first-use order
  std::vector<std::string> storage_records;  // the storages it loads, unique, load order
  std::string error;                         // why it could not be scanned, "" when it was
};

struct ModelReport {
  std::string path;
  FileKind kind = FileKind::kZip;
  uint64_t file_size = 0;
  std::string prefix;                 // the prefix folder ("" for a .pt2)
  uint64_t records = 0;               // directory entries excluded
  uint64_t record_bytes = 0;          // their uncompressed bytes
  std::string format_version;         // `.data/version` or `version`, trimmed; "" when absent
  std::string python_version;         // `.data/python_version`, trimmed; "" when absent
  std::string serialization_id;       // `.data/serialization_id` (torch 2.x), trimmed
  std::vector<ModuleInfo> modules;    // above
  std::vector<std::string> interned;  // sorted, as interned_modules() (packages)
  std::vector<std::string> externed;  // sorted, as externed_modules() (every kind)
  std::vector<std::string> mocked;    // sorted, as mocked_modules() (packages)
  std::vector<std::string> denied;    // sorted, as denied_modules() (packages)
  std::vector<PickleInfo> pickles;    // record order
  uint64_t storages = 0;              // storage records the pickles load
  uint64_t storage_bytes = 0;         // their bytes
  std::vector<std::string> problems;  // above
  // Records that could not be read or scanned (bytes failing their CRC, a
  // truncated pickle, an unreadable program; "the weights" when a .pt2's
  // tensors cannot be read): each is also in `problems`;
  // the report misses what they hold, so the CLI fails after printing it.
  std::vector<std::string> unreadable;
  std::vector<ExportOperator> operators;  // torch.export only
  std::optional<Metadata> metadata;   // torch.packages: the rebuilt graph, deps.dot
};

// Throws Error only when a record cannot be read. `progress` (tpkg/progress.h)
// counts the bytes of the records analysed (pickles, a package's sources, a
// .pt2's nested files and program), advanced as each is done. `analysis`:
// the options of a package's metadata analysis (its cache).
ModelReport InspectModel(const ZipReader& zip, FileKind kind,
                         const ProgressCallback& progress = {},
                         const MetadataOptions& analysis = {});

// Every path in `graph` that pulls `module` in: node names from a root (a
// node nothing depends on: a pickle, or a source saved on its own) to
// `module`, in predecessor order, cycles cut; at most `limit` paths (the
// count of paths can grow exponentially). Empty when `module` is no node.
std::vector<std::vector<std::string>> DependencyPaths(const DepGraph& graph,
                                                      std::string_view module, size_t limit);

}  // namespace tpkg
