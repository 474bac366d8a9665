// `tpkg deps [--why MODULE] [--json] FILE`: a torch.package's dependency
// graph as the DOT text the mount's `.data/deps.dot` shows (one source:
// tpkg/package_files.h), or every path that pulls MODULE in.
#include "cli.h"
#include "model_input.h"
#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/model_report.h"
#include "tpkg/package_files.h"

namespace tpkg::cli {
namespace {

// More paths than anyone reads; the count of paths can grow exponentially.
constexpr size_t kMaxPaths = 1000;

std::string ArrowJoined(const std::vector<std::string>& path) {
  std::string out;
  for (const std::string& node : path) out += (out.empty() ? "" : " -> ") + node;
  return out;
}

int PrintWhy(Output& out, const std::string& path, const Metadata& m, const std::string& module,
             bool json) {
  const NodeAttrs* attrs = m.graph.Find(module);
  if (!attrs) throw Error(Errc::kNotFound, path + ": no module '" + module + "' in the graph");
  const std::string action = attrs->action ? std::string(ActionName(*attrs->action)) : "";
  const auto paths = DependencyPaths(m.graph, module, kMaxPaths);
  if (json) {
    WriteJson(out, Json{{"path", path},
                        {"module", module},
                        {"action", action},
                        {"paths", paths},
                        {"truncated", paths.size() >= kMaxPaths}});
    return kExitOk;
  }
  out.Line(module + " (" + (action.empty() ? "no action" : action) + "): " +
           (paths.empty()
                ? "nothing in the package needs it"
                : std::to_string(paths.size()) + (paths.size() == 1 ? " path" : " paths") +
                      (paths.size() >= kMaxPaths ? " (the first ones)" : "")));
  for (const auto& p : paths) out.Line("  " + ArrowJoined(p));
  return kExitOk;
}

}  // namespace

int RunDeps(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("why", po::value<std::string>()->value_name("MODULE"),
                        "every path from a pickle or a source saved on its own to MODULE");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"FILE"});
  if (cmd.help_shown) return kExitOk;
  const std::string& path = cmd.operands[0];
  const ModelFile file = OpenForInspection(path);
  if (file.kind != FileKind::kTorchPackage) {
    throw Error(Errc::kInvalidArgument, path + ": a " + std::string(FileKindName(file.kind)) +
                                            " file, not a torch.package: it has no dependency "
                                            "graph (tpkg modules lists what it uses)");
  }
  const ZipRecordSource records(*file.zip);
  Output out;
  if (cmd.options.count("why")) {
    const Metadata m = RegenerateMetadata(records, CachedAnalysis());
    PrintWhy(out, path, m, cmd.options["why"].as<std::string>(), WantsJson(cmd));
    out.Flush();
    ThrowIfUnreadable(path, m.unreadable);
  } else {
    const GeneratedFiles generated = GeneratePackageFiles(*file.zip, records, CachedAnalysis());
    const std::string& dot = *generated.Content(kDepsDotPath);
    if (WantsJson(cmd)) {
      WriteJson(out, Json{{"path", path}, {"dot", dot}});
    } else {
      out.Write(dot);
    }
    out.Flush();
    ThrowIfUnreadable(path, generated.unreadable);
  }
  return kExitOk;
}

}  // namespace tpkg::cli
