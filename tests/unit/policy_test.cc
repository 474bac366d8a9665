// ExportPolicy: the parts of PackageExporter's logic the Python differential
// (tests/python/test_policy_differential.py) cannot reach cheaply: the
// save_pickle dependency loop and its mocked-object quirk, error message
// layout, hook handle lifetime, the close() plan and its order against the
// hooks, graphs close() refuses, and very deep import chains.
#include "tpkg/policy.h"

#include <gtest/gtest.h>

#include <map>
#include <span>
#include <string>
#include <vector>

#include "tpkg/pickle_scan.h"

namespace tpkg {
namespace {

// An in-memory ModuleEnvironment: module name -> (source, is_package).
class MapEnvironment : public ModuleEnvironment {
 public:
  void Add(std::string name, std::string source, bool is_package = false) {
    modules_[std::move(name)] =
        ModuleSource{ModuleSource::Kind::kSource, std::move(source), is_package, ""};
  }
  std::optional<ModuleSource> Find(std::string_view module) override {
    const auto it = modules_.find(std::string(module));
    if (it == modules_.end()) return std::nullopt;
    return it->second;
  }
  bool Importable(std::string_view module) override {
    return modules_.contains(std::string(module));
  }

 private:
  std::map<std::string, ModuleSource> modules_;
};

std::vector<std::string> NodeNames(const DepGraph& g) {
  std::vector<std::string> out;
  for (DepGraph::NodeId id = 0; id < g.size(); ++id) out.push_back(g.name(id));
  return out;
}

TEST(ExportPolicyTest, PickleModulesBecomeEdgesThenDependenciesDepthFirst) {
  MapEnvironment env;
  env.Add("m.model", "import m.layers\nimport numpy\n");
  env.Add("m.layers", "import torch\n");
  env.Add("numpy", "");
  env.Add("torch", "");
  ExportPolicy p(env);
  p.Extern("numpy.**");
  p.Intern("m.**");
  p.SavePickle("model", "model.pkl", {{"m.model", "collections", "torch"}, {}, std::nullopt});
  EXPECT_EQ(NodeNames(p.graph()),
            (std::vector<std::string>{"<model.model.pkl>", "m.model", "m.layers", "torch", "numpy",
                                      "collections"}));
  EXPECT_EQ(p.graph().Rdeps("torch"), (std::vector<std::string>{"m.layers", "<model.model.pkl>"}));
  const NodeAttrs* pkl = p.graph().Find("<model.model.pkl>");
  EXPECT_TRUE(pkl->is_pickle && pkl->provided);
  EXPECT_EQ(pkl->action, Action::kIntern);
  EXPECT_EQ(p.Close().extern_modules_text, "torch\nnumpy\ncollections\n");
  EXPECT_EQ(p.InternedModules(), (std::vector<std::string>{"m.layers", "m.model"}));
}

TEST(ExportPolicyTest, PickleWithoutDependenciesAddsOnlyItsNode) {
  MapEnvironment env;
  ExportPolicy p(env);
  p.SavePickle("a", "b.pkl", {{"x.y"}, {{"x.y", "Z"}}, std::nullopt}, /*dependencies=*/false);
  EXPECT_EQ(NodeNames(p.graph()), (std::vector<std::string>{"<a.b.pkl>"}));
  EXPECT_EQ(p.Close().extern_modules_text, "\n");
}

TEST(ExportPolicyTest, MockedObjectInPickleIsReportedPerModule) {
  MapEnvironment env;
  env.Add("m.heavy", "");
  env.Add("m.net", "");
  ExportPolicy p(env);
  p.Mock("m.heavy");
  p.Intern("m.**");
  p.SavePickle("model", "net.pkl",
               {{"m.heavy", "m.net"},
                {{"m.heavy", "Big"}, {"m.net", "Net"}, {"m.heavy", "Big"}},
                std::nullopt});
  try {
    p.Validate();
    FAIL();
  } catch (const PackagingError& e) {
    EXPECT_EQ(std::string(e.what()),
              "\n* Module was mocked out, but is still being used in the package. Please intern or "
              "extern the mocked modules if objects are supposed to be in the package.\n"
              "    m.heavy\n      Context: Object(s) '['Big', 'Big']' from module `m.heavy` was "
              "mocked out during packaging but is being used in resource - `net.pkl` in package "
              "`model`. \n");
  }
  EXPECT_EQ(p.graph().Find("m.net")->action, Action::kIntern);
}

TEST(ExportPolicyTest, TorchQuirkChecksOnlyTheLastModuleButMarksEveryModule) {
  MapEnvironment env;
  env.Add("m.heavy", "");
  env.Add("m.net", "");
  ExportPolicy quirk(env);
  quirk.Mock("m.heavy");
  quirk.Intern("m.**");
  // The mocked module is not last: torch 1.13 misses it entirely.
  quirk.SavePickle("p", "r.pkl",
                   {{"m.heavy", "m.net"}, {{"m.heavy", "Big"}, {"m.net", "Net"}}, "m.net"});
  EXPECT_NO_THROW(quirk.Validate());
  EXPECT_EQ(quirk.graph().Find("m.heavy")->action, Action::kMock);

  ExportPolicy last(env);
  last.Mock("m.heavy");
  last.Intern("m.**");
  last.SavePickle("p", "r.pkl",
                  {{"m.net", "m.heavy"}, {{"m.net", "Net"}, {"m.heavy", "Big"}}, "m.heavy"});
  EXPECT_EQ(last.graph().Find("m.net")->error, PackagingErrorReason::kMockedButStillUsed);
  EXPECT_EQ(last.graph().Find("m.net")->action, Action::kMock);
  EXPECT_EQ(*last.graph().Find("m.net")->error_context,
            "Object(s) '['Big']' from module `m.net` was mocked out during packaging but is being "
            "used in resource - `r.pkl` in package `p`. ");
}

TEST(ExportPolicyTest, PackagingErrorGroupsByFirstAppearanceOfReason) {
  DepGraph g;
  g.AddNode("a").error = PackagingErrorReason::kNoAction;
  g.AddNode("ok");
  NodeAttrs& b = g.AddNode("b");
  b.error = PackagingErrorReason::kSourceFileNotFound;
  b.error_context = "filename: /x/b.pyc";
  g.AddNode("c").error = PackagingErrorReason::kNoAction;
  EXPECT_EQ(FormatPackagingError(g),
            "\n* Module did not match against any action pattern. Extern, mock, or intern it.\n"
            "    a\n    c\n"
            "* Module had a __file__, but we could not find it in your filesystem.\n"
            "    b\n      Context: filename: /x/b.pyc\n");
  EXPECT_EQ(FormatPackagingError(DepGraph()), "");
}

TEST(ExportPolicyTest, PackagingErrorLinesGiveOneLinePerBrokenModule) {
  DepGraph g;
  g.AddNode("a").error = PackagingErrorReason::kNoAction;
  NodeAttrs& b = g.AddNode("b");
  b.error = PackagingErrorReason::kSourceFileNotFound;
  b.error_context = "filename: /x/b.pyc";
  g.AddNode("c").error = PackagingErrorReason::kNoAction;
  EXPECT_EQ(PackagingErrorLines(FormatPackagingError(g)),
            (std::vector<std::string>{
                "a: Module did not match against any action pattern. Extern, mock, or intern it",
                "c: Module did not match against any action pattern. Extern, mock, or intern it",
                "b: Module had a __file__, but we could not find it in your filesystem "
                "(filename: /x/b.pyc)"}));
  // torch 2's notes, paths and closing paragraph add no line; a name that reads as a note
  // (leading blanks) still leaves its reason as a problem.
  EXPECT_EQ(PackagingErrorLines(FormatPackagingError(g, TorchRelease::kTorch2, true)).size(), 3u);
  EXPECT_EQ(PackagingErrorLines(FormatPackagingError(g, TorchRelease::kTorch2, false)).size(), 3u);
  // Only the reasons kept: a missing module file is no load failure of its own.
  EXPECT_TRUE(PackagingErrorLines(FormatPackagingError(g), StopsTheLoad).empty());
  DepGraph odd;
  odd.AddNode("   spaced").error = PackagingErrorReason::kMissingStorage;
  EXPECT_EQ(PackagingErrorLines(FormatPackagingError(odd)),
            (std::vector<std::string>{
                "Storage is loaded by a pickle but is missing from the archive or too short"}));
  EXPECT_TRUE(PackagingErrorLines("").empty());
}

TEST(ExportPolicyTest, HooksRunPerModuleInRegistrationOrderAndHandlesOutliveThePolicy) {
  MapEnvironment env;
  env.Add("m.a", "import m.b\nimport json\n");
  env.Add("m.b", "");
  env.Add("json", "");
  std::vector<std::string> calls;
  HookHandle late(std::weak_ptr<HookHandle::Table>(), 0);
  {
    ExportPolicy p(env);
    p.Intern("m.**");
    p.RegisterInternHook([&](std::string_view m) { calls.push_back("i1:" + std::string(m)); });
    HookHandle removed =
        p.RegisterExternHook([&](std::string_view m) { calls.push_back("x:" + std::string(m)); });
    p.RegisterExternHook([&](std::string_view m) { calls.push_back("e:" + std::string(m)); });
    late =
        p.RegisterInternHook([&](std::string_view m) { calls.push_back("i2:" + std::string(m)); });
    removed.Remove();
    removed.Remove();  // idempotent
    p.SaveModule("m.a");
    p.Close();
  }
  EXPECT_EQ(calls, (std::vector<std::string>{"i1:m.a", "i2:m.a", "i1:m.b", "i2:m.b", "e:json"}));
  late.Remove();  // the policy is gone: nothing happens
}

TEST(ExportPolicyTest, ClosePlanWritesSourcesStubsAndMockFileInGraphOrder) {
  MapEnvironment env;
  env.Add("m.a", "import m.pkg\nimport m.stub\n");
  env.Add("m.pkg", "import _mock\n", /*is_package=*/true);
  env.Add("m.stub", "", /*is_package=*/true);
  ExportPolicy p(env);
  p.Mock("m.stub");
  p.Intern("m.**");
  p.SaveModule("m.a");
  p.AddDependency("torch_package_importer");
  const ClosePlan plan = p.Close();
  std::vector<std::string> records;
  for (const auto& w : plan.writes) records.push_back(w.record);
  // _mock comes from m.pkg's import before the stub needs it: written once.
  EXPECT_EQ(records, (std::vector<std::string>{"m/a.py", "m/pkg/__init__.py", "_mock.py",
                                               "m/stub/__init__.py"}));
  EXPECT_EQ(plan.writes[0].text, "import m.pkg\nimport m.stub\n");
  EXPECT_EQ(plan.writes[3].text, kMockStubSource);
  EXPECT_EQ(p.graph().Find("torch_package_importer")->action, Action::kSkip);
}

TEST(ExportPolicyTest, CloseWritesEachNodeRightAfterItsHooks) {
  MapEnvironment env;
  env.Add("m.a", "import m.stub\nimport json\nimport m.b\n");
  env.Add("m.b", "");
  env.Add("m.stub", "");
  env.Add("json", "");
  ExportPolicy p(env);
  p.Mock("m.stub");
  p.Intern("m.**");
  std::vector<std::string> events;
  auto log = [&](const char* what) {
    return [&events, what](std::string_view m) { events.push_back(what + std::string(m)); };
  };
  p.RegisterInternHook(log("intern:"));
  p.RegisterExternHook(log("extern:"));
  p.RegisterMockHook(log("mock:"));
  p.SaveModule("m.a");
  const ClosePlan plan =
      p.Close([&](const WriteStep& w) { events.push_back("write:" + w.record); });
  EXPECT_EQ(events, (std::vector<std::string>{"intern:m.a", "write:m/a.py", "mock:m.stub",
                                              "write:_mock.py", "write:m/stub.py", "extern:json",
                                              "intern:m.b", "write:m/b.py"}));
  ASSERT_EQ(plan.writes.size(), 4u);
  EXPECT_EQ(plan.writes[1].kind, WriteStep::Kind::kMockFile);
  EXPECT_TRUE(plan.writes[1].text.empty());
  EXPECT_EQ(plan.extern_modules_text, "json\n");
}

TEST(ExportPolicyTest, HooksThatAddModulesDoNotExtendClose) {
  MapEnvironment env;
  env.Add("m.a", "");
  ExportPolicy p(env);
  p.Intern("m.**");
  p.SaveModule("m.a");
  p.RegisterInternHook([&](std::string_view m) {
    if (m == "m.a") p.SaveSourceString("late", "X = 1\n");
  });
  const ClosePlan plan = p.Close();
  ASSERT_EQ(plan.writes.size(), 1u);
  EXPECT_EQ(plan.writes[0].record, "m/a.py");
  EXPECT_TRUE(p.graph().Contains("late"));
}

TEST(ExportPolicyTest, MockFileIsNotWrittenOverAModuleNamedMock) {
  MapEnvironment env;
  env.Add("m.stub", "");
  ExportPolicy p(env);
  p.Mock("m.stub");
  p.SaveSourceString("_mock", "MINE = 1\n", false, /*dependencies=*/false);
  p.AddDependency("m.stub");
  const ClosePlan plan = p.Close();
  std::vector<std::string> records;
  for (const auto& w : plan.writes) records.push_back(w.record);
  EXPECT_EQ(records, (std::vector<std::string>{"_mock.py", "m/stub.py"}));
  EXPECT_EQ(plan.writes[0].kind, WriteStep::Kind::kSource);
}

TEST(ExportPolicyTest, CloseRefusesNodesTheExporterCannotMake) {
  MapEnvironment env;
  ExportPolicy no_action(env);
  no_action.mutable_graph().AddNode("odd");
  try {
    no_action.Close();
    FAIL();
  } catch (const GraphInvariantError& e) {
    EXPECT_STREQ(e.what(), "Invalid action: odd, None. Please report a bug to PyTorch.");
  }
  ExportPolicy not_provided(env);
  not_provided.mutable_graph().AddNode("ghost").action = Action::kIntern;
  try {
    not_provided.Close();
    FAIL();
  } catch (const GraphInvariantError& e) {
    EXPECT_STREQ(e.what(), "Module was marked `intern` but not provided: ghost");
  }
}

TEST(ExportPolicyTest, RulesReportWhatMatched) {
  MapEnvironment env;
  env.Add("m.a", "import numpy\n");
  env.Add("numpy", "");
  ExportPolicy p(env);
  p.Extern("numpy.**");
  p.Intern("m.**", GlobPattern::Tuple({}), /*allow_empty=*/false);
  p.Mock(GlobPattern({"x", "y"}));
  p.SaveModule("m.a");
  const std::vector<RuleState> rules = p.Rules();
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].action, Action::kExtern);
  EXPECT_TRUE(rules[0].was_matched);
  EXPECT_FALSE(rules[1].was_matched);  // save_module interns without asking the rules
  EXPECT_FALSE(rules[1].allow_empty);
  EXPECT_EQ(rules[2].description, GlobGroup(GlobPattern({"x", "y"})).ToString());
  EXPECT_FALSE(rules[2].was_matched);
}

// A protocol 3 pickle naming `first`.Big, then `second`.Net (GLOBAL opcodes).
std::string TwoGlobalsPickle(const std::string& first, const std::string& second) {
  return "\x80\x03"
         "c" +
         first + "\nBig\n0c" + second + "\nNet\n0N.";
}

PickleDependencies DepsOf(const std::string& pickle) {
  return TorchPickleDependencies(ScanPickle(std::span<const char>(pickle.data(), pickle.size())));
}

TEST(ExportPolicyTest, TorchPickleDependenciesReplayTheQuirkFromTheScan) {
  MapEnvironment env;
  env.Add("m.heavy", "");
  env.Add("m.net", "");
  const PickleDependencies missed = DepsOf(TwoGlobalsPickle("m.heavy", "m.net"));
  EXPECT_EQ(missed.modules, (std::vector<std::string>{"m.heavy", "m.net"}));
  EXPECT_EQ(missed.torch_last_module, "m.net");
  ExportPolicy quirk(env);
  quirk.Mock("m.heavy");
  quirk.Intern("m.**");
  quirk.SavePickle("p", "r.pkl", missed);
  EXPECT_NO_THROW(quirk.Validate());  // the mocked module is not last: torch 1.13 misses it

  const PickleDependencies caught = DepsOf(TwoGlobalsPickle("m.net", "m.heavy"));
  EXPECT_EQ(caught.globals, (std::vector<std::pair<std::string, std::string>>{{"m.net", "Big"},
                                                                              {"m.heavy", "Net"}}));
  ExportPolicy flagged(env);
  flagged.Mock("m.heavy");
  flagged.Intern("m.**");
  flagged.SavePickle("p", "r.pkl", caught);
  EXPECT_EQ(flagged.graph().Find("m.net")->error, PackagingErrorReason::kMockedButStillUsed);
  EXPECT_EQ(flagged.graph().Find("m.heavy")->error, PackagingErrorReason::kMockedButStillUsed);
}

TEST(ExportPolicyTest, ImplicitPackagesAreProvidedWithoutARecord) {
  class FolderEnv : public MapEnvironment {
   public:
    std::optional<ModuleSource> Find(std::string_view m) override {
      if (m == "ns") return ModuleSource{ModuleSource::Kind::kImplicitPackage, "", true, ""};
      return MapEnvironment::Find(m);
    }
    bool Importable(std::string_view m) override {
      return m == "ns" || MapEnvironment::Importable(m);
    }
  } env;
  env.Add("ns.mod", "import ns\n");
  ExportPolicy p(env);
  p.Intern("ns.**");
  p.SaveModule("ns.mod");
  const ClosePlan plan = p.Close();
  ASSERT_EQ(plan.writes.size(), 1u);
  EXPECT_EQ(plan.writes[0].record, "ns/mod.py");
  EXPECT_EQ(p.graph().Find("ns")->is_package, true);
}

TEST(ExportPolicyTest, UnresolvedImportsAreRecorded) {
  MapEnvironment env;
  env.Add("m", "", true);
  env.Add("m.a", "from m import gone\nimport m.lost\nfrom m import CONST\n");
  ExportPolicy p(env);
  p.Intern("m.**");
  p.SaveModule("m.a");
  const auto& u = p.unresolved_imports();
  ASSERT_EQ(u.size(), 3u);
  EXPECT_EQ(u[0].name, "m.gone");
  EXPECT_TRUE(u[0].fell_back_to_parent);
  EXPECT_EQ(u[1].name, "m.lost");
  EXPECT_FALSE(u[1].fell_back_to_parent);
  EXPECT_EQ(u[2].importer, "m.a");
}

// An environment with a parser of its own: it refuses sources containing "NOT PYTHON".
class ParsingEnvironment : public MapEnvironment {
 public:
  std::optional<std::string> ParseError(std::string_view source) override {
    ++parsed;
    if (source.find("NOT PYTHON") == std::string_view::npos) return std::nullopt;
    return "invalid syntax (<unknown>, line 1)";
  }
  int parsed = 0;
};

TEST(ExportPolicyTest, TheEnvironmentsParserDecidesWhatIsPythonExceptForCompiledModules) {
  ParsingEnvironment env;
  env.Add("dep", "");
  ExportPolicy p(env);
  p.Extern("dep");
  // The scanner alone would find `import dep` here; the parser refuses the source first.
  p.SaveSourceString("bad", "import dep\nNOT PYTHON\n", false, true);
  p.SaveSourceString("good", "import dep\n", false, true);
  EXPECT_EQ(env.parsed, 2);
  const NodeAttrs& bad = *p.graph().Find("bad");
  EXPECT_EQ(bad.error, PackagingErrorReason::kDependencyResolutionFailed);
  EXPECT_EQ(*bad.error_context, "invalid syntax (<unknown>, line 1)");
  EXPECT_FALSE(p.graph().Find("good")->error);
  EXPECT_EQ(p.graph().edge_count(), 1u);  // good -> dep only
  // A module the environment compiled when it imported it is not parsed again.
  ModuleSource imported{ModuleSource::Kind::kSource, "import dep\n", false, ""};
  imported.compiled = true;
  class Imported : public ParsingEnvironment {
   public:
    explicit Imported(ModuleSource m) : m_(std::move(m)) { Add("dep", ""); }
    std::optional<ModuleSource> Find(std::string_view module) override {
      return module == "mod" ? std::optional(m_) : MapEnvironment::Find(module);
    }
    bool Importable(std::string_view module) override {
      return module == "mod" || MapEnvironment::Importable(module);
    }
    ModuleSource m_;
  } with_import(imported);
  ExportPolicy q(with_import);
  q.Intern("mod");
  q.Extern("dep");
  q.SaveModule("mod");
  EXPECT_EQ(with_import.parsed, 0);
  EXPECT_EQ(q.graph().edge_count(), 1u);
}

TEST(ExportPolicyTest, VeryDeepImportChainsDoNotRecurse) {
  MapEnvironment env;
  constexpr int kDepth = 30000;  // a recursive walk overflows an 8 MiB stack near 15000
  for (int i = 0; i < kDepth; ++i) {
    env.Add("c" + std::to_string(i),
            i + 1 < kDepth ? "import c" + std::to_string(i + 1) + "\n" : "");
  }
  ExportPolicy p(env);
  p.Intern("**");
  p.SaveModule("c0");
  EXPECT_EQ(p.graph().size(), static_cast<size_t>(kDepth));
  EXPECT_EQ(p.graph().edge_count(), static_cast<size_t>(kDepth - 1));
}

TEST(ExportPolicyTest, MissingModuleWhileInterningIsModuleNotFound) {
  MapEnvironment env;
  ExportPolicy p(env);
  p.Intern("**");
  try {
    p.AddDependency("nowhere");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNotFound);
    EXPECT_STREQ(e.what(), "No module named 'nowhere'");
  }
}

}  // namespace
}  // namespace tpkg
