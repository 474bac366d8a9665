// `tpkg tensors [--json] FILE`: every tensor the file's pickles rebuild
// (tpkg/model_tensors.h); the JSON schema is in doc/cli.md.
#include <nlohmann/json.hpp>

#include "cli.h"
#include "output.h"
#include "progress_line.h"
#include "table.h"
#include "tpkg/model_tensors.h"

namespace tpkg::cli {

std::string ShapeText(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

// A storage's bytes (pickle_tensors.h StorageBytes): null when numel x
// element size overflows 64 bits, never a wrapped number.
nlohmann::ordered_json BytesJson(const std::optional<uint64_t>& bytes) {
  return bytes ? nlohmann::ordered_json(*bytes) : nlohmann::ordered_json();
}

std::string BytesText(const std::optional<uint64_t>& bytes) {
  return bytes ? std::to_string(*bytes) : "over 2^64 (overflow)";
}

nlohmann::ordered_json TensorJson(const ModelTensor& m) {
  const PickleTensor& t = m.tensor;
  return {
      {"pickle", m.pickle},
      {"path", t.path},
      {"dtype", t.dtype},
      {"shape", t.shape},
      {"stride", t.stride},
      {"storage_offset", t.storage_offset},
      {"requires_grad", t.requires_grad},
      {"parameter", t.is_parameter},
      {"storage",
       {{"record", m.storage_record},
        {"key", t.storage.key},
        {"class", t.storage.storage_type.module + "." + t.storage.storage_type.name},
        {"location", t.storage.location},
        {"numel", t.storage.numel},
        {"bytes", BytesJson(t.storage_bytes)},
        {"record_found", m.record_found},
        {"record_bytes", m.record_size}}},
  };
}

int RunTensors(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("json", "print one JSON object (schema: doc/cli.md)");
  const ParsedCommand cmd = ParseCommand(self, args, options, {"FILE"});
  if (cmd.help_shown) return kExitOk;
  WarnIfLastSaveFailed(cmd.operands[0]);
  const ModelFile file = OpenModelFile(cmd.operands[0]);
  const ZipReader& zip = *file.zip;
  const FileKind kind = file.kind;
  ProgressLine progress("tensors", cmd.operands[0]);
  const std::vector<ModelTensor> tensors = ModelTensors(zip, progress.callback());
  progress.Clear();
  Output out;
  if (cmd.options.count("json")) {
    nlohmann::ordered_json doc = {{"file", cmd.operands[0]},
                                  {"kind", FileKindName(kind)},
                                  {"tensors", nlohmann::ordered_json::array()}};
    for (const ModelTensor& m : tensors) doc["tensors"].push_back(TensorJson(m));
    out.Line(doc.dump(2));
  } else {
    Table table({"PICKLE", "PATH", "DTYPE", "SHAPE", "STRIDE", "OFFSET", "STORAGE", "BYTES"});
    for (const ModelTensor& m : tensors) {
      const PickleTensor& t = m.tensor;
      table.Add(
          {m.pickle, t.path.empty() ? "(root)" : t.path, t.dtype + (t.is_parameter ? " param" : ""),
           ShapeText(t.shape), ShapeText(t.stride), std::to_string(t.storage_offset),
           m.storage_record + (m.record_found ? "" : " (missing)"), BytesText(t.storage_bytes)});
    }
    if (tensors.empty())
      out.Line("no tensors (" + std::string(FileKindName(kind)) + ")");
    else
      table.Print(out);
  }
  out.Flush();
  return kExitOk;
}

}  // namespace tpkg::cli
