// `tpkg diff [--json] A B`: records, module actions and tensors that differ
// between two model files (tpkg/model_diff.h). The text is one line per
// change, `+` added, `-` removed, `~` changed, under a heading per kind, so it
// reads in a terminal and pastes into a code review; the JSON schema is in
// doc/cli.md.
#include <nlohmann/json.hpp>

#include "cli.h"
#include "output.h"
#include "progress_line.h"
#include "table.h"
#include "tpkg/model_diff.h"

namespace tpkg::cli {
namespace {

const char* Sign(ChangeKind k) {
  return k == ChangeKind::kAdded ? "+" : k == ChangeKind::kRemoved ? "-" : "~";
}
const char* KindName(ChangeKind k) {
  return k == ChangeKind::kAdded ? "added" : k == ChangeKind::kRemoved ? "removed" : "changed";
}

std::string Bytes(uint64_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

std::string TensorSummary(const ModelTensor& m) {
  return m.tensor.dtype + ShapeText(m.tensor.shape) + " in " + m.storage_record;
}

std::string FieldChange(const std::string& field, const ModelTensor& x, const ModelTensor& y) {
  if (field == "dtype") return "dtype " + x.tensor.dtype + " -> " + y.tensor.dtype;
  if (field == "shape")
    return "shape " + ShapeText(x.tensor.shape) + " -> " + ShapeText(y.tensor.shape);
  if (field == "stride")
    return "stride " + ShapeText(x.tensor.stride) + " -> " + ShapeText(y.tensor.stride);
  if (field == "storage_offset")
    return "offset " + std::to_string(x.tensor.storage_offset) + " -> " +
           std::to_string(y.tensor.storage_offset);
  if (field == "storage") return "storage " + x.storage_record + " -> " + y.storage_record;
  return "bytes of " + y.storage_record + " changed";
}

std::string Heading(const char* what, size_t n) {
  return std::string(what) + ": " + std::to_string(n) + (n == 1 ? " change" : " changes");
}

void PrintText(Output& out, const std::string& a, const std::string& b, const ModelDiff& d) {
  out.Line("--- " + a + " (" + std::string(FileKindName(d.before_kind)) + ")");
  out.Line("+++ " + b + " (" + std::string(FileKindName(d.after_kind)) + ")");
  if (d.empty()) {
    out.Line("no differences");
    return;
  }
  if (!d.records.empty()) out.Line(Heading("records", d.records.size()));
  for (const RecordChange& r : d.records) {
    std::string detail;
    if (r.kind == ChangeKind::kChanged)
      detail = r.before->size == r.after->size
                   ? Bytes(r.after->size) + ", content changed"
                   : Bytes(r.before->size) + " -> " + Bytes(r.after->size);
    else
      detail = Bytes((r.after ? *r.after : *r.before).size);
    out.Line(std::string("  ") + Sign(r.kind) + " " + r.record + " (" + detail + ")");
  }
  if (!d.modules.empty()) out.Line(Heading("modules", d.modules.size()));
  for (const ModuleChange& m : d.modules) {
    if (m.before.empty())
      out.Line("  + " + m.module + ": " + m.after);
    else if (m.after.empty())
      out.Line("  - " + m.module + ": " + m.before);
    else
      out.Line("  ~ " + m.module + ": " + m.before + " -> " + m.after);
  }
  if (!d.tensors.empty()) out.Line(Heading("tensors", d.tensors.size()));
  for (const TensorChange& t : d.tensors) {
    std::string line = std::string("  ") + Sign(t.kind) + " " + t.pickle + " " +
                       (t.path.empty() ? "(root)" : t.path) + ": ";
    if (t.kind == ChangeKind::kChanged) {
      for (size_t i = 0; i < t.fields.size(); ++i)
        line += (i ? "; " : "") + FieldChange(t.fields[i], *t.before, *t.after);
    } else {
      line += TensorSummary(t.after ? *t.after : *t.before);
    }
    out.Line(line);
  }
}

nlohmann::ordered_json EntryJson(const std::optional<ZipEntry>& e) {
  if (!e) return nullptr;
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x", e->crc32);
  return {{"size", e->size}, {"crc32", crc}};
}

nlohmann::ordered_json TensorSide(const std::optional<ModelTensor>& m) {
  if (!m) return nullptr;
  return {
      {"dtype", m->tensor.dtype},
      {"shape", m->tensor.shape},
      {"stride", m->tensor.stride},
      {"storage_offset", m->tensor.storage_offset},
      {"storage_record", m->storage_record},
      // null when numel x element size overflows 64 bits
      {"storage_bytes", m->tensor.storage_bytes ? nlohmann::ordered_json(*m->tensor.storage_bytes)
                                                : nlohmann::ordered_json()}};
}

nlohmann::ordered_json DiffJson(const std::string& a, const std::string& b, const ModelDiff& d) {
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  for (const RecordChange& r : d.records) {
    records.push_back({{"change", KindName(r.kind)},
                       {"record", r.record},
                       {"before", EntryJson(r.before)},
                       {"after", EntryJson(r.after)}});
  }
  nlohmann::ordered_json modules = nlohmann::ordered_json::array();
  for (const ModuleChange& m : d.modules) {
    modules.push_back({{"module", m.module},
                       {"before", m.before.empty() ? nlohmann::ordered_json(nullptr)
                                                   : nlohmann::ordered_json(m.before)},
                       {"after", m.after.empty() ? nlohmann::ordered_json(nullptr)
                                                 : nlohmann::ordered_json(m.after)}});
  }
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const TensorChange& t : d.tensors) {
    tensors.push_back({{"change", KindName(t.kind)},
                       {"pickle", t.pickle},
                       {"path", t.path},
                       {"fields", t.fields},
                       {"before", TensorSide(t.before)},
                       {"after", TensorSide(t.after)}});
  }
  return {{"a", {{"file", a}, {"kind", FileKindName(d.before_kind)}}},
          {"b", {{"file", b}, {"kind", FileKindName(d.after_kind)}}},
          {"identical", d.empty()},
          {"records", records},
          {"modules", modules},
          {"tensors", tensors}};
}

}  // namespace

int RunDiff(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("json", "print one JSON object (schema: doc/cli.md)");
  const ParsedCommand cmd = ParseCommand(self, args, options, {"A", "B"});
  if (cmd.help_shown) return kExitOk;
  WarnIfLastSaveFailed(cmd.operands[0]);
  WarnIfLastSaveFailed(cmd.operands[1]);
  const ModelFile file_a = OpenModelFile(cmd.operands[0]);
  const ModelFile file_b = OpenModelFile(cmd.operands[1]);
  const ZipReader& a = *file_a.zip;
  const ZipReader& b = *file_b.zip;
  ProgressLine progress("diff", cmd.operands[0] + " " + cmd.operands[1]);
  const ModelDiff d = DiffModels(a, b, progress.callback());
  progress.Clear();
  Output out;
  if (cmd.options.count("json"))
    out.Line(DiffJson(cmd.operands[0], cmd.operands[1], d).dump(2));
  else
    PrintText(out, cmd.operands[0], cmd.operands[1], d);
  out.Flush();
  return kExitOk;
}

}  // namespace tpkg::cli
