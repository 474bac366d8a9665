// RegenerateMetadata: replay PackageExporter over an archive's records.
#include "tpkg/metadata.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "package/extern_list.h"
#include "package/load_checks.h"
#include "package/package_layout.h"
#include "tpkg/error.h"
#include "tpkg/policy.h"

namespace tpkg {
namespace {

// `names`: records.RecordNames(), which one analysis lists once (a journal
// builds the list from its whole tree).
std::vector<std::string> PreviousExterns(const RecordSource& records,
                                         const std::vector<std::string>& names,
                                         const MetadataOptions& options) {
  if (options.previous_externs) return *options.previous_externs;
  for (const auto& name : names) {
    if (name == ".data/extern_modules") return ParseExternModules(ReadForAnalysis(records, name));
  }
  return {};
}

// The stdlib of the Python the package was exported with, as its
// `.data/python_version` says (torch's implicit externs are that Python's
// sys.stdlib_module_names); the configured interpreter's when it says nothing
// we have a table for.
const StdlibNames& ExportingStdlib(const RecordSource& records,
                                   const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (name == ".data/python_version") return StdlibNamesFor(records.ReadPrefix(name, 64));
  }
  return ConfiguredStdlibNames();
}

// The rules that stand in for the patterns the archive was exported with.
void AddArchiveRules(ExportPolicy& policy, const ArchiveLayout& layout,
                     const MetadataOptions& options) {
  for (const GlobGroup& deny : options.deny) policy.Deny(deny);
  const bool stubs_mocked = !layout.repackaged_form();
  policy.AddRule(Action::kMock, "the archive's mock stubs",
                 [&layout, stubs_mocked](std::string_view m) {
                   const ArchiveModule* module = layout.Module(m);
                   return stubs_mocked && module && module->is_stub;
                 });
  policy.AddRule(Action::kIntern, "the archive's modules",
                 [&layout](std::string_view m) { return layout.Provides(m); });
  policy.AddRule(Action::kExtern, "everything else", [](std::string_view) { return true; });
}

void AddPickles(ExportPolicy& policy, const ArchiveLayout& layout) {
  for (const ArchivePickle& pickle : layout.pickles()) {
    policy.SavePickle(pickle.package, pickle.resource, pickle.deps);
  }
}

// Sources some pickle reaches (a dry run over the pickles alone).
std::unordered_set<std::string> ReachedFromPickles(const ArchiveLayout& layout,
                                                   ArchiveEnvironment& env,
                                                   const MetadataOptions& options) {
  ExportPolicy dry(env);
  AddArchiveRules(dry, layout, options);
  AddPickles(dry, layout);
  std::unordered_set<std::string> reached;
  const DepGraph& g = dry.graph();
  for (DepGraph::NodeId id = 0; id < g.size(); ++id) {
    if (g.attrs(id).provided) reached.insert(g.name(id));
  }
  return reached;
}

void AddUnreachedSources(ExportPolicy& policy, const ArchiveLayout& layout,
                         const std::unordered_set<std::string>& reached) {
  for (const std::string& name : layout.module_order()) {
    if (name == "_mock" || reached.contains(name)) continue;
    if (const NodeAttrs* node = policy.graph().Find(name); node && node->provided) continue;
    const ArchiveModule& module = *layout.Module(name);
    if (module.is_stub && !layout.repackaged_form()) {
      policy.AddDependency(name);  // a MOCK node, as the exporter had it
    } else {
      policy.SaveModule(name);  // as save_source_string(): the archive has its source
    }
  }
}

void AddProblem(DepGraph& graph, const std::string& node, PackagingErrorReason reason,
                const std::string& context) {
  NodeAttrs& attrs = graph.AddNode(node);
  if (attrs.error) return;  // one reason per node, as in torch; the first one stays
  attrs.error = reason;
  attrs.error_context = context;
}

// Module and folder names the baseline records provided.
struct BaselineModules {
  explicit BaselineModules(const std::vector<std::string>& records) {
    for (const auto& record : records) {
      if (IsFrameworkRecord(record)) continue;
      if (const auto source = ModuleOfRecord(record)) modules.insert(source->module);
      folders.AddParentsOf(record);
    }
  }
  bool contains(const std::string& name) const {
    return modules.contains(name) || folders.contains(name);
  }
  std::unordered_set<std::string> modules;
  FolderSet folders;
};

// The module an unresolved import fails on at load: X for `from X import n`
// when X did not resolve either (else n is an attribute of X, which loads).
std::optional<std::string> UnfoundModuleOf(const UnresolvedImport& u) {
  if (!u.from_import_name) return u.name;
  if (u.fell_back_to_parent) return std::nullopt;
  return u.name.substr(0, u.name.rfind('.'));
}

// The module of the baseline that an unresolved import needs, or "" for
// none: the import's own name (`from X import n` where X.n was a module),
// else the module it fails on when the baseline had it.
std::string GoneModuleOf(const UnresolvedImport& u, const BaselineModules& baseline) {
  if (baseline.contains(u.name)) return u.name;
  const std::optional<std::string> module = UnfoundModuleOf(u);
  return module && baseline.contains(*module) ? *module : "";
}

// Imports of packaged code that the archive no longer satisfies (metadata.h).
void CheckMissingModules(ExportPolicy& policy, const ArchiveLayout& layout,
                         const BaselineModules& baseline) {
  // Only modules the edit removed: an import of a module that never existed
  // is dropped silently by torch too (a guarded `try: import pkg.optional`).
  DepGraph& graph = policy.mutable_graph();
  // (module, importer) pairs listed: a set, not a search of the growing
  // context, which would be quadratic in the number of importers.
  std::set<std::pair<std::string, std::string_view>> listed;
  for (const UnresolvedImport& u : policy.unresolved_imports()) {
    const std::string name = GoneModuleOf(u, baseline);
    if (name.empty()) continue;
    NodeAttrs& node = graph.AddNode(name);
    if (node.error == PackagingErrorReason::kMissingModule) {
      if (listed.emplace(name, u.importer).second) *node.error_context += ", " + u.importer;
      continue;
    }
    if (!node.error) listed.emplace(name, u.importer);
    AddProblem(graph, name, PackagingErrorReason::kMissingModule, "imported by " + u.importer);
  }
  if (layout.has_stubs() && !layout.Module("_mock")) {
    AddProblem(policy.mutable_graph(), "_mock", PackagingErrorReason::kMissingModule,
               "mock stubs import it, and _mock.py is not in the archive");
  }
}

// Externs the archive also has files under: the importer refuses them. The
// archive's modules come before the extern rule, so a declared extern with
// a folder is intern in the graph: as opened, the importer refuses it all the
// same (it makes every declared extern a node before it walks the records);
// for a save, a folder without a module file where a declared extern was (a
// mkdir through the mount) would make its imports find an empty package.
void CheckExternFolders(ExportPolicy& policy, const ArchiveLayout& layout,
                        const std::vector<std::string>& declared, const MetadataOptions& options) {
  DepGraph& g = policy.mutable_graph();
  const auto refuse = [&](const std::string& module, const std::string& why) {
    if (g.Find(module) && g.Find(module)->error) return;  // said once
    std::string path = module;
    std::replace(path.begin(), path.end(), '.', '/');
    AddProblem(g, module, PackagingErrorReason::kInconsistentStructure,
               why + " but the archive has files under " + path + "/");
  };
  for (DepGraph::NodeId id = 0; id < g.size(); ++id) {
    if (g.attrs(id).action == Action::kExtern && layout.HasFolder(g.name(id)))
      refuse(g.name(id), "the module is extern");
  }
  for (const std::string& module : declared) {
    if (!layout.HasFolder(module)) continue;
    if (!options.edited)
      refuse(module, "the module is declared extern in .data/extern_modules");
    else if (!layout.Module(module))
      refuse(module, "the module was declared extern and has no module file now");
  }
}

std::vector<std::string> OrderExterns(const DepGraph& graph,
                                      const std::vector<std::string>& previous,
                                      const std::unordered_set<std::string>& left_out) {
  std::vector<std::string> now;
  std::unordered_set<std::string> needed;
  for (DepGraph::NodeId id = 0; id < graph.size(); ++id) {
    const NodeAttrs& a = graph.attrs(id);
    if (left_out.contains(graph.name(id))) continue;
    if (a.action == Action::kExtern && !a.is_pickle && needed.insert(graph.name(id)).second) {
      now.push_back(graph.name(id));
    }
  }
  std::vector<std::string> out;
  std::unordered_set<std::string> kept;
  for (const auto& name : previous) {
    if (needed.contains(name) && kept.insert(name).second) out.push_back(name);
  }
  for (const auto& name : now) {
    if (!kept.contains(name)) out.push_back(name);
  }
  return out;
}

// The record a graph node stands for ("" for nodes that are no record).
std::string RecordOfNode(const ArchiveLayout& layout, const std::string& node) {
  if (const ArchiveModule* module = layout.Module(node)) return module->record;
  for (const ArchivePickle& pickle : layout.pickles()) {
    if (pickle.NodeName() == node) return pickle.record;
  }
  return "";
}

// The modules an edit can make a loader run: the nodes of the edited records,
// what they import (transitively), and the packages above each of those
// (importing a.b runs a/__init__.py first, an edge the graph does not draw).
std::unordered_set<std::string> ReachedByEdits(const DepGraph& graph, const ArchiveLayout& layout,
                                               const MetadataOptions& options) {
  std::vector<bool> seen(graph.size());
  std::vector<DepGraph::NodeId> todo;
  for (DepGraph::NodeId id = 0; id < graph.size(); ++id) {
    const std::string record = RecordOfNode(layout, graph.name(id));
    if (!record.empty() && options.edited(record)) seen[id] = true, todo.push_back(id);
  }
  while (!todo.empty()) {
    const DepGraph::NodeId id = todo.back();
    todo.pop_back();
    for (const DepGraph::NodeId next : graph.successor_ids(id))
      if (!seen[next]) seen[next] = true, todo.push_back(next);
  }
  std::unordered_set<std::string> reached;
  for (DepGraph::NodeId id = 0; id < graph.size(); ++id) {
    if (!seen[id]) continue;
    const std::string& name = graph.name(id);
    for (size_t end = name.size(); end != std::string::npos && end > 0;
         end = name.rfind('.', end - 1))
      if (!reached.insert(name.substr(0, end)).second) break;  // its packages are in already
  }
  return reached;
}

// A source torch wrote with dependencies=False may not parse, or may import
// beyond its top package: torch's importer runs it only when something
// imports it, and the archive held it so before the edits. A save blames
// what the edits wrote, and what they make a loader run: such a source that
// no edited record reaches, saved unchanged, is no problem; an edited source
// must still be Python whose imports resolve.
void ForgiveUneditedResolutionFailures(DepGraph& graph, const ArchiveLayout& layout,
                                       const MetadataOptions& options) {
  std::optional<std::unordered_set<std::string>> reached;  // computed at the first such source
  for (DepGraph::NodeId id = 0; id < graph.size(); ++id) {
    NodeAttrs& attrs = graph.attrs(id);
    if (attrs.error != PackagingErrorReason::kDependencyResolutionFailed) continue;
    const std::string record = RecordOfNode(layout, graph.name(id));
    if (record.empty() || options.edited(record)) continue;
    if (!reached) reached = ReachedByEdits(graph, layout, options);
    if (reached->contains(graph.name(id))) continue;
    attrs.error.reset();
    attrs.error_context.reset();
  }
}

// A save's extern rules (metadata.h): returns the externs left out, adds
// problems for the refused ones and lists the accepted new ones.
std::unordered_set<std::string> RestrictNewExterns(ExportPolicy& policy,
                                                   const ArchiveLayout& layout,
                                                   const std::vector<std::string>& previous,
                                                   const BaselineModules& baseline,
                                                   const MetadataOptions& options, Metadata& m) {
  const std::unordered_set<std::string> declared(previous.begin(), previous.end());
  DepGraph& graph = policy.mutable_graph();
  std::unordered_set<std::string> left_out;
  for (DepGraph::NodeId id = 0; id < graph.size(); ++id) {
    const NodeAttrs& attrs = graph.attrs(id);
    if (attrs.action != Action::kExtern || attrs.is_pickle) continue;
    const std::string name = graph.name(id);
    if (declared.contains(name)) continue;
    std::string users, edited_users;
    for (DepGraph::NodeId user : graph.predecessor_ids(id)) {
      users += (users.empty() ? "" : ", ") + graph.name(user);
      const std::string record = RecordOfNode(layout, graph.name(user));
      if (!record.empty() && options.edited(record)) {
        edited_users += (edited_users.empty() ? "" : ", ") + record;
      }
    }
    if (DeclaredExtern(name, declared)) {
      // Under a declared extern (numpy.linalg under numpy) or always allowed:
      // listed as torch lists it, which lets nothing new load; a line an
      // edit adds is still named, like every line an edit adds.
      if (!edited_users.empty()) {
        m.new_externs.push_back({name, edited_users});
      }
      continue;
    }
    left_out.insert(name);
    if (baseline.contains(name)) {
      AddProblem(
          graph, name, PackagingErrorReason::kMissingModule,
          "a module of the package that is gone (it would not become extern); used by " + users);
    } else if (edited_users.empty()) {
      continue;  // unedited code references it: the package never declared it; nor does the save
    } else if (CanImplicitlyExtern(name)) {
      left_out.erase(name);
      m.new_externs.push_back({name, edited_users});
    } else if (const std::string_view top = std::string_view(name).substr(0, name.find('.'));
               top == "sys" || top == "io") {
      AddProblem(graph, name, PackagingErrorReason::kNoAction,
                 "newly imported by " + edited_users + ", and torch's exporter never makes " +
                     std::string(top) +
                     " extern on its own (it gives packaged code system-level access): only a "
                     "package exported with extern(\"" +
                     std::string(top) + "\") may import it");
    } else {
      AddProblem(graph, name, PackagingErrorReason::kNoAction,
                 "newly imported by " + edited_users +
                     ", and only the standard library and torch become extern implicitly");
    }
  }
  return left_out;
}

// Metadata::unfound_imports: imports of edited records that resolve nowhere
// and that the importer would not let through as extern, in first-seen order.
void ListUnfoundImports(const ExportPolicy& policy, const ArchiveLayout& layout,
                        const std::vector<std::string>& previous, const BaselineModules& baseline,
                        const MetadataOptions& options, Metadata& m) {
  const std::unordered_set<std::string> declared(previous.begin(), previous.end());
  std::set<std::pair<std::string, std::string>> listed;  // (module, record)
  for (const UnresolvedImport& u : policy.unresolved_imports()) {
    const std::optional<std::string> module = UnfoundModuleOf(u);
    // A module the baseline had is a missing-module problem already.
    if (!module || baseline.contains(*module) || DeclaredExtern(*module, declared)) continue;
    const std::string record = RecordOfNode(layout, u.importer);
    if (record.empty() || !options.edited(record) || !listed.emplace(*module, record).second)
      continue;
    // An import the record as opened spelled too (a guarded optional one,
    // say) is not the edit's: named once, not at every save of the record.
    const std::string_view last = std::string_view(*module).substr(module->rfind('.') + 1);
    if (options.baseline && RecordSpells(*options.baseline, record, last)) continue;
    auto same = [&](const NewExtern& n) { return n.module == *module; };
    if (auto it = std::find_if(m.unfound_imports.begin(), m.unfound_imports.end(), same);
        it != m.unfound_imports.end()) {
      it->importers += ", " + record;
    } else {
      m.unfound_imports.push_back({*module, record});
    }
  }
}

// Storage, pickle global and version problems, formatted after the graph's own.
std::string LoadProblems(const RecordSource& records, const std::vector<std::string>& names,
                         const ArchiveLayout& layout, const ExportPolicy& policy,
                         const MetadataOptions& options) {
  DepGraph problems;
  CheckStorages(layout, records, names, problems);
  CheckEditedOtherPickles(layout, records, names, options.edited, problems);
  CheckSerializedPickles(records, names, FileKind::kTorchPackage, problems);
  CheckEditedScriptCode(records, names, FileKind::kTorchPackage, options.edited, problems);
  CheckEditedSourcesCompile(layout, records, options.edited, problems);
  CheckPackagedScriptModules(layout, records, names, problems);
  CheckPickleGlobals(layout, records, options, problems);
  CheckImportedNames(layout, records, policy.unresolved_imports(), options, problems);
  if (options.edited && options.baseline) {
    // A `.pkl` that starts as save_pickle writes is the layout's to judge.
    CheckEditedPicklesStillLoad(
        records, names, *options.baseline, options.edited,
        [&records](const std::string& record) {
          return record.ends_with(".pkl") && IsSavePickleProtocol(records.ReadPrefix(record, 2));
        },
        problems);
  }
  CheckVersion(records, names, problems);
  return FormatPackagingError(problems);
}

}  // namespace

Metadata RegenerateMetadata(const RecordSource& records, const MetadataOptions& options) {
  static const PythonPath default_python;
  const PythonPath& python = options.python ? *options.python : default_python;
  const std::vector<std::string> names = records.RecordNames();
  const ArchiveLayout layout = ArchiveLayout::Read(records, names, options.cache.get());
  const std::vector<std::string> previous = PreviousExterns(records, names, options);
  ArchiveEnvironment env(layout, previous, python, ExportingStdlib(records, names));

  const auto reached = ReachedFromPickles(layout, env, options);
  ExportPolicy policy(env);
  AddArchiveRules(policy, layout, options);
  AddUnreachedSources(policy, layout, reached);
  AddPickles(policy, layout);

  // The modules the archive as opened provided (empty outside a save).
  const BaselineModules baseline(options.baseline_records);
  CheckMissingModules(policy, layout, baseline);
  CheckExternFolders(policy, layout, previous, options);
  for (const LayoutProblem& p : layout.problems()) {
    AddProblem(policy.mutable_graph(), p.node, p.reason, p.context);
    if (p.is_pickle) policy.mutable_graph().AddNode(p.node).is_pickle = true;
  }

  Metadata m;
  m.unreadable = layout.unreadable();
  m.unreadable_why = layout.unreadable_why();
  std::unordered_set<std::string> left_out;
  if (options.edited) {
    ForgiveUneditedResolutionFailures(policy.mutable_graph(), layout, options);
    left_out = RestrictNewExterns(policy, layout, previous, baseline, options, m);
    ListUnfoundImports(policy, layout, previous, baseline, options, m);
  }
  m.interned = policy.InternedModules();
  m.mocked = policy.MockedModules();
  m.externs = OrderExterns(policy.graph(), previous, left_out);
  m.extern_modules_text = ExternModulesText(m.externs);
  m.deps_dot = policy.graph().ToDot();
  m.problems = FormatPackagingError(policy.graph());
  std::string load_problems = LoadProblems(records, names, layout, policy, options);
  if (!load_problems.empty()) {
    // One message: the second list continues the first one's "* reason" blocks.
    m.problems += m.problems.empty() ? load_problems : load_problems.substr(1);
  }
  DepGraph safety;
  CheckNewDangerousGlobals(layout, records, names, options, safety);
  m.safety_problems = FormatPackagingError(safety);
  m.graph = std::move(policy.mutable_graph());
  return m;
}

std::vector<std::string> UndeclaredExterns(const RecordSource& records, const Metadata& m) {
  const std::vector<std::string> declared_list = PreviousExterns(records, records.RecordNames(), MetadataOptions{});
  const std::unordered_set<std::string> declared(declared_list.begin(), declared_list.end());
  std::vector<std::string> missing;
  for (const auto& name : m.externs) {
    if (!DeclaredExtern(name, declared)) missing.push_back(name);
  }
  return missing;
}

std::string ExternModulesMismatch(const RecordSource& records, const Metadata& m) {
  std::string missing;
  for (const std::string& name : UndeclaredExterns(records, m))
    missing += (missing.empty() ? "" : ", ") + name;
  if (missing.empty()) return "";
  return ".data/extern_modules does not declare modules the package needs: " + missing;
}

}  // namespace tpkg
