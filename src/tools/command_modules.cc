// `tpkg modules [--json] FILE`: every module FILE uses, with its action,
// where it comes from and what needs it (tpkg/model_report.h).
#include <algorithm>

#include "cli.h"
#include "model_input.h"
#include "tpkg/model_report.h"

namespace tpkg::cli {
namespace {

Json ModulesJson(const ModelReport& r) {
  Json modules = Json::array();
  for (const ModuleInfo& m : r.modules) {
    modules.push_back(Json{{"name", m.name},
                           {"action", m.action},
                           {"record", m.record.empty() ? Json() : Json(m.record)},
                           {"needed_by", m.needed_by},
                           {"problem", m.problem.empty() ? Json() : Json(m.problem)}});
  }
  Json operators;  // null: only a torch.export program calls operators
  if (r.kind == FileKind::kTorchExport) {
    operators = Json::array();
    for (const ExportOperator& op : r.operators) {
      operators.push_back(
          Json{{"target", op.target},
               {"namespace", op.ns},
               {"registered_by", op.registered_by.empty() ? Json() : Json(op.registered_by)},
               {"calls", op.calls},
               {"problem", op.problem.empty() ? Json() : Json(op.problem)}});
    }
  }
  return Json{{"path", r.path},
              {"kind", FileKindName(r.kind)},
              {"modules", modules},
              {"operators", operators},
              {"problems", r.problems},
              {"unreadable", r.unreadable}};
}

// "linear.default" for "torch.ops.aten.linear.default": the name within its namespace.
std::string ShortName(const ExportOperator& op) {
  for (const std::string& head : {"torch.ops." + op.ns + ".", op.ns + ".", "#" + op.ns + ":"}) {
    if (op.target.starts_with(head) && op.target.size() > head.size())
      return op.target.substr(head.size());
  }
  return op.target;
}

// One line a namespace, in first-use order: who registers it, then its
// operators with their call counts; a line for each operator torch cannot resolve.
void PrintOperators(Output& out, const ModelReport& r) {
  if (r.operators.empty()) {
    out.Line("operators: none (the program calls no operator)");
    return;
  }
  out.Line("operators the program calls, by namespace (registered by):");
  std::vector<std::string> namespaces;
  for (const ExportOperator& op : r.operators) {
    if (std::find(namespaces.begin(), namespaces.end(), op.ns) == namespaces.end())
      namespaces.push_back(op.ns);
  }
  for (const std::string& ns : namespaces) {
    std::string names, registrar;
    for (const ExportOperator& op : r.operators) {
      if (op.ns != ns) continue;
      registrar = op.registered_by;
      names += (names.empty() ? "" : ", ") + ShortName(op) +
               (op.calls > 1 ? " x" + std::to_string(op.calls) : "");
    }
    const std::string who =
        registrar.empty() ? "not torch: load the library that defines " + ns +
                                ":: before torch.export.load"
                          : registrar;
    out.Line("  " + ns + " (" + who + "): " + names);
  }
  for (const ExportOperator& op : r.operators) {
    if (!op.problem.empty()) out.Line("  problem: " + op.target + ": " + op.problem);
  }
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// One line a module: action, name, then the record that provides it and
// what needs it; a problem on the next line.
void PrintModules(Output& out, const ModelReport& r) {
  const auto action_of = [](const ModuleInfo& m) { return m.action.empty() ? "(none)" : m.action; };
  size_t action_width = 12, width = 0;
  for (const ModuleInfo& m : r.modules) {
    action_width = std::max(action_width, action_of(m).size() + 1);
    width = std::max(width, m.name.size());
  }
  for (const ModuleInfo& m : r.modules) {
    std::string line = action_of(m);
    line.resize(action_width, ' ');
    line += m.name;
    if (!m.record.empty() || !m.needed_by.empty()) line.resize(action_width + width + 2, ' ');
    if (!m.record.empty()) line += m.record;
    if (!m.needed_by.empty())
      line += (m.record.empty() ? "" : "  ") + ("<- " + Joined(m.needed_by));
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.Line(line);
    if (!m.problem.empty()) out.Line(std::string(action_width, ' ') + "problem: " + m.problem);
  }
  if (r.modules.empty()) out.Line("(no modules)");
  if (r.kind == FileKind::kTorchExport) PrintOperators(out, r);
  for (const std::string& p : r.problems) out.Line("problem: " + p);
}

}  // namespace

int RunModules(const Command& self, const Args& args) {
  po::options_description options("Options");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"FILE"});
  if (cmd.help_shown) return kExitOk;
  const ModelFile file = OpenForInspection(cmd.operands[0]);
  const ModelReport report = InspectModel(*file.zip, file.kind, {}, CachedAnalysis());
  Output out;
  if (WantsJson(cmd)) {
    WriteJson(out, ModulesJson(report));
  } else {
    PrintModules(out, report);
  }
  out.Flush();
  ThrowIfUnreadable(cmd.operands[0], report.unreadable);
  return kExitOk;
}

}  // namespace tpkg::cli
