// export_program.h: what loading a torch.export archive (`.pt2`) needs, read
// from the archive without running it (doc/cli.md "modules of a .pt2").
//
//   tpkg::ModelFile f = tpkg::OpenModelFile("model.pt2");
//   for (const tpkg::ExportOperator& op : tpkg::ExportOperators(*f.zip))
//     std::cout << op.ns << " " << op.target << " x" << op.calls << "\n";
//   for (const std::string& p : tpkg::ExportLoadProblems(*f.zip)) std::cout << p << "\n";
//
// Operators: the `target` of every node of the exported program's graphs
// (`serialized_exported_program.json`, nested graphs of control-flow
// operators included) and every operator passed as an argument
// (`as_operator`), as torch serializes them: "torch.ops.aten.linear.default",
// "torch.ops.higher_order.cond", "_operator.add", "torch.sym_max",
// "#ns:name" (an export serialization extension). torch 2.6's loader
// resolves "torch.*" through the torch module (torch.ops.NS only when some
// library registered namespace NS), "_operator.*" through Python's operator
// module and "#ns:..." through a registered extension; any other target it
// cannot deserialize. `getitem` nodes are not serialized (torch re-creates
// them from the outputs of a node) and so are not listed.
//
// Registered by (ExportOperator::registered_by): "torch" for the namespaces
// torch 2.6 registers on `import torch` (aten, prims, quantized, ...,
// measured with torch._C._jit_get_all_schemas()) and its higher-order
// operators and torch.* functions; "python" for _operator; "torchvision" /
// "torchaudio" for theirs (their C++ extension, loaded by importing the
// package); "" for any other namespace: the library that defines it (a
// torch.library module or a C++ extension) must be loaded before
// torch.export.load, which otherwise fails on that node.
//
// Layout (ExportLoadProblems): what torch 2.6's torch.export.load requires,
// measured on its source and on archives it wrote: a ZIP that Python's
// zipfile reads (no prefix folder: records are looked up by their full
// names), a `version` record "MAJOR.MINOR" with MAJOR 8, the records
// serialized_exported_program.json, serialized_state_dict.pt (or .json),
// serialized_constants.pt (or .json) and serialized_example_inputs.pt, each
// `.pt` a torch.save archive torch.load reads, and records under
// `extra_files/` only as `extra_files/NAME`. A newer archive (torch >= 2.7,
// an `archive_format` record) is named as such and not checked further.
//
// Thread safety: pure functions over a ZipReader, whose reads are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/zip_reader.h"

namespace tpkg {

struct ExportOperator {
  std::string target;         // as serialized, above
  std::string ns;             // "aten", "higher_order", "torch" (torch.*), "_operator", custom
  std::string registered_by;  // above; "" when a library outside torch must register it
  uint64_t calls = 0;         // nodes calling it (and arguments naming it)
  std::string problem;        // why torch 2.6's loader cannot resolve it, "" when it can
};

// The record that holds the program.
inline constexpr std::string_view kExportProgramRecord = "serialized_exported_program.json";

// The operators of `program_json` in first-use order (a graph's nodes, then
// the graphs nested in them). Throws Error(kCorrupt) when it is not JSON.
std::vector<ExportOperator> ExportOperatorsOf(std::string_view program_json);

// ExportOperatorsOf() of the archive's program record; empty when it has
// none. Throws Error(kCorrupt) naming the archive and the record.
std::vector<ExportOperator> ExportOperators(const ZipReader& zip);

// Who registers operator namespace `ns` (above); "" when no known library.
std::string_view OperatorNamespaceRegistrar(std::string_view ns);

// The nested torch.save archives torch.export.load reads, in that order:
// the state dict, the constants and the example inputs (those present).
std::vector<std::string> ExportNestedArchives(const ZipReader& zip);

// A nested record (a torch.save file inside the archive) opened strictly
// from memory. Throws Error naming the archive and the record.
ZipReader OpenNestedZip(const ZipReader& zip, std::string_view record);

// Why torch 2.6's torch.export.load would not load the archive, one line
// each ("RECORD: reason"), empty when it would (layout above).
std::vector<std::string> ExportLoadProblems(const ZipReader& zip);

// For an archive whose weights tpkg does not read (a newer torch.export
// format, or a JSON state dict): the record that holds them and why, one
// line; "" when the weights are torch.save files tpkg reads.
std::string UnreadExportWeights(const ZipReader& zip);

}  // namespace tpkg
