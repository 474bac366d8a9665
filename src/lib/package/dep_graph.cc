// DepGraph: torch's _digraph.DiGraph with typed attributes and the two
// closure bugs fixed (they seed with set(src), the characters of the name).
#include "tpkg/dep_graph.h"

#include <algorithm>
#include <deque>

#include "tpkg/error.h"

namespace tpkg {

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kIntern: return "INTERN";
    case Action::kExtern: return "EXTERN";
    case Action::kMock: return "MOCK";
    case Action::kDeny: return "DENY";
    case Action::kRepackagedMockModule: return "REPACKAGED_MOCK_MODULE";
    case Action::kSkip: return "SKIP";
  }
  return "?";
}

bool StopsTheLoad(PackagingErrorReason reason) {
  using R = PackagingErrorReason;
  return reason == R::kMissingStorage || reason == R::kMissingScriptCode ||
         reason == R::kMissingRecord || reason == R::kInconsistentStructure ||
         reason == R::kUnsupportedVersion || reason == R::kMissingGlobal ||
         reason == R::kRecordNameNotUtf8;
}

std::string_view ReasonText(PackagingErrorReason reason) {
  using R = PackagingErrorReason;
  switch (reason) {
    case R::kIsExtensionModule:
      return "Module is a C extension module. torch.package supports Python modules only.";
    case R::kNoDunderFile: return "Module had no __file__ defined.";
    case R::kSourceFileNotFound:
      return "Module had a __file__, but we could not find it in your filesystem.";
    case R::kDependencyResolutionFailed: return "Dependency resolution failed.";
    case R::kNoAction:
      return "Module did not match against any action pattern. Extern, mock, or intern it.";
    case R::kDenied: return "Module was denied by a pattern.";
    case R::kMockedButStillUsed:
      return "Module was mocked out, but is still being used in the package. Please intern or "
             "extern the mocked modules if objects are supposed to be in the package.";
    case R::kMissingModule:
      return "Module is imported by packaged code but is missing from the package.";
    case R::kInconsistentStructure:
      return "Module layout would not load: inconsistent module structure.";
    case R::kUnreadablePickle: return "Pickle could not be scanned for dependencies.";
    case R::kUnreadableSource: return "Source could not be read to find its imports.";
    case R::kMissingStorage:
      return "Storage is loaded by a pickle but is missing from the archive or too short.";
    case R::kUnsupportedVersion: return "Package version is not one torch loads.";
    case R::kMissingGlobal: return "Pickle global is not defined by its module in the package.";
    case R::kMissingName:
      return "Name imported by packaged code is not defined by its module in the package.";
    case R::kMissingRecord: return "Record that torch's loader opens is missing from the archive.";
    case R::kScriptCodeSyntax:
      return "TorchScript code is not valid Python: torch's loader cannot compile it.";
    case R::kSourceCompileError:
      return "Source parses, but Python's compiler refuses it: importing it raises SyntaxError.";
    case R::kRecordNameNotUtf8:
      return "Record name is not UTF-8: torch's importer cannot open the package.";
    case R::kMissingScriptCode:
      return "TorchScript code or data that a pickle loads is missing from the archive.";
    case R::kDangerousGlobal:
      return "Pickle global can run code or reach the system, and no pickle of the package "
             "loaded it before the edits.";
  }
  return "?";
}

std::optional<DepGraph::NodeId> DepGraph::Id(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

DepGraph::NodeId DepGraph::Require(std::string_view name) const {
  const auto id = Id(name);
  if (!id)
    throw Error(Errc::kNotFound, "The node " + std::string(name) + " is not in the digraph.");
  return *id;
}

DepGraph::NodeId DepGraph::AddNodeId(std::string_view name) {
  if (const auto id = Id(name)) return *id;
  const auto id = static_cast<NodeId>(nodes_.size());
  nodes_.push_back(Node{std::string(name), {}, {}, {}});
  index_.emplace(std::string(name), id);
  return id;
}

NodeAttrs& DepGraph::AddNode(std::string_view name) { return nodes_[AddNodeId(name)].attrs; }

void DepGraph::AddEdge(std::string_view from, std::string_view to) {
  const NodeId u = AddNodeId(from);
  const NodeId v = AddNodeId(to);
  if (!edges_.insert((static_cast<uint64_t>(u) << 32) | v).second) return;
  nodes_[u].succ.push_back(v);
  nodes_[v].pred.push_back(u);
}

NodeAttrs* DepGraph::Find(std::string_view name) {
  const auto id = Id(name);
  return id ? &nodes_[*id].attrs : nullptr;
}

const NodeAttrs* DepGraph::Find(std::string_view name) const {
  const auto id = Id(name);
  return id ? &nodes_[*id].attrs : nullptr;
}

std::vector<std::string> DepGraph::Successors(std::string_view name) const {
  std::vector<std::string> out;
  for (NodeId s : nodes_[Require(name)].succ) out.push_back(nodes_[s].name);
  return out;
}

std::vector<std::string> DepGraph::Predecessors(std::string_view name) const {
  std::vector<std::string> out;
  for (NodeId p : nodes_[Require(name)].pred) out.push_back(nodes_[p].name);
  return out;
}

std::vector<std::string> DepGraph::Rdeps(std::string_view name) const {
  return Contains(name) ? Predecessors(name) : std::vector<std::string>{};
}

std::vector<std::pair<std::string, std::string>> DepGraph::Edges() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(edges_.size());
  for (const Node& n : nodes_) {
    for (NodeId s : n.succ) out.emplace_back(n.name, nodes_[s].name);
  }
  return out;
}

std::vector<std::string> DepGraph::NamesWithAction(std::optional<Action> action) const {
  std::vector<std::string> out;
  for (const Node& n : nodes_) {
    if (n.attrs.action == action && !n.attrs.is_pickle) out.push_back(n.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool DepGraph::HasErrors() const {
  return std::any_of(nodes_.begin(), nodes_.end(),
                     [](const Node& n) { return n.attrs.error.has_value(); });
}

namespace {

// Breadth-first closure over `next(id)` (successors or predecessors).
template <typename Next>
std::vector<DepGraph::NodeId> Closure(size_t node_count, DepGraph::NodeId start, Next next) {
  std::vector<bool> seen(node_count, false);
  std::vector<DepGraph::NodeId> order{start};
  seen[start] = true;
  for (size_t i = 0; i < order.size(); ++i) {
    for (DepGraph::NodeId n : next(order[i])) {
      if (!seen[n]) {
        seen[n] = true;
        order.push_back(n);
      }
    }
  }
  return order;
}

}  // namespace

std::vector<DepGraph::NodeId> DepGraph::ForwardClosure(std::string_view name) const {
  return Closure(
      nodes_.size(), Require(name), [this](NodeId id) -> const auto& { return nodes_[id].succ; });
}

std::vector<DepGraph::NodeId> DepGraph::BackwardClosure(std::string_view name) const {
  return Closure(
      nodes_.size(), Require(name), [this](NodeId id) -> const auto& { return nodes_[id].pred; });
}

// torch's loop re-enqueues a node every time it is reached, which adds only
// edges that already exist (so the same graph in the same order) and never
// ends on a cycle; visiting each node once gives that graph and terminates.
DepGraph DepGraph::AllPaths(std::string_view src, std::string_view dst) const {
  DepGraph result;
  std::vector<bool> from_src(nodes_.size(), false);
  for (NodeId id : ForwardClosure(src)) from_src[id] = true;
  const auto target = Id(dst);
  if (!target || !from_src[*target]) return result;

  std::vector<bool> queued(nodes_.size(), false);
  std::deque<NodeId> work{*target};
  queued[*target] = true;
  while (!work.empty()) {
    const NodeId cur = work.front();
    work.pop_front();
    for (NodeId p : nodes_[cur].pred) {
      if (!from_src[p]) continue;
      result.AddEdge(nodes_[p].name, nodes_[cur].name);
      if (!queued[p]) {
        queued[p] = true;
        work.push_back(p);
      }
    }
  }
  return result;
}

std::string DepGraph::AllPathsDot(std::string_view src, std::string_view dst) const {
  return AllPaths(src, dst).ToDot();
}

std::vector<std::string> DepGraph::FirstPath(std::string_view dst) const {
  std::vector<std::string> path;
  std::vector<bool> on_path(nodes_.size(), false);
  std::optional<NodeId> cur = Require(dst);
  while (cur && !on_path[*cur]) {
    on_path[*cur] = true;
    path.push_back(nodes_[*cur].name);
    const auto& preds = nodes_[*cur].pred;
    // Node ids are insertion indices: the smallest is the first inserted.
    cur = preds.empty() ? std::nullopt
                        : std::optional<NodeId>(*std::min_element(preds.begin(), preds.end()));
  }
  std::reverse(path.begin(), path.end());
  return path;
}

// Built in one buffer of the exact size: the text of a 40,000-edge graph is
// megabytes, and growing it by concatenation held it about three times.
std::string DepGraph::ToDot() const {
  static constexpr std::string_view kHeader = "digraph G {\nrankdir = LR;\nnode [shape=box];\n";
  size_t size = kHeader.size() + 3;
  for (const Node& n : nodes_) {
    for (NodeId s : n.succ) size += n.name.size() + nodes_[s].name.size() + 10;
  }
  std::string dot;
  dot.reserve(size);
  dot += kHeader;
  bool first = true;
  for (const Node& n : nodes_) {
    for (NodeId s : n.succ) {
      if (!first) dot += '\n';
      first = false;
      dot.append("\"").append(n.name).append("\" -> \"").append(nodes_[s].name).append("\";");
    }
  }
  dot += "\n}\n";
  return dot;
}

}  // namespace tpkg
