// Inspection (model_file.h, model_report.h, file_structure.h,
// package_files.h) against what real torch recorded in the corpus: kinds,
// the exporter's module lists, file_structure() text, deps.dot; and the
// torch 2.6 TorchScript and .pt2 files of tests/data/torch2.
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "json_lite.h"
#include "scratch_dir.h"
#include "torch2_archives.h"
#include "tpkg/error.h"
#include "tpkg/export_program.h"
#include "tpkg/file_structure.h"
#include "tpkg/glob.h"
#include "tpkg/model_file.h"
#include "tpkg/model_report.h"
#include "tpkg/package_files.h"

namespace tpkg {
namespace {

using testing::Json;
using testing::ReadJsonFile;

const std::string kCorpus = TPKG_CORPUS_DIR;

// Archives holding exactly the package of another case: its exporter facts apply.
std::string ExporterCase(const std::string& archive) {
  return archive == "pkg_deflated_by_zip_tool.pt" ? "pkg_model_numpy.pt" : archive;
}

Json Facts(const std::string& archive) {
  return ReadJsonFile(kCorpus + "/" + archive + ".expected.json");
}

// Every corpus archive of `kind` ("torch.package", "torch.save", "invalid").
std::vector<std::string> CorpusArchives(const std::string& kind) {
  std::vector<std::string> out;
  for (const Json& entry : ReadJsonFile(kCorpus + "/MANIFEST.json").array) {
    const std::string archive = entry["archive"].string;
    if (Facts(archive)["kind"].string == kind) out.push_back(archive);
  }
  return out;
}

std::vector<std::string> RecordNames(const ZipReader& zip) {
  std::vector<std::string> names;
  for (const ZipEntry& e : zip.entries()) names.push_back(e.name);
  return names;
}

TEST(ModelFileTest, TellsTheCorpusKinds) {
  for (const std::string& archive : CorpusArchives("torch.package")) {
    EXPECT_EQ(OpenModelFile(kCorpus + "/" + archive).kind, FileKind::kTorchPackage) << archive;
  }
  for (const std::string& archive : CorpusArchives("torch.save")) {
    EXPECT_EQ(OpenModelFile(kCorpus + "/" + archive).kind, FileKind::kTorchSave) << archive;
  }
  // Invalid archives stay refused, with ZipReader's reason.
  for (const std::string& archive : CorpusArchives("invalid")) {
    EXPECT_THROW(OpenModelFile(kCorpus + "/" + archive), Error) << archive;
  }
}

TEST(ModelFileTest, TellsTorch2TorchScriptAndExportedPrograms) {
  EXPECT_EQ(OpenModelFile(testing::Torch2Path("scripted.pt")).kind, FileKind::kTorchScript);
  EXPECT_EQ(OpenModelFile(testing::Torch2Path("save.pt")).kind, FileKind::kTorchSave);
  EXPECT_EQ(OpenModelFile(testing::Torch2Path("package.pt")).kind, FileKind::kTorchPackage);
  const ModelFile exported = OpenModelFile(testing::Torch2Path("exported.pt2"));
  EXPECT_EQ(exported.kind, FileKind::kTorchExport);
  EXPECT_NE(exported.zip->Find("serialized_exported_program.json"), nullptr);
  EXPECT_EQ(FileKindName(FileKind::kTorchExport), "torch.export");
}

TEST(ModelFileTest, RecognisesTheLegacyFormatsHead) {
  // What torch.save(..., _use_new_zipfile_serialization=False) writes first:
  // PROTO 2, then the magic number as a LONG1.
  const std::string legacy("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  EXPECT_TRUE(IsLegacyTorchSave(legacy));
  EXPECT_FALSE(IsLegacyTorchSave(std::string("\x80\x02}q\x00.", 6)));  // a plain pickle
  EXPECT_FALSE(IsLegacyTorchSave("PK\x03\x04"));
  std::string tar(512, '\0');
  tar.replace(257, 5, "ustar");
  EXPECT_TRUE(IsLegacyTorchSave(tar));
}

TEST(FileStructureTest, EqualsTorchsTextForEveryPackage) {
  for (const std::string& archive : CorpusArchives("torch.package")) {
    const Json facts = Facts(archive)["package"];
    const ZipReader zip = ZipReader::Open(kCorpus + "/" + archive);
    // The corpus opened each archive by its relative name, which roots the tree.
    EXPECT_EQ(
        FileStructureText(archive, RecordNames(zip), GlobGroup("**", GlobPattern::Tuple({}), "/")),
        facts["file_structure"].string)
        << archive;
    EXPECT_EQ(FileStructureText(archive, RecordNames(zip), GlobGroup("**", {".data/**"}, "/")),
              facts["file_structure_exclude_data"].string)
        << archive;
  }
}

TEST(FileStructureTest, FollowsTorchsDirectoryRules) {
  const std::vector<std::string> records = {"b/x.py", "a.py", "b/c/d.txt", "z/", ".data/version"};
  const GlobGroup all("**", GlobPattern::Tuple({}), "/");
  EXPECT_EQ(FileStructureText("m.pt", records, all),
            "─── m.pt\n"
            "    ├── .data\n"
            "    │   └── version\n"
            "    ├── b\n"
            "    │   ├── c\n"
            "    │   │   └── d.txt\n"
            "    │   └── x.py\n"
            "    └── a.py\n");  // "z/" has an empty segment, which "**" never matches
  EXPECT_EQ(FileStructureText("m.pt", records, GlobGroup("b/*", GlobPattern::Tuple({}), "/")),
            "─── m.pt\n    └── b\n        └── x.py\n");
  EXPECT_EQ(FileStructureText("m.pt", {}, all), "─── m.pt\n");
}

TEST(ModelReportTest, ModuleListsEqualTheExportersForEveryPackage) {
  for (const std::string& archive : CorpusArchives("torch.package")) {
    const Json exporter = Facts(ExporterCase(archive))["exporter"];
    const ModelFile file = OpenModelFile(kCorpus + "/" + archive);
    const ModelReport r = InspectModel(*file.zip, file.kind);
    EXPECT_EQ(r.interned, exporter["interned_modules"].Strings()) << archive;
    EXPECT_EQ(r.externed, exporter["externed_modules"].Strings()) << archive;
    EXPECT_EQ(r.mocked, exporter["mocked_modules"].Strings()) << archive;
    EXPECT_EQ(r.denied, exporter["denied_modules"].Strings()) << archive;
    EXPECT_EQ(r.metadata->deps_dot, exporter["dependency_graph_string"].string) << archive;
    EXPECT_TRUE(r.problems.empty()) << archive << ": " << r.problems.front();
    EXPECT_TRUE(r.unreadable.empty()) << archive;
    // Every graph node but the pickles, in insertion order, with its action.
    std::vector<std::string> want;
    for (const Json& node : exporter["graph_nodes_in_insertion_order"].array) {
      if (!node["is_pickle"].boolean)
        want.push_back(node["name"].string + " " + node["action"].string);
    }
    std::vector<std::string> got;
    for (const ModuleInfo& m : r.modules) {
      std::string action = m.action;
      for (char& c : action) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      got.push_back(m.name + " " + action);
    }
    EXPECT_EQ(got, want) << archive;
    for (const auto& [module, rdeps] : exporter["get_rdeps"].object) {
      for (const ModuleInfo& m : r.modules) {
        if (m.name == module) {
          EXPECT_EQ(m.needed_by, rdeps.Strings()) << archive << " " << module;
        }
      }
    }
  }
}

// One byte of a pickle's data flipped: the report still lists what it can,
// names the record as unreadable (the CLI then fails), and the generated
// files say the same, while a finding about a readable package is not that.
TEST(ModelReportTest, ADamagedPickleIsUnreadableNotJustAProblem) {
  const testing::ScratchDir dir;
  const std::string path = dir / "damaged.pt";
  {
    std::string bytes = testing::ReadFile(kCorpus + "/pkg_dtypes.pt");
    const ZipReader zip = ZipReader::Open(kCorpus + "/pkg_dtypes.pt");
    bytes[zip.DataOffset(*zip.Find("tensors/all.pkl")) + 40] ^= 1;
    testing::WriteFile(path, bytes);
  }
  const ModelFile file = OpenModelFile(path);
  const ModelReport r = InspectModel(*file.zip, file.kind);
  EXPECT_EQ(r.unreadable, std::vector<std::string>{"tensors/all.pkl"});
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems.front().find("CRC-32 mismatch"), std::string::npos) << r.problems.front();
  EXPECT_FALSE(r.externed.empty()) << "the readable pickle's modules are still listed";
  const ZipRecordSource records(*file.zip);
  EXPECT_EQ(GeneratePackageFiles(*file.zip, records).unreadable, r.unreadable);
  EXPECT_EQ(RegenerateMetadata(records).unreadable, r.unreadable);

  const ModelFile intact = OpenModelFile(kCorpus + "/pkg_dtypes.pt");
  EXPECT_TRUE(InspectModel(*intact.zip, intact.kind).unreadable.empty());
}

TEST(ModelReportTest, NamesTheRecordsThatProvideModules) {
  const ModelFile file = OpenModelFile(kCorpus + "/pkg_mocked.pt");
  const ModelReport r = InspectModel(*file.zip, file.kind);
  std::map<std::string, std::string> records;
  for (const ModuleInfo& m : r.modules) records[m.name] = m.record;
  EXPECT_EQ(records["corpus_mock.net"], "corpus_mock/net.py");
  EXPECT_EQ(records["corpus_mock.heavy_pkg"], "corpus_mock/heavy_pkg/__init__.py");
  EXPECT_EQ(records["torch"], "");
  ASSERT_EQ(r.pickles.size(), 1u);
  EXPECT_EQ(r.pickles[0].record, "model/net.pkl");
  EXPECT_EQ(r.storages, r.pickles[0].storage_records.size());
}

TEST(ModelReportTest, TorchSaveModulesAndStoragesComeFromItsPickle) {
  const ModelFile file = OpenModelFile(kCorpus + "/torch_save_checkpoint.pth");
  const ModelReport r = InspectModel(*file.zip, file.kind);
  EXPECT_EQ(r.format_version, "3");
  ASSERT_EQ(r.pickles.size(), 1u);
  EXPECT_EQ(r.pickles[0].record, "data.pkl");
  uint64_t bytes = 0;
  for (const std::string& storage : r.pickles[0].storage_records) {
    ASSERT_NE(file.zip->Find(storage), nullptr) << storage;
    bytes += file.zip->Find(storage)->size;
  }
  EXPECT_EQ(r.storages, r.pickles[0].storage_records.size());
  EXPECT_EQ(r.storage_bytes, bytes);
  EXPECT_GT(r.storages, 0u);
  for (const ModuleInfo& m : r.modules) {
    EXPECT_EQ(m.action, "extern") << m.name;
    EXPECT_EQ(m.needed_by, std::vector<std::string>{"data.pkl"});
  }
  EXPECT_TRUE(r.problems.empty());
}

TEST(ModelReportTest, TorchScriptModulesAreItsCodeRecords) {
  const ModelFile file = OpenModelFile(testing::Torch2Path("scripted.pt"));
  const ModelReport r = InspectModel(*file.zip, file.kind);
  size_t scripted = 0;
  for (const ModuleInfo& m : r.modules) {
    if (m.action != "torchscript") continue;
    ++scripted;
    EXPECT_TRUE(m.name.starts_with("__torch__")) << m.name;
    EXPECT_NE(file.zip->Find(m.record), nullptr) << m.name;
  }
  EXPECT_GT(scripted, 0u);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_FALSE(r.serialization_id.empty());
}

TEST(ModelReportTest, ExportedProgramNamesItsOperatorsAndTheModulesOfItsWeights) {
  const ModelFile file = OpenModelFile(testing::Torch2Path("exported.pt2"));
  const ModelReport r = InspectModel(*file.zip, file.kind);
  // What torch.load imports for the nested torch.save files (pickles' globals).
  std::vector<std::string> modules;
  for (const ModuleInfo& m : r.modules) {
    modules.push_back(m.name);
    EXPECT_EQ(m.action, "extern");
    EXPECT_EQ(m.needed_by.front(), "serialized_state_dict.pt/data.pkl");
  }
  EXPECT_EQ(modules, (std::vector<std::string>{"torch._utils", "torch", "collections"}));
  // TwoLayers.forward: l1(relu(l0(x))) * scale, as torch 2.6 exported it.
  std::vector<std::pair<std::string, uint64_t>> operators;
  for (const ExportOperator& op : r.operators) {
    operators.emplace_back(op.target, op.calls);
    EXPECT_EQ(op.ns, "aten");
    EXPECT_EQ(op.registered_by, "torch");
    EXPECT_EQ(op.problem, "");
  }
  EXPECT_EQ(operators, (std::vector<std::pair<std::string, uint64_t>>{
                           {"torch.ops.aten.linear.default", 2},
                           {"torch.ops.aten.relu.default", 1},
                           {"torch.ops.aten.mul.Tensor", 1}}));
  EXPECT_EQ(r.prefix, "");
  EXPECT_EQ(r.records, 5u);
  EXPECT_FALSE(r.format_version.empty());
  // The storages of its nested torch.save files: serialized_state_dict.pt holds
  // l0.weight [4, 3], l0.bias [4], l1.weight [2, 4], l1.bias [2] and scale [2], float32.
  EXPECT_EQ(r.storages, 5u);
  EXPECT_EQ(r.storage_bytes, (12u + 4 + 8 + 2 + 2) * 4);
  EXPECT_TRUE(r.problems.empty());
}

TEST(ExportOperatorsTest, NestedGraphsOperatorArgumentsAndTargetsTorchCannotResolve) {
  const std::string program = R"({"graph_module": {"graph": {"nodes": [
      {"target": "torch.ops.aten.add.Tensor", "inputs": []},
      {"target": "torch.ops.higher_order.cond", "inputs": [
        {"name": "true_fn", "arg": {"as_graph": {"name": "g", "graph": {"nodes": [
          {"target": "torch.ops.aten.relu.default"},
          {"target": "torch.ops.aten.add.Tensor"}]}}}}]},
      {"target": "torch.ops.higher_order.auto_functionalized", "inputs": [
        {"name": "_op", "arg": {"as_operator": "torch.ops.mylib.foo.default"}}]},
      {"target": "_operator.add"}, {"target": "torch.sym_max"},
      {"target": "math.ceil"}, {"target": "#myext:op"},
      {"target": "torch.ops.torchvision.nms.default"}]}}})";
  const std::vector<ExportOperator> ops = ExportOperatorsOf(program);
  std::map<std::string, ExportOperator> by_target;
  for (const ExportOperator& op : ops) by_target[op.target] = op;
  ASSERT_EQ(ops.size(), 10u);
  EXPECT_EQ(ops.front().target, "torch.ops.aten.add.Tensor");
  EXPECT_EQ(by_target["torch.ops.aten.add.Tensor"].calls, 2u);
  EXPECT_EQ(by_target["torch.ops.aten.relu.default"].calls, 1u);
  EXPECT_EQ(by_target["torch.ops.higher_order.cond"].registered_by, "torch");
  EXPECT_EQ(by_target["torch.ops.mylib.foo.default"].ns, "mylib");
  EXPECT_EQ(by_target["torch.ops.mylib.foo.default"].registered_by, "");
  EXPECT_EQ(by_target["_operator.add"].registered_by, "python");
  EXPECT_EQ(by_target["torch.sym_max"].ns, "torch");
  EXPECT_EQ(by_target["torch.ops.torchvision.nms.default"].registered_by, "torchvision");
  EXPECT_EQ(by_target["#myext:op"].ns, "myext");
  EXPECT_EQ(by_target["#myext:op"].problem, "");
  EXPECT_NE(by_target["math.ceil"].problem, "");
  for (const ExportOperator& op : ops)
    if (op.target != "math.ceil") EXPECT_EQ(op.problem, "") << op.target;
}

TEST(ExportOperatorsTest, BadOrDeeplyNestedJsonIsAnErrorOrWalkedWithoutRecursion) {
  EXPECT_THROW(ExportOperatorsOf("{\"nodes\": ["), Error);
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "[";
  deep += R"({"nodes": [{"target": "torch.ops.aten.neg.default"}]})";
  for (int i = 0; i < 100000; ++i) deep += "]";
  try {
    const std::vector<ExportOperator> ops = ExportOperatorsOf(deep);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].target, "torch.ops.aten.neg.default");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt);  // a parser's depth limit: refused, not a crash
  }
}

TEST(DependencyPathsTest, EveryPathFromARootCyclesCut) {
  DepGraph g;
  g.AddEdge("<p.pkl>", "a");
  g.AddEdge("a", "b");
  g.AddEdge("<p.pkl>", "b");
  g.AddEdge("b", "a");  // a cycle
  g.AddEdge("s", "b");
  using Paths = std::vector<std::vector<std::string>>;
  EXPECT_EQ(DependencyPaths(g, "b", 100),
            (Paths{{"<p.pkl>", "a", "b"}, {"<p.pkl>", "b"}, {"s", "b"}}));
  EXPECT_EQ(DependencyPaths(g, "b", 2).size(), 2u);
  EXPECT_TRUE(DependencyPaths(g, "<p.pkl>", 100).empty());
  EXPECT_TRUE(DependencyPaths(g, "nope", 100).empty());
}

TEST(PackageFilesTest, DepsDotAndExternModulesEqualTorchsForEveryPackage) {
  for (const std::string& archive : CorpusArchives("torch.package")) {
    const ZipReader zip = ZipReader::Open(kCorpus + "/" + archive);
    EXPECT_EQ(GeneratedFilePaths(zip),
              (std::vector<std::string>{".data/extern_modules", ".data/deps.dot"}));
    const GeneratedFiles files = GeneratePackageFiles(zip, ZipRecordSource(zip));
    EXPECT_EQ(*files.Content(kDepsDotPath),
              Facts(ExporterCase(archive))["exporter"]["dependency_graph_string"].string);
    EXPECT_EQ(*files.Content(kExternModulesPath),
              Facts(archive)["package"]["extern_modules_raw"].string);
    EXPECT_THROW(files.Content(".data/version"), Error);
  }
  const ZipReader save = ZipReader::Open(kCorpus + "/torch_save_checkpoint.pth");
  EXPECT_TRUE(GeneratedFilePaths(save).empty());
}

}  // namespace
}  // namespace tpkg
