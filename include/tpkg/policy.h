// policy.h: which modules a package interns, externs, mocks or denies:
// the decision logic of torch's PackageExporter without the pickling and the
// writing (package_exporter.py: add_dependency, _intern_module,
// _get_dependencies, the dependency part of save_pickle, close()'s
// validation; doc/format.md §5.4, §6).
//
//   tpkg::FileSystemEnvironment env({"/src"});
//   tpkg::ExportPolicy policy(env);
//   policy.Extern("numpy.**");
//   policy.Intern("my_models.**");
//   policy.SaveModule("my_models.net");        // interns it and follows its imports
//   tpkg::ClosePlan plan = policy.Close(sink); // throws PackagingError listing every problem;
//                                              // hooks, then each record to `sink`, node by node
//   plan.extern_modules_text;                  // ".data/extern_modules"
//   policy.graph().ToDot();                    // dependency_graph_string()
//
// add_dependency(name), checked in this order (first hit decides):
//   1. the node exists and is provided        -> nothing
//   2. name == "torch_package_importer"        -> SKIP (never written)
//   3. name == "_mock"                         -> REPACKAGED_MOCK_MODULE
//   4. top-level name is torch, or a Python stdlib module other than
//      sys and io                              -> EXTERN, before any user rule
//   5. the user's rules in registration order, first match wins:
//        intern -> INTERN, import it and follow its imports depth first
//        extern / mock -> EXTERN / MOCK;  deny -> DENY + "denied" error
//   6. nothing matched                         -> "did not match" error
// Imports of an interned source: ScanImports() gives (X, n) and (X, None)
// candidates; (X, n) becomes X.n if importable, else X if importable, else
// it is dropped; (X, None) is kept if importable. First occurrence order,
// no duplicates.
//
// Errors are collected on graph nodes; Validate()/Close() raise them all at
// once as PackagingError with torch's exact message, then EmptyMatchError for
// an allow_empty=false rule nothing matched. A module that cannot be found
// at all while interning raises Error(kNotFound) at once (torch's
// ModuleNotFoundError).
//
// close(), per node in graph order (the nodes present when it starts): the
// hooks of the node's action in registration order, then what it writes
// (torch's _execute_dependency_graph): EXTERN -> a line of extern_modules;
// MOCK -> _mock.py (once) and the stub as the module's record; INTERN -> the
// source (pickles and implicit packages write nothing); REPACKAGED_MOCK_MODULE
// -> _mock.py (once); SKIP -> nothing.
//
// Thread safety: an ExportPolicy is a single-threaded builder; use one per
// export. Hooks and the write sink run on the thread that calls Close(), and
// may call back into the policy (a hook may add modules or remove hooks).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tpkg/dep_graph.h"
#include "tpkg/error.h"
#include "tpkg/glob.h"
#include "tpkg/module_env.h"
#include "tpkg/pickle_scan.h"
#include "tpkg/torch_release.h"

namespace tpkg {

// The stub torch writes for every mocked module (package_exporter._MOCK_IMPL).
inline constexpr std::string_view kMockStubSource =
    "from _mock import MockedObject\n"
    "def __getattr__(attr: str):\n"
    "    return MockedObject(__name__ + '.' + attr, _suppress_err=True)\n";

// What torch 2.x's _mock.py has before the text of torch 1.13's ("" for 1.13).
std::string_view MockFileHeader(TorchRelease release);

// PackagingError: graph nodes carry errors; the message lists them all.
class PackagingError : public Error {
 public:
  explicit PackagingError(const std::string& message) : Error(Errc::kPolicy, message) {}
};

// An allow_empty=false rule matched no module.
class EmptyMatchError : public Error {
 public:
  explicit EmptyMatchError(const std::string& message) : Error(Errc::kPolicy, message) {}
};

// close() met a node the exporter's own calls cannot make (no action, or
// interned but not provided: only direct graph edits do that). torch fails
// there with an AssertionError; this carries the same text.
class GraphInvariantError : public Error {
 public:
  explicit GraphInvariantError(const std::string& message)
      : Error(Errc::kInvalidArgument, message) {}
};

// torch's PackagingError text: "\n", then per reason (in order of first
// appearance over the nodes) "* <reason>\n", and per module "    <name>\n"
// plus "      Context: <context>\n" when there is one. "" when no node has an
// error (torch 1.13). torch 2.x adds, per module, a note when it is `sys` or `io` and,
// with `debug`, "      A path to <name>: a -> b -> <name>\n" (the graph's
// FirstPath()); without `debug`, a closing paragraph suggesting it.
std::string FormatPackagingError(const DepGraph& graph,
                                 TorchRelease release = TorchRelease::kTorch1_13,
                                 bool debug = false);

// That text (the torch 1.13 form) as one line per broken module, for tools
// that print a problem per line: "<name>: <reason> (<context>)", the reason
// without its closing period, the parenthesis only with a context. With
// `keep`, only the problems of the reasons it keeps (e.g. StopsTheLoad).
std::vector<std::string> PackagingErrorLines(std::string_view text,
                                             bool (*keep)(PackagingErrorReason) = nullptr);

// `.data/extern_modules` for that list: "\n".join(modules) + "\n" ("\n" when empty).
std::string ExternModulesText(const std::vector<std::string>& modules);

// torch's _can_implicitly_extern(): torch.*, or stdlib except sys and io,
// the stdlib being `stdlib`'s (ExportPolicy uses its environment's) or the
// configured interpreter's.
bool CanImplicitlyExtern(std::string_view module, const StdlibNames& stdlib);
bool CanImplicitlyExtern(std::string_view module);

// Called as hook(module_name) from Close(), per module, in registration order.
using ActionHook = std::function<void(std::string_view module)>;

// torch's RemovableHandle: Remove() unregisters the hook (idempotent; safe
// after the policy is gone).
class HookHandle {
 public:
  using Table = std::map<uint64_t, ActionHook>;
  HookHandle(std::weak_ptr<Table> table, uint64_t id) : table_(std::move(table)), id_(id) {}
  void Remove();
  uint64_t id() const { return id_; }

 private:
  std::weak_ptr<Table> table_;
  uint64_t id_;
};

// What save_pickle's opcode scan found (pickle_scan.h's PickleScan has it).
struct PickleDependencies {
  // Modules in first-seen order without duplicates (torch's all_dependencies).
  std::vector<std::string> modules;
  // Every (module, name) global, in opcode order, for the mocked-object check.
  std::vector<std::pair<std::string, std::string>> globals;
  // torch 1.13 applies the mocked-object check only if its loop variable
  // `module`, left at its last value, names a mocked module, and then marks
  // every module of the pickle (doc/format.md §6.6). Set this to reproduce that
  // quirk; leave it empty to check each module on its own (what torch means).
  std::optional<std::string> torch_last_module;
};

// save_pickle's dependencies of a pickle the exporter has just written, from
// the scan of its bytes: torch's module list, and its mocked-object check
// replayed with the 1.13 quirk (every global the loop checked, with repeats,
// and torch_last_module). The globals are copied out once per occurrence:
// meant for the exporter's own pickles, not for hostile archives.
// `release` picks the loop of that torch (pickle_scan.h's modules_torch2):
// torch 2.x checks each module on its own (no torch_last_module).
PickleDependencies TorchPickleDependencies(const PickleScan& scan,
                                           TorchRelease release = TorchRelease::kTorch1_13);

// An import candidate that was not importable (torch drops these silently;
// metadata regeneration uses them to find modules that went missing).
struct UnresolvedImport {
  std::string importer;              // the module whose source has the import
  std::string name;                  // X.n for (X, n), X for (X, None)
  bool from_import_name = false;     // name is X.n of an (X, n) candidate (n may be an attribute)
  bool fell_back_to_parent = false;  // (X, n): X was importable and used instead
};

// One record close() writes, in order.
struct WriteStep {
  enum class Kind { kSource, kMockFile, kMockStub };
  Kind kind;
  std::string module;  // "_mock" for kMockFile
  std::string record;  // a/b.py or a/b/__init__.py
  bool is_package = false;
  // The record's text: kSource, the node's source (a view into the graph,
  // valid until that node's source changes); kMockStub, kMockStubSource;
  // kMockFile, empty: torch's _mock.py ships with the caller (the Python
  // package), which writes it.
  std::string_view text;
};

// Receives each record as close() reaches it, right after the hooks of its
// node, so that records a hook writes land where torch puts them.
using WriteSink = std::function<void(const WriteStep& step)>;

struct ClosePlan {
  std::vector<WriteStep> writes;
  std::vector<std::string> extern_modules;  // graph order
  std::string extern_modules_text;          // "\n".join(extern_modules) + "\n"
};

// A user rule as close() left it (torch's PackageExporter.patterns values).
struct RuleState {
  Action action;
  std::string description;  // GlobGroup's repr
  bool allow_empty = true;
  bool was_matched = false;
};

class ExportPolicy {
 public:
  // `env` must outlive the policy. `release`: whose exporter to reproduce
  // (its pickle loop, its PackagingError text, its _mock.py);
  // `debug`: torch 2.x's PackageExporter(debug=True).
  explicit ExportPolicy(ModuleEnvironment& env, TorchRelease release = TorchRelease::kTorch1_13,
                        bool debug = false);

  // torch's intern/extern/mock/deny, in call order. Equal patterns
  // registered twice are two rules (torch keys them by identity).
  void Intern(GlobGroup include, bool allow_empty = true);
  void Extern(GlobGroup include, bool allow_empty = true);
  void Mock(GlobGroup include, bool allow_empty = true);
  void Deny(GlobGroup include);
  // The same with torch's argument list: intern(include, exclude=(), allow_empty=True).
  void Intern(GlobPattern include, GlobPattern exclude = GlobPattern::Tuple({}),
              bool allow_empty = true) {
    Intern(GlobGroup(std::move(include), std::move(exclude)), allow_empty);
  }
  void Extern(GlobPattern include, GlobPattern exclude = GlobPattern::Tuple({}),
              bool allow_empty = true) {
    Extern(GlobGroup(std::move(include), std::move(exclude)), allow_empty);
  }
  void Mock(GlobPattern include, GlobPattern exclude = GlobPattern::Tuple({}),
            bool allow_empty = true) {
    Mock(GlobGroup(std::move(include), std::move(exclude)), allow_empty);
  }
  void Deny(GlobPattern include, GlobPattern exclude = GlobPattern::Tuple({})) {
    Deny(GlobGroup(std::move(include), std::move(exclude)));
  }
  // A rule with any predicate; `description` plays GlobGroup's repr in
  // EmptyMatchError.
  void AddRule(Action action, std::string description,
               std::function<bool(std::string_view)> matches, bool allow_empty = true);

  HookHandle RegisterInternHook(ActionHook hook);
  HookHandle RegisterExternHook(ActionHook hook);
  HookHandle RegisterMockHook(ActionHook hook);

  // save_source_string(): always interned, whatever the rules say.
  void SaveSourceString(std::string_view module, std::string source, bool is_package = false,
                        bool dependencies = true);
  // save_module(): import through the environment and intern.
  void SaveModule(std::string_view module, bool dependencies = true);
  // add_dependency() (see the table above).
  void AddDependency(std::string_view module, bool dependencies = true);
  // The dependency part of save_pickle(package, resource, ...): a node
  // "<package.resource>" with an edge to each module.
  void SavePickle(std::string_view package, std::string_view resource,
                  const PickleDependencies& deps, bool dependencies = true);

  // Throws PackagingError, then EmptyMatchError, like close() does.
  void Validate() const;
  // close(): Validate(), then per node its hooks and its records (to `sink`
  // as they come, when given); returns every record and extern_modules. The
  // plan's texts point into graph(): keep the policy alive while using them.
  // Throws GraphInvariantError for a node close() cannot handle; whatever a
  // hook or the sink throws passes through unchanged.
  ClosePlan Close(const WriteSink& sink = nullptr);

  // The user rules in registration order.
  std::vector<RuleState> Rules() const;

  // Sorted names with that action, pickle nodes excluded (externed_modules()...).
  std::vector<std::string> ExternedModules() const { return WithAction(Action::kExtern); }
  std::vector<std::string> InternedModules() const { return WithAction(Action::kIntern); }
  std::vector<std::string> MockedModules() const { return WithAction(Action::kMock); }
  std::vector<std::string> DeniedModules() const { return WithAction(Action::kDeny); }

  const DepGraph& graph() const { return graph_; }
  TorchRelease release() const { return release_; }
  // For callers that attach problems of their own (metadata.h) before Validate().
  DepGraph& mutable_graph() { return graph_; }
  const std::vector<UnresolvedImport>& unresolved_imports() const { return unresolved_; }

 private:
  struct Rule {
    Action action;
    std::string description;
    std::function<bool(std::string_view)> matches;
    bool allow_empty;
    bool was_matched = false;
  };
  // A module being interned whose dependencies are still to be added (an
  // explicit stack instead of recursion: import chains in hostile archives
  // can be arbitrarily deep).
  struct Frame {
    std::string module;
    std::vector<std::string> deps;
    size_t next = 0;
  };

  std::optional<Frame> AddDependencyStep(std::string_view module, bool dependencies);
  std::optional<Frame> InternModule(std::string_view module, bool dependencies);
  std::vector<std::string> GetDependencies(const ScannedImports& imports, std::string_view module);
  // The same for a source not scanned yet: the environment's parser first, as torch's ast.parse.
  std::vector<std::string> DependenciesOfSource(std::string_view source, std::string_view module,
                                                bool is_package);
  void Drain(std::vector<Frame>& stack);
  void Follow(std::optional<Frame> frame);
  void CheckMockedPickle(std::string_view package, std::string_view resource,
                         const PickleDependencies& deps, const std::string& node);
  HookHandle Register(const std::shared_ptr<HookHandle::Table>& table, ActionHook hook);
  void CloseNode(DepGraph::NodeId id, ClosePlan& plan, const WriteSink& sink);
  std::vector<std::string> WithAction(Action a) const { return graph_.NamesWithAction(a); }

  ModuleEnvironment& env_;
  TorchRelease release_;
  bool debug_;
  DepGraph graph_;
  std::vector<Rule> rules_;
  std::vector<UnresolvedImport> unresolved_;
  std::shared_ptr<HookHandle::Table> intern_hooks_, extern_hooks_, mock_hooks_;
};

}  // namespace tpkg
