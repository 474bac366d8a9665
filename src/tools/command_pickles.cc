// `tpkg pickles [--json] [--dis] FILE [RECORD]`: per pickle, the globals it
// references and its persistent ids, or its disassembly as pickletools.dis
// prints it. Nothing is executed. The JSON schema is in doc/cli.md.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "cli.h"
#include "output.h"
#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/model_tensors.h"
#include "tpkg/pickle_dis.h"
#include "tpkg/pickle_scan.h"

namespace tpkg::cli {
namespace {

std::string Dotted(const PickleGlobal& g) { return g.module + "." + g.name; }

// The pickles to show: all the loader reads, or the one named (any record).
std::vector<ModelPickle> Selected(const ZipReader& zip, FileKind kind,
                                  const std::vector<std::string>& operands) {
  std::vector<ModelPickle> all = ModelPickles(zip, kind);
  if (operands.size() < 2) return all;
  const std::string& record = operands[1];
  for (const ModelPickle& p : all) {
    if (p.record == record) return {p};
  }
  const ZipEntry* e = zip.Find(record);
  if (e == nullptr || e->is_directory())
    throw Error(Errc::kNotFound, zip.path() + ": no record '" + record + "'");
  const bool in_package = kind == FileKind::kTorchPackage;
  return {ModelPickle{record, in_package ? ".data/" : "data/", in_package}};
}

nlohmann::ordered_json PickleJson(const ModelPickle& p, const PickleScan& scan) {
  nlohmann::ordered_json globals = nlohmann::ordered_json::array();
  for (const PickleGlobal& g : scan.globals)
    globals.push_back({{"module", g.module}, {"name", g.name}});
  nlohmann::ordered_json storages = nlohmann::ordered_json::array();
  for (const StorageRef& s : scan.storages) {
    storages.push_back({{"key", s.key},
                        {"key_is_int", s.key_is_int},
                        {"class", Dotted(s.storage_type)},
                        {"location", s.location},
                        {"numel", s.numel},
                        {"record", StorageRecordName(p, s)}});
  }
  nlohmann::ordered_json reduce = nlohmann::ordered_json::array();
  for (const ReducePackageRef& r : scan.reduce_packages)
    reduce.push_back({{"function", Dotted(r.func)}, {"has_id", r.has_id}});
  return {{"record", p.record},      {"protocol", scan.protocol}, {"globals", globals},
          {"modules", scan.modules}, {"storages", storages},      {"reduce_package", reduce}};
}

void PrintPickle(Output& out, const ModelPickle& p, const PickleScan& scan) {
  out.Line(p.record + " (protocol " + std::to_string(scan.protocol) + ")");
  out.Line("  globals:");
  for (const PickleGlobal& g : scan.globals) out.Line("    " + Dotted(g));
  if (!scan.modules.empty()) out.Line("  modules:");
  for (const std::string& module : scan.modules) out.Line("    " + module);
  // One line per distinct storage id; views repeat it, so say how often.
  std::vector<std::pair<const StorageRef*, size_t>> unique;
  for (const StorageRef& s : scan.storages) {
    auto same =
        std::find_if(unique.begin(), unique.end(), [&](const auto& u) { return *u.first == s; });
    if (same == unique.end())
      unique.emplace_back(&s, 1);
    else
      ++same->second;
  }
  if (!unique.empty()) out.Line("  storages:");
  for (const auto& [s, count] : unique) {
    out.Line("    " + StorageRecordName(p, *s) + "  " + Dotted(s->storage_type) + " " +
             s->location + " numel " + std::to_string(s->numel) +
             (count > 1 ? " (" + std::to_string(count) + " references)" : ""));
  }
  if (!scan.reduce_packages.empty()) out.Line("  reduce_package:");
  for (const ReducePackageRef& r : scan.reduce_packages) out.Line("    " + Dotted(r.func));
}

}  // namespace

int RunPickles(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("dis", "print each pickle's disassembly as Python's pickletools.dis does")(
      "json", "print one JSON object (schema: doc/cli.md)");
  const ParsedCommand cmd = ParseCommand(self, args, options, {"FILE", "[RECORD]"});
  if (cmd.help_shown) return kExitOk;
  WarnIfLastSaveFailed(cmd.operands[0]);
  const ModelFile file = OpenModelFile(cmd.operands[0]);
  const ZipReader& zip = *file.zip;
  const FileKind kind = file.kind;
  const bool json = cmd.options.count("json") != 0;
  const bool dis = cmd.options.count("dis") != 0;
  nlohmann::ordered_json doc = {{"file", cmd.operands[0]},
                                {"kind", FileKindName(kind)},
                                {"pickles", nlohmann::ordered_json::array()}};
  Output out;
  bool first = true;
  for (const ModelPickle& p : Selected(zip, kind, cmd.operands)) {
    const std::string bytes = ReadForAnalysis(zip, *zip.Find(p.record));
    const std::span<const char> span(bytes.data(), bytes.size());
    if (dis) {
      const PickleDisassembly d = DisassemblePickle(span);
      if (json) {
        doc["pickles"].push_back(
            {{"record", p.record}, {"disassembly", d.text}, {"error", d.error}});
        continue;
      }
      if (!first) out.Line("");
      first = false;
      out.Line("# " + p.record);
      out.Write(d.text);
      if (!d.error.empty()) {
        out.Flush();  // what pickletools prints before it raises
        throw Error(Errc::kCorrupt, zip.path() + ": " + p.record + ": " + d.error);
      }
      continue;
    }
    PickleScan scan;
    try {
      scan = ScanPickle(span);
    } catch (const Error& e) {
      throw Error(e.code(), zip.path() + ": " + p.record + ": " + e.what());
    }
    if (json)
      doc["pickles"].push_back(PickleJson(p, scan));
    else
      PrintPickle(out, p, scan);
  }
  if (json) out.Line(doc.dump(2));
  out.Flush();
  return kExitOk;
}

}  // namespace tpkg::cli
