// DepGraph: ordering rules, DOT text and rdeps against what the stack's real
// torch recorded in the corpus, and the all_paths() torch 1.13 meant to have.
#include "tpkg/dep_graph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "json_lite.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

using testing::Json;
using testing::ReadJsonFile;

Json Expected(const std::string& archive) {
  return ReadJsonFile(std::string(TPKG_CORPUS_DIR) + "/" + archive + ".expected.json");
}

// The modules of pkg_model_numpy.pt's pickle in the order its GLOBAL opcodes
// name them, which is the order save_pickle adds them to the graph. They come
// from the pickle the stack's torch wrote: torch 2.x pickles the model's
// globals in another order than 1.13, and numpy 2's arrays name
// numpy._core.multiarray where numpy 1's name numpy.core.multiarray. The
// pickle (protocol 3) names top-level globals only, so a global's module is
// everything before its last dot.
std::vector<std::string> PickledModulesInOrder() {
  const Json expected = Expected("pkg_model_numpy.pt");
  const Json& pickle = expected["pickles"]["model/model.pkl"];
  std::vector<std::string> modules;
  for (const std::string& global : pickle["globals_in_first_use_order"].Strings()) {
    const std::string module = global.substr(0, global.rfind('.'));
    if (std::find(modules.begin(), modules.end(), module) == modules.end()) {
      modules.push_back(module);
    }
  }
  return modules;
}

// What each interned module of the corpus's corpus_models package imports, in
// source order (tests/corpus/interned_sources.py: the same sources on every
// stack). Every other module is externed.
const std::map<std::string, std::vector<std::string>>& InternedImports() {
  static const std::map<std::string, std::vector<std::string>> imports = {
      {"corpus_models", {}},
      {"corpus_models.model",
       {"numpy", "torch", "corpus_models", "corpus_models.layers", "corpus_models.util"}},
      {"corpus_models.layers", {"torch"}},
      {"corpus_models.util", {"math", "torch"}},
  };
  return imports;
}

// The add_node/add_edge calls PackageExporter made for pkg_model_numpy.pt,
// in order: save_pickle adds the pickle node, then for each module of the
// pickle an edge and add_dependency(), which provides a module once and, for
// an interned one, adds an edge to each of its imports and recurses into it
// depth first (doc/format.md §6.2-6.4).
DepGraph ReplayModelNumpyExport() {
  DepGraph g;
  const std::string pickle_node = "<model.model.pkl>";
  NodeAttrs& pkl = g.AddNode(pickle_node);
  pkl.action = Action::kIntern;
  pkl.provided = pkl.is_pickle = true;
  std::function<void(const std::string&)> add_dependency = [&](const std::string& module) {
    NodeAttrs& dep = g.AddNode(module);
    if (dep.provided) return;
    dep.provided = true;
    const auto interned = InternedImports().find(module);
    dep.action = interned != InternedImports().end() ? Action::kIntern : Action::kExtern;
    if (interned == InternedImports().end()) return;
    for (const std::string& imported : interned->second) {
      g.AddEdge(module, imported);
      add_dependency(imported);
    }
  };
  for (const std::string& module : PickledModulesInOrder()) {
    g.AddEdge(pickle_node, module);
    add_dependency(module);
  }
  return g;
}

TEST(DepGraphTest, DotTextIsTorchsDependencyGraphString) {
  const Json expected = Expected("pkg_model_numpy.pt");
  EXPECT_EQ(ReplayModelNumpyExport().ToDot(),
            expected["exporter"]["dependency_graph_string"].string);
}

TEST(DepGraphTest, NodesKeepFirstInsertionOrder) {
  const Json expected = Expected("pkg_model_numpy.pt");
  const DepGraph g = ReplayModelNumpyExport();
  std::vector<std::string> names;
  for (DepGraph::NodeId id = 0; id < g.size(); ++id) names.push_back(g.name(id));
  std::vector<std::string> torch_names;
  for (const Json& n : expected["exporter"]["graph_nodes_in_insertion_order"].array) {
    torch_names.push_back(n["name"].string);
  }
  EXPECT_EQ(names, torch_names);
}

TEST(DepGraphTest, RdepsArePredecessorsInEdgeInsertionOrder) {
  const Json expected = Expected("pkg_model_numpy.pt");
  const DepGraph g = ReplayModelNumpyExport();
  for (const auto& [module, rdeps] : expected["exporter"]["get_rdeps"].object) {
    EXPECT_EQ(g.Rdeps(module), rdeps.Strings()) << module;
  }
  EXPECT_TRUE(g.Rdeps("not.a.node").empty());
}

TEST(DepGraphTest, EmptyGraphHasTheBlankLineTorchPrints) {
  const Json expected = Expected("pkg_minimal_text_only.pt");
  EXPECT_EQ(DepGraph().ToDot(), expected["exporter"]["dependency_graph_string"].string);
  DepGraph lonely;
  lonely.AddNode("a");  // nodes without edges never appear
  EXPECT_EQ(lonely.ToDot(), "digraph G {\nrankdir = LR;\nnode [shape=box];\n\n}\n");
}

TEST(DepGraphTest, ReAddingANodeUpdatesAttributesInPlace) {
  DepGraph g;
  g.AddNode("a");
  g.AddNode("b");
  g.AddNode("a").action = Action::kMock;
  EXPECT_EQ(g.name(0), "a");
  EXPECT_EQ(g.attrs(0).action, Action::kMock);
  EXPECT_EQ(g.size(), 2u);
  EXPECT_FALSE(g.attrs(1).action.has_value());
}

TEST(DepGraphTest, DuplicateEdgesKeepTheirFirstPosition) {
  DepGraph g;
  g.AddEdge("a", "b");
  g.AddEdge("a", "c");
  g.AddEdge("a", "b");
  EXPECT_EQ(g.Successors("a"), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(g.edge_count(), 2u);
}

TEST(DepGraphTest, UnknownNodeIsTorchsValueErrorText) {
  DepGraph g;
  try {
    g.Successors("x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNotFound);
    EXPECT_STREQ(e.what(), "The node x is not in the digraph.");
  }
}

DepGraph Diamond() {
  DepGraph g;
  for (auto [u, v] : std::vector<std::pair<const char*, const char*>>{
           {"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}, {"x", "d"}, {"d", "e"}}) {
    g.AddEdge(u, v);
  }
  return g;
}

TEST(DepGraphTest, AllPathsKeepsOnlyNodesBetweenSrcAndDst) {
  // Backward walk from d: preds b, c (x is not reachable from a), then a.
  EXPECT_EQ(Diamond().AllPathsDot("a", "d"),
            "digraph G {\nrankdir = LR;\nnode [shape=box];\n"
            "\"b\" -> \"d\";\n\"c\" -> \"d\";\n\"a\" -> \"b\";\n\"a\" -> \"c\";\n}\n");
  EXPECT_EQ(Diamond().AllPaths("b", "e").Edges(),
            (std::vector<std::pair<std::string, std::string>>{{"d", "e"}, {"b", "d"}}));
}

TEST(DepGraphTest, AllPathsOfUnreachableOrUnknownDstIsEmpty) {
  EXPECT_EQ(Diamond().AllPaths("b", "c").size(), 0u);
  EXPECT_EQ(Diamond().AllPaths("a", "nope").size(), 0u);
  EXPECT_THROW(Diamond().AllPaths("nope", "a"), Error);
}

TEST(DepGraphTest, AllPathsTerminatesOnCycles) {
  DepGraph g;
  g.AddEdge("a", "b");
  g.AddEdge("b", "c");
  g.AddEdge("c", "a");
  g.AddEdge("c", "d");
  // c -> a lies on walks a -> b -> c -> a -> ... -> d, so it belongs to the
  // subgraph; it is listed under c, the node the backward walk added first.
  const DepGraph paths = g.AllPaths("a", "d");
  EXPECT_EQ(paths.Edges(), (std::vector<std::pair<std::string, std::string>>{
                               {"c", "d"}, {"c", "a"}, {"b", "c"}, {"a", "b"}}));
}

TEST(DepGraphTest, AllPathsOnTheCorpusGraph) {
  const DepGraph g = ReplayModelNumpyExport();
  EXPECT_EQ(g.AllPaths("<model.model.pkl>", "numpy").Edges(),
            (std::vector<std::pair<std::string, std::string>>{
                {"corpus_models.model", "numpy"},
                {"<model.model.pkl>", "numpy"},
                {"<model.model.pkl>", "corpus_models.model"}}));
  EXPECT_EQ(g.AllPaths("corpus_models.model", "torch").Edges(),
            (std::vector<std::pair<std::string, std::string>>{
                {"corpus_models.model", "torch"},
                {"corpus_models.model", "corpus_models.layers"},
                {"corpus_models.model", "corpus_models.util"},
                {"corpus_models.layers", "torch"},
                {"corpus_models.util", "torch"}}));
}

TEST(DepGraphTest, FirstPathFollowsEarliestPredecessors) {
  const DepGraph g = ReplayModelNumpyExport();
  EXPECT_EQ(g.FirstPath("math"),
            (std::vector<std::string>{"<model.model.pkl>", "corpus_models.model",
                                      "corpus_models.util", "math"}));
  DepGraph cyc;
  cyc.AddEdge("a", "b");
  cyc.AddEdge("b", "a");
  EXPECT_EQ(cyc.FirstPath("b"), (std::vector<std::string>{"a", "b"}));
}

TEST(DepGraphTest, ClosuresAreBreadthFirst) {
  const DepGraph g = Diamond();
  std::vector<std::string> fwd;
  for (auto id : g.ForwardClosure("a")) fwd.push_back(g.name(id));
  EXPECT_EQ(fwd, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  std::vector<std::string> back;
  for (auto id : g.BackwardClosure("d")) back.push_back(g.name(id));
  EXPECT_EQ(back, (std::vector<std::string>{"d", "b", "c", "x", "a"}));
}

TEST(DepGraphTest, NamesWithActionAreSortedAndLeavePicklesOut) {
  DepGraph g;
  g.AddNode("zeta").action = Action::kExtern;
  g.AddNode("alpha").action = Action::kExtern;
  g.AddNode("mid").action = Action::kIntern;
  g.AddNode("<p.x.pkl>").action = Action::kExtern;
  g.AddNode("<p.x.pkl>").is_pickle = true;
  g.AddNode("bare");
  EXPECT_EQ(g.NamesWithAction(Action::kExtern), (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_EQ(g.NamesWithAction(std::nullopt), (std::vector<std::string>{"bare"}));
  EXPECT_TRUE(g.NamesWithAction(Action::kMock).empty());
  EXPECT_FALSE(g.HasErrors());
  g.AddNode("mid").error = PackagingErrorReason::kDenied;
  EXPECT_TRUE(g.HasErrors());
}

}  // namespace
}  // namespace tpkg
