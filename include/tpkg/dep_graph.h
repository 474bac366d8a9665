// dep_graph.h: the exporter's dependency graph (torch/package/_digraph.py),
// with typed node attributes and the exact DOT text of
// PackageExporter.dependency_graph_string() (doc/format.md §6.1, §7).
//
//   tpkg::DepGraph g;
//   g.AddEdge("<model.model.pkl>", "corpus_models.model");
//   g.AddNode("corpus_models.model").action = tpkg::Action::kIntern;
//   g.ToDot();  // "digraph G {\nrankdir = LR;\nnode [shape=box];\n"
//               // "\"<model.model.pkl>\" -> \"corpus_models.model\";\n}\n"
//   g.Rdeps("corpus_models.model");  // {"<model.model.pkl>"}
//
// Order is the whole point: nodes keep their first insertion order (adding
// an existing node only updates it), and every node keeps its successors and
// predecessors in the order the edges were first added. That order drives
// the record order of sources, `.data/extern_modules` and the DOT edge order.
// Node names are module names or "<package.resource>" for pickles.
//
// Node lookup is O(1) (hash map); references returned by AddNode()/Find()
// stay valid for the graph's lifetime (nodes live in a deque).
//
// Thread safety: not synchronized. A graph that is no longer modified may be
// read from any number of threads (all const methods are pure reads).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace tpkg {

// torch's _ModuleProviderAction.
enum class Action { kIntern, kExtern, kMock, kDeny, kRepackagedMockModule, kSkip };
// "INTERN", "EXTERN", "MOCK", "DENY", "REPACKAGED_MOCK_MODULE", "SKIP".
std::string_view ActionName(Action action);

// torch's PackagingErrorReason, plus reasons of our own that only metadata
// regeneration (metadata.h) produces.
enum class PackagingErrorReason {
  kIsExtensionModule,
  kNoDunderFile,
  kSourceFileNotFound,
  kDependencyResolutionFailed,
  kNoAction,
  kDenied,
  kMockedButStillUsed,
  // tpkg additions:
  kMissingModule,          // packaged code imports a module of the package that is gone
  kInconsistentStructure,  // the importer would refuse the record layout (doc/format.md §8.1)
  kUnreadablePickle,       // a save_pickle record that cannot be scanned
  kUnreadableSource,       // a source whose bytes fail their CRC-32 (its imports are unknown)
  kMissingStorage,         // a pickle's storage record is missing or too short
  kUnsupportedVersion,     // `.data/version` is not one torch loads
  kMissingGlobal,          // a pickle's global that its packaged module no longer binds
  kMissingName,         // a name a source imports that its edited packaged module no longer defines
  kDangerousGlobal,     // an edited pickle's global that runs code, new to the package
  kMissingScriptCode,   // a TorchScript module's code or pickle a pickle loads is missing
  kMissingRecord,       // a torch.save or TorchScript archive lacks a record its loader opens
  kScriptCodeSyntax,    // an edited TorchScript code record that does not parse as Python
  kSourceCompileError,  // an edited source that parses but that Python's compiler refuses
  kRecordNameNotUtf8,   // a record name the importer cannot decode
  // Last: PackagingErrorLines (policy.h) walks the values up to it.
};
// The message torch prints for the reason (its enum value), e.g.
// "Module was denied by a pattern."
std::string_view ReasonText(PackagingErrorReason reason);
// Whether torch's loader fails on an archive with that problem whatever the
// code that uses it does (a missing or short storage, a missing record or
// TorchScript code, a layout the importer refuses, a version it refuses, a
// pickle global its module cannot bind): `tpkg check` reports these of an
// unedited archive. The others are an
// exporter's or a save's judgement (a source that does not parse loads until
// something imports it; torch saves such with dependencies=False).
bool StopsTheLoad(PackagingErrorReason reason);

// The attributes torch keeps in a node's dict. An unset optional is a key
// that is absent from the dict (torch distinguishes "no action" from any action).
struct NodeAttrs {
  std::optional<Action> action;
  bool provided = false;
  std::optional<bool> is_package;
  bool is_pickle = false;
  std::optional<std::string> source;  // the text to write for interned modules
  std::optional<PackagingErrorReason> error;
  std::optional<std::string> error_context;
};

class DepGraph {
 public:
  using NodeId = uint32_t;

  // Adds `name` at the end of the insertion order if it is new; returns its
  // attributes either way (torch's add_node(n, **attrs) = AddNode(n).x = ...).
  NodeAttrs& AddNode(std::string_view name);
  // Adds both nodes if needed, then the edge `from -> to` (once).
  void AddEdge(std::string_view from, std::string_view to);

  bool Contains(std::string_view name) const { return Id(name).has_value(); }
  std::optional<NodeId> Id(std::string_view name) const;
  NodeAttrs* Find(std::string_view name);
  const NodeAttrs* Find(std::string_view name) const;

  // Nodes in insertion order: ids are 0 .. size()-1.
  size_t size() const { return nodes_.size(); }
  const std::string& name(NodeId id) const { return nodes_[id].name; }
  const NodeAttrs& attrs(NodeId id) const { return nodes_[id].attrs; }
  NodeAttrs& attrs(NodeId id) { return nodes_[id].attrs; }
  const std::vector<NodeId>& successor_ids(NodeId id) const { return nodes_[id].succ; }
  const std::vector<NodeId>& predecessor_ids(NodeId id) const { return nodes_[id].pred; }
  size_t edge_count() const { return edges_.size(); }

  // Throw Error(kNotFound, "The node <n> is not in the digraph.") for an
  // unknown node, like torch's ValueError.
  std::vector<std::string> Successors(std::string_view name) const;
  std::vector<std::string> Predecessors(std::string_view name) const;
  // PackageExporter.get_rdeps(): predecessors in edge order, [] if unknown.
  std::vector<std::string> Rdeps(std::string_view name) const;
  // Every edge (from, to): sources in node order, then their edge order.
  std::vector<std::pair<std::string, std::string>> Edges() const;

  // torch's _nodes_with_action_type(): sorted names of the nodes whose
  // action is `action` (nullopt: nodes without one), pickle nodes left out.
  std::vector<std::string> NamesWithAction(std::optional<Action> action) const;
  // True when some node carries an error (the exporter would raise).
  bool HasErrors() const;

  // Nodes reachable from `name` (itself included), in BFS discovery order.
  std::vector<NodeId> ForwardClosure(std::string_view name) const;
  std::vector<NodeId> BackwardClosure(std::string_view name) const;

  // The subgraph of every path src -> ... -> dst, as torch's all_paths()
  // intends (1.13's raises on ordinary names, doc/format.md §7.3): walk the
  // predecessors back from dst, breadth first, keeping those reachable from
  // src; edges are added in that walk's order. Empty when dst is unknown or
  // unreachable. Terminates on cycles. Throws kNotFound for an unknown src.
  DepGraph AllPaths(std::string_view src, std::string_view dst) const;
  std::string AllPathsDot(std::string_view src, std::string_view dst) const;

  // torch's first_path(): from the first-inserted predecessor back to a
  // root, returned root first. Stops on cycles (torch would loop forever).
  std::vector<std::string> FirstPath(std::string_view dst) const;

  // Byte-identical to torch's to_dot() / dependency_graph_string(): three
  // header lines, one `"<from>" -> "<to>";` line per edge (no escaping),
  // "\n}\n"; with no edges an empty line precedes the closing brace.
  std::string ToDot() const;

 private:
  struct Node {
    std::string name;
    NodeAttrs attrs;
    std::vector<NodeId> succ;  // edge insertion order
    std::vector<NodeId> pred;  // edge insertion order
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  NodeId Require(std::string_view name) const;
  NodeId AddNodeId(std::string_view name);

  std::deque<Node> nodes_;
  std::unordered_map<std::string, NodeId, StringHash, std::equal_to<>> index_;
  std::unordered_set<uint64_t> edges_;  // (from << 32) | to
};

}  // namespace tpkg
