// ExportPolicy: PackageExporter's module decisions, step for step.
#include "tpkg/policy.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <unordered_set>

namespace tpkg {
namespace {

// torch's RemovableHandle ids come from one process-wide counter.
std::atomic<uint64_t> next_hook_id{0};

std::string RecordFor(std::string_view module, bool is_package) {
  std::string record(module);
  std::replace(record.begin(), record.end(), '.', '/');
  return record + (is_package ? "/__init__.py" : ".py");
}

// ScanImports() errors read "line N: reason"; torch's context is str() of
// the exception ast.parse or _resolve_name raised: "reason (<unknown>, line N)"
// for a SyntaxError, the bare message for the relative-import ValueError.
std::string TorchErrorContext(std::string_view message) {
  static constexpr std::string_view kLine = "line ";
  static constexpr std::string_view kRelative =
      "attempted relative import beyond top-level package";
  const size_t colon = message.find(": ");
  if (!message.starts_with(kLine) || colon == std::string_view::npos) return std::string(message);
  const std::string_view number = message.substr(kLine.size(), colon - kLine.size());
  const std::string_view reason = message.substr(colon + 2);
  if (reason == kRelative) return std::string(reason);
  return std::string(reason) + " (<unknown>, line " + std::string(number) + ")";
}

std::string PythonListRepr(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += PythonStrRepr(items[i]);
  }
  return out + "]";
}

}  // namespace

std::string_view MockFileHeader(TorchRelease release) {
  return release == TorchRelease::kTorch2 ? "# mypy: allow-untyped-defs\n" : "";
}

namespace {

// torch 2.x's note under `sys` and `io` (its _DISALLOWED_MODULES).
std::string DisallowedModuleNote(const std::string& module) {
  return "      Note: While we usually use modules in the python standard library from the local "
         "environment, `" +
         module +
         "` has a lot of system level access and therefore can pose a security risk. We heavily "
         "recommend removing `" +
         module +
         "` from your packaged code. However, if that is not possible, add it to the extern "
         "list by calling PackageExporter.extern(\"`" +
         module + "`\")\n";
}

std::string JoinedPath(const std::vector<std::string>& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) out += (i ? " -> " : "") + path[i];
  return out;
}

}  // namespace

std::string FormatPackagingError(const DepGraph& graph, TorchRelease release, bool debug) {
  std::vector<std::pair<PackagingErrorReason, std::vector<DepGraph::NodeId>>> broken;
  for (DepGraph::NodeId id = 0; id < graph.size(); ++id) {
    const auto& error = graph.attrs(id).error;
    if (!error) continue;
    auto it =
        std::find_if(broken.begin(), broken.end(), [&](auto& b) { return b.first == *error; });
    if (it == broken.end()) it = broken.insert(broken.end(), {*error, {}});
    it->second.push_back(id);
  }
  if (broken.empty() && release == TorchRelease::kTorch1_13) return "";
  std::string message = "\n";
  for (const auto& [reason, ids] : broken) {
    message += "* " + std::string(ReasonText(reason)) + "\n";
    for (DepGraph::NodeId id : ids) {
      message += "    " + graph.name(id) + "\n";
      if (const auto& context = graph.attrs(id).error_context) {
        message += "      Context: " + *context + "\n";
      }
      if (release == TorchRelease::kTorch1_13) continue;
      const std::string& name = graph.name(id);
      if (name == "sys" || name == "io") message += DisallowedModuleNote(name);
      if (debug) {
        message += "      A path to " + name + ": " + JoinedPath(graph.FirstPath(name)) + "\n";
      }
    }
  }
  if (release == TorchRelease::kTorch2 && !debug) {
    message +=
        "\nSet debug=True when invoking PackageExporter for a visualization of where broken "
        "modules are coming from!\n";
  }
  return message;
}

namespace {

// The reason whose ReasonText() is `text` (a "* " line of FormatPackagingError).
std::optional<PackagingErrorReason> ReasonOfText(std::string_view text) {
  for (int r = 0; r <= static_cast<int>(PackagingErrorReason::kRecordNameNotUtf8); ++r) {
    const auto reason = static_cast<PackagingErrorReason>(r);
    if (ReasonText(reason) == text) return reason;
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> PackagingErrorLines(std::string_view text,
                                             bool (*keep)(PackagingErrorReason)) {
  std::vector<std::string> lines;
  std::string reason;
  bool kept = true;
  size_t reason_at = 0;  // lines.size() when `reason` began
  const auto close_reason = [&] {
    // A reason with no module line under it (a name that reads as a note) is still a problem.
    if (kept && !reason.empty() && lines.size() == reason_at) lines.push_back(reason);
  };
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (line.starts_with("* ")) {
      close_reason();
      const std::optional<PackagingErrorReason> known = ReasonOfText(line.substr(2));
      kept = keep == nullptr || (known && keep(*known));
      reason = std::string(line.substr(2));
      if (reason.ends_with('.')) reason.pop_back();
      reason_at = lines.size();
    } else if (!kept) {
      continue;
    } else if (line.starts_with("      ")) {  // a module's context or a note on it
      if (line.starts_with("      Context: ") && lines.size() > reason_at)
        lines.back() += " (" + std::string(line.substr(15)) + ")";
    } else if (line.starts_with("    ") && !reason.empty()) {
      lines.push_back(std::string(line.substr(4)) + ": " + reason);
    }
  }
  close_reason();
  return lines;
}

std::string ExternModulesText(const std::vector<std::string>& modules) {
  if (modules.empty()) return "\n";
  std::string text;
  for (const auto& name : modules) text += name + "\n";
  return text;
}

bool CanImplicitlyExtern(std::string_view module, const StdlibNames& stdlib) {
  const std::string_view top = module.substr(0, module.find('.'));
  return top == "torch" || (top != "sys" && top != "io" && stdlib.Contains(top));
}

bool CanImplicitlyExtern(std::string_view module) {
  return CanImplicitlyExtern(module, ConfiguredStdlibNames());
}

void HookHandle::Remove() {
  if (auto table = table_.lock()) table->erase(id_);
}

ExportPolicy::ExportPolicy(ModuleEnvironment& env, TorchRelease release, bool debug)
    : env_(env),
      release_(release),
      debug_(debug),
      intern_hooks_(std::make_shared<HookHandle::Table>()),
      extern_hooks_(std::make_shared<HookHandle::Table>()),
      mock_hooks_(std::make_shared<HookHandle::Table>()) {}

void ExportPolicy::AddRule(Action action, std::string description,
                           std::function<bool(std::string_view)> matches, bool allow_empty) {
  rules_.push_back(Rule{action, std::move(description), std::move(matches), allow_empty});
}

namespace {
std::function<bool(std::string_view)> Matcher(GlobGroup group) {
  return [group = std::move(group)](std::string_view name) { return group.Matches(name); };
}
}  // namespace

void ExportPolicy::Intern(GlobGroup include, bool allow_empty) {
  std::string text = include.ToString();
  AddRule(Action::kIntern, std::move(text), Matcher(std::move(include)), allow_empty);
}
void ExportPolicy::Extern(GlobGroup include, bool allow_empty) {
  std::string text = include.ToString();
  AddRule(Action::kExtern, std::move(text), Matcher(std::move(include)), allow_empty);
}
void ExportPolicy::Mock(GlobGroup include, bool allow_empty) {
  std::string text = include.ToString();
  AddRule(Action::kMock, std::move(text), Matcher(std::move(include)), allow_empty);
}
void ExportPolicy::Deny(GlobGroup include) {
  std::string text = include.ToString();
  AddRule(Action::kDeny, std::move(text), Matcher(std::move(include)), /*allow_empty=*/true);
}

HookHandle ExportPolicy::Register(const std::shared_ptr<HookHandle::Table>& table,
                                  ActionHook hook) {
  const uint64_t id = next_hook_id++;
  (*table)[id] = std::move(hook);
  return HookHandle(table, id);
}
HookHandle ExportPolicy::RegisterInternHook(ActionHook hook) {
  return Register(intern_hooks_, std::move(hook));
}
HookHandle ExportPolicy::RegisterExternHook(ActionHook hook) {
  return Register(extern_hooks_, std::move(hook));
}
HookHandle ExportPolicy::RegisterMockHook(ActionHook hook) {
  return Register(mock_hooks_, std::move(hook));
}

// _get_dependencies(): resolve the (X, n) candidates of the scan, first-seen order.
std::vector<std::string> ExportPolicy::GetDependencies(const ScannedImports& imports,
                                                       std::string_view module) {
  if (imports.error) {
    NodeAttrs& node = graph_.AddNode(module);
    node.error = PackagingErrorReason::kDependencyResolutionFailed;
    node.error_context = TorchErrorContext(*imports.error);
    return {};
  }
  std::vector<std::string> deps;
  std::unordered_set<std::string> seen;
  auto keep = [&](const std::string& name) {
    if (seen.insert(name).second) deps.push_back(name);
  };
  for (const ImportRef& ref : imports.refs) {
    if (ref.name) {
      const std::string submodule = ref.module + "." + *ref.name;
      if (env_.Importable(submodule)) {
        keep(submodule);
        continue;
      }
      const bool parent = env_.Importable(ref.module);
      unresolved_.push_back({std::string(module), submodule, true, parent});
      if (parent) keep(ref.module);
      continue;
    }
    if (env_.Importable(ref.module)) {
      keep(ref.module);
    } else {
      unresolved_.push_back({std::string(module), ref.module, false, false});
    }
  }
  return deps;
}

std::vector<std::string> ExportPolicy::DependenciesOfSource(std::string_view source,
                                                            std::string_view module,
                                                            bool is_package) {
  if (std::optional<std::string> error = env_.ParseError(source)) {
    NodeAttrs& node = graph_.AddNode(module);
    node.error = PackagingErrorReason::kDependencyResolutionFailed;
    node.error_context = std::move(*error);
    return {};
  }
  return GetDependencies(ScanModuleImports(source, module, is_package), module);
}

// _intern_module(): returns the frame of dependencies still to add.
std::optional<ExportPolicy::Frame> ExportPolicy::InternModule(std::string_view module,
                                                              bool dependencies) {
  const auto found = env_.Find(module);
  if (!found) throw Error(Errc::kNotFound, "No module named '" + std::string(module) + "'");
  NodeAttrs& node = graph_.AddNode(module);
  node.action = Action::kIntern;
  node.is_package = found->is_package;
  node.provided = true;
  using K = ModuleSource::Kind;
  switch (found->kind) {
    case K::kImplicitPackage: return std::nullopt;
    case K::kNoFile:
      node.error = PackagingErrorReason::kNoDunderFile;
      node.error_context.reset();
      return std::nullopt;
    case K::kExtension:
      node.error = PackagingErrorReason::kIsExtensionModule;
      node.error_context.reset();
      return std::nullopt;
    case K::kFileNotFound:
      node.error = PackagingErrorReason::kSourceFileNotFound;
      node.error_context = "filename: " + found->file;
      return std::nullopt;
    case K::kSource: break;
  }
  if (!found->imports) node.source = found->source;
  if (!dependencies) return std::nullopt;
  if (found->imports) return Frame{std::string(module), GetDependencies(*found->imports, module)};
  if (found->compiled)
    return Frame{
        std::string(module),
        GetDependencies(ScanModuleImports(found->source, module, found->is_package), module)};
  return Frame{std::string(module), DependenciesOfSource(found->source, module, found->is_package)};
}

std::optional<ExportPolicy::Frame> ExportPolicy::AddDependencyStep(std::string_view module,
                                                                   bool dependencies) {
  if (const NodeAttrs* existing = graph_.Find(module); existing && existing->provided) {
    return std::nullopt;
  }
  auto mark = [&](Action action) {
    NodeAttrs& node = graph_.AddNode(module);
    node.action = action;
    node.provided = true;
    return &node;
  };
  if (module == "torch_package_importer") {
    mark(Action::kSkip);
    return std::nullopt;
  }
  if (module == "_mock") {
    mark(Action::kRepackagedMockModule);
    return std::nullopt;
  }
  if (CanImplicitlyExtern(module, env_.stdlib_names())) {
    mark(Action::kExtern);
    return std::nullopt;
  }
  for (Rule& rule : rules_) {
    if (!rule.matches(module)) continue;
    rule.was_matched = true;
    NodeAttrs* node = mark(rule.action);
    if (rule.action == Action::kDeny) node->error = PackagingErrorReason::kDenied;
    if (rule.action == Action::kIntern) return InternModule(module, dependencies);
    return std::nullopt;
  }
  graph_.AddNode(module).error = PackagingErrorReason::kNoAction;
  return std::nullopt;
}

// Adds the remaining dependencies of every frame, depth first: exactly the
// order of torch's recursion (edge, then add_dependency, per dependency).
void ExportPolicy::Drain(std::vector<Frame>& stack) {
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next == top.deps.size()) {
      stack.pop_back();
      continue;
    }
    const std::string dep = top.deps[top.next++];
    graph_.AddEdge(top.module, dep);
    if (auto frame = AddDependencyStep(dep, /*dependencies=*/true))
      stack.push_back(std::move(*frame));
  }
}

void ExportPolicy::Follow(std::optional<Frame> frame) {
  if (!frame) return;
  std::vector<Frame> stack;
  stack.push_back(std::move(*frame));
  Drain(stack);
}

void ExportPolicy::AddDependency(std::string_view module, bool dependencies) {
  Follow(AddDependencyStep(module, dependencies));
}

void ExportPolicy::SaveModule(std::string_view module, bool dependencies) {
  Follow(InternModule(module, dependencies));
}

void ExportPolicy::SaveSourceString(std::string_view module, std::string source, bool is_package,
                                    bool dependencies) {
  NodeAttrs& node = graph_.AddNode(module);
  node.source = std::move(source);
  node.is_package = is_package;
  node.provided = true;
  node.action = Action::kIntern;
  if (!dependencies) return;
  Follow(Frame{std::string(module), DependenciesOfSource(*node.source, module, is_package)});
}

void ExportPolicy::SavePickle(std::string_view package, std::string_view resource,
                              const PickleDependencies& deps, bool dependencies) {
  // Built with append: GCC 12 warns (-Wrestrict, a known false positive) on "<" + std::string.
  std::string name = "<";
  name.append(package).append(".").append(resource).append(">");
  NodeAttrs& node = graph_.AddNode(name);
  node.action = Action::kIntern;
  node.provided = true;
  node.is_pickle = true;
  if (!dependencies) return;
  CheckMockedPickle(package, resource, deps, name);
}

// The loop at the end of save_pickle: an edge per module, then either the
// mocked-object error or add_dependency().
void ExportPolicy::CheckMockedPickle(std::string_view package, std::string_view resource,
                                     const PickleDependencies& deps, const std::string& node) {
  std::map<std::string, std::vector<std::string>, std::less<>> mocked;
  for (const auto& [module, field] : deps.globals) {
    if (CanImplicitlyExtern(module, env_.stdlib_names())) continue;
    for (const Rule& rule : rules_) {
      if (!rule.matches(module)) continue;
      if (rule.action == Action::kMock) mocked[module].push_back(field);
      break;
    }
  }
  for (const std::string& module : deps.modules) {
    graph_.AddEdge(node, module);
    const std::string& key = deps.torch_last_module ? *deps.torch_last_module : module;
    const auto hit = mocked.find(key);
    if (hit == mocked.end()) {
      AddDependency(module);
      continue;
    }
    NodeAttrs& bad = graph_.AddNode(module);
    bad.action = Action::kMock;
    bad.provided = true;
    bad.error = PackagingErrorReason::kMockedButStillUsed;
    bad.error_context = "Object(s) '" + PythonListRepr(hit->second) + "' from module `" + module +
                        "` was mocked out during packaging but is being used in resource - `" +
                        std::string(resource) + "` in package `" + std::string(package) + "`. ";
  }
}

void ExportPolicy::Validate() const {
  if (graph_.HasErrors()) throw PackagingError(FormatPackagingError(graph_, release_, debug_));
  for (const Rule& rule : rules_) {
    if (!rule.allow_empty && !rule.was_matched) {
      throw EmptyMatchError("Exporter did not match any modules to " + rule.description +
                            ", which was marked as allow_empty=False");
    }
  }
}

std::vector<RuleState> ExportPolicy::Rules() const {
  std::vector<RuleState> out;
  for (const Rule& rule : rules_)
    out.push_back({rule.action, rule.description, rule.allow_empty, rule.was_matched});
  return out;
}

PickleDependencies TorchPickleDependencies(const PickleScan& scan, TorchRelease release) {
  const bool torch2 = release == TorchRelease::kTorch2;
  PickleDependencies deps;
  deps.modules = torch2 ? scan.modules_torch2 : scan.modules;
  const MockCheckInputs& check = torch2 ? scan.mock_check_torch2 : scan.mock_check;
  deps.globals.reserve(check.globals.size());
  for (const auto& [module, field] : check.globals)
    deps.globals.emplace_back(check.names[module], check.names[field]);
  if (!torch2) deps.torch_last_module = check.last_module;
  return deps;
}

namespace {

void RunHooks(const HookHandle::Table& table, const std::string& module) {
  if (table.empty()) return;
  const HookHandle::Table snapshot = table;  // a hook may remove hooks while we iterate
  for (const auto& [id, hook] : snapshot) hook(module);
}

constexpr std::string_view kMockFileRecord = "_mock.py";

void Emit(WriteStep step, ClosePlan& plan, const WriteSink& sink) {
  if (sink) sink(step);
  plan.writes.push_back(std::move(step));
}

// torch writes _mock.py unless a record of that name was written already.
void AddMockFile(ClosePlan& plan, const WriteSink& sink, TorchRelease release) {
  for (const auto& w : plan.writes) {
    if (w.record == kMockFileRecord) return;
  }
  Emit({WriteStep::Kind::kMockFile, "_mock", std::string(kMockFileRecord), false,
        MockFileHeader(release)},
       plan, sink);
}

}  // namespace

// One node of close()'s loop: hooks, then what gets written. The node is
// read after the hooks ran (they may change it; nodes never move).
void ExportPolicy::CloseNode(DepGraph::NodeId id, ClosePlan& plan, const WriteSink& sink) {
  const std::string& module = graph_.name(id);
  const NodeAttrs& node = graph_.attrs(id);
  if (!node.action) {
    throw GraphInvariantError("Invalid action: " + module +
                              ", None. Please report a bug to PyTorch.");
  }
  switch (*node.action) {
    case Action::kExtern:
      RunHooks(*extern_hooks_, module);
      plan.extern_modules.push_back(module);
      return;
    case Action::kMock: {
      RunHooks(*mock_hooks_, module);
      AddMockFile(plan, sink, release_);
      const auto found = env_.Find(module);  // torch imports it to ask hasattr(m, "__path__")
      if (!found) throw Error(Errc::kNotFound, "No module named '" + module + "'");
      Emit({WriteStep::Kind::kMockStub, module, RecordFor(module, found->is_package),
            found->is_package, kMockStubSource},
           plan, sink);
      return;
    }
    case Action::kIntern: {
      RunHooks(*intern_hooks_, module);
      if (!node.provided) {
        throw GraphInvariantError("Module was marked `intern` but not provided: " + module);
      }
      if (node.is_pickle || !node.source) return;  // pickles and implicit packages write nothing
      const bool is_package = node.is_package.value_or(false);
      Emit({WriteStep::Kind::kSource, module, RecordFor(module, is_package), is_package,
            *node.source},
           plan, sink);
      return;
    }
    case Action::kRepackagedMockModule: AddMockFile(plan, sink, release_); return;
    case Action::kSkip:
    case Action::kDeny:  // unreachable after Validate(): DENY nodes carry an error
      return;
  }
}

ClosePlan ExportPolicy::Close(const WriteSink& sink) {
  Validate();
  ClosePlan plan;
  // The nodes present now: a hook that adds modules does not extend the loop.
  const size_t nodes = graph_.size();
  for (DepGraph::NodeId id = 0; id < nodes; ++id) CloseNode(id, plan, sink);
  plan.extern_modules_text = ExternModulesText(plan.extern_modules);
  return plan;
}

}  // namespace tpkg
