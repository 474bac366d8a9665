// Metadata regeneration: every torch.package archive of the corpus gets its
// own .data/extern_modules back byte for byte and the dependency graph torch
// built (dependency_graph_string(), node order and actions, interned/mocked
// lists, rdeps); edited archives get the documented extern order and every
// problem reported at once.
#include "tpkg/metadata.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "corpus_facts.h"
#include "edited_records.h"
#include "json_lite.h"
#include "tpkg/dep_graph.h"
#include "tpkg/error.h"
#include "tpkg/policy.h"
#include "zip_test_util.h"

namespace tpkg {
namespace {

using testing::CorpusExterns;
using testing::EditedRecords;
using testing::LinesOf;
using testing::Without;
using testing::Json;

// A corpus archive opened with our ZipReader (strict mode, as the mount does).
struct CorpusArchive {
  explicit CorpusArchive(const std::string& name)
      : zip(ZipReader::Open(std::string(TPKG_CORPUS_DIR) + "/" + name)), records(zip) {}
  CorpusArchive(const CorpusArchive&) = delete;
  ZipReader zip;
  ZipRecordSource records;
};

const std::string kCorpus = TPKG_CORPUS_DIR;

std::vector<std::string> PackageCases() {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpus)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".expected.json")) continue;
    const Json j = testing::ReadJsonFile(entry.path().string());
    if (j["kind"].string == "torch.package") out.push_back(name.substr(0, name.size() - 14));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The exporter facts of a case. pkg_deflated_by_zip_tool.pt is
// pkg_model_numpy.pt re-zipped by Info-ZIP (byte-sorted records, directory
// entries): no exporter ran for it, so the original's facts apply.
Json ExporterFacts(const std::string& archive) {
  const std::string source =
      archive == "pkg_deflated_by_zip_tool.pt" ? "pkg_model_numpy.pt" : archive;
  return testing::ReadJsonFile(kCorpus + "/" + source + ".expected.json")["exporter"];
}

Json PackageFacts(const std::string& archive) {
  return testing::ReadJsonFile(kCorpus + "/" + archive + ".expected.json")["package"];
}

class CorpusMetadataTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusMetadataTest, RegeneratesExternModulesByteForByte) {
  const CorpusArchive archive(GetParam());
  const RecordSource& records = archive.records;
  const Metadata m = RegenerateMetadata(records);
  EXPECT_EQ(m.problems, "");
  EXPECT_EQ(m.extern_modules_text, PackageFacts(GetParam())["extern_modules_raw"].string);
}

TEST_P(CorpusMetadataTest, ExternModulesNeedNoPreviousList) {
  // Without the previous list the order is pure graph order: still torch's.
  const CorpusArchive archive(GetParam());
  const RecordSource& records = archive.records;
  MetadataOptions options;
  options.previous_externs = std::vector<std::string>{};
  EXPECT_EQ(RegenerateMetadata(records, options).extern_modules_text,
            PackageFacts(GetParam())["extern_modules_raw"].string);
}

TEST_P(CorpusMetadataTest, DepsDotIsTorchsDependencyGraphString) {
  const CorpusArchive archive(GetParam());
  const RecordSource& records = archive.records;
  EXPECT_EQ(RegenerateMetadata(records).deps_dot,
            ExporterFacts(GetParam())["dependency_graph_string"].string);
}

TEST_P(CorpusMetadataTest, GraphNodesAndActionsMatchTheExporter) {
  const CorpusArchive archive(GetParam());
  const RecordSource& records = archive.records;
  const Metadata m = RegenerateMetadata(records);
  const Json facts = ExporterFacts(GetParam());
  std::vector<std::string> ours, theirs;
  for (DepGraph::NodeId id = 0; id < m.graph.size(); ++id) {
    const NodeAttrs& a = m.graph.attrs(id);
    ours.push_back(m.graph.name(id) + " " + std::string(a.action ? ActionName(*a.action) : "-"));
  }
  for (const Json& n : facts["graph_nodes_in_insertion_order"].array) {
    theirs.push_back(n["name"].string + " " + n["action"].string);
  }
  EXPECT_EQ(ours, theirs);
  EXPECT_EQ(m.interned, facts["interned_modules"].Strings());
  EXPECT_EQ(m.mocked, facts["mocked_modules"].Strings());
  for (const auto& [module, rdeps] : facts["get_rdeps"].object) {
    EXPECT_EQ(m.graph.Rdeps(module), rdeps.Strings()) << module;
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusMetadataTest, ::testing::ValuesIn(PackageCases()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(MetadataTest, CorpusHasEveryTorchPackageCase) { EXPECT_EQ(PackageCases().size(), 12u); }

TEST(MetadataTest, NeededExternsKeepTheirOrderNewOnesAreAppendedUnneededDropped) {
  const CorpusArchive base_archive("pkg_model_numpy.pt");
  const RecordSource& base = base_archive.records;
  EditedRecords edited(base);
  // util.py no longer imports math; model.py gains json and a new submodule.
  edited.Put("corpus_models/util.py", "import torch\n\ndef squash(x):\n    return torch.tanh(x)\n");
  edited.Put("corpus_models/model.py", base.ReadRecord("corpus_models/model.py") +
                                           "import json\nimport corpus_models.extra\n");
  edited.Put("corpus_models/extra.py", "import email.utils\n");
  const Metadata m = RegenerateMetadata(edited);
  EXPECT_EQ(m.problems, "");
  // The archive's list (numpy, torch, math, collections, ..., numpy.core.multiarray with
  // torch 1.13) without math, then the new ones in the order the edits import them.
  std::vector<std::string> want = Without(CorpusExterns("pkg_model_numpy.pt"), {"math"});
  want.insert(want.end(), {"json", "email.utils"});
  EXPECT_EQ(m.extern_modules_text, LinesOf(want));
  EXPECT_EQ(m.interned, (std::vector<std::string>{"corpus_models", "corpus_models.extra",
                                                  "corpus_models.layers", "corpus_models.model",
                                                  "corpus_models.util"}));
}

TEST(MetadataTest, PreviousOrderWinsOverDiscoveryOrder) {
  const CorpusArchive records_archive("pkg_dtypes.pt");
  const RecordSource& records = records_archive.records;
  MetadataOptions options;
  options.previous_externs = std::vector<std::string>{"collections", "gone", "torch"};
  EXPECT_EQ(RegenerateMetadata(records, options).extern_modules_text,
            "collections\ntorch\ntorch._utils\n");
}

TEST(MetadataTest, EveryProblemIsReportedAtOnce) {
  const CorpusArchive base_archive("pkg_model_numpy.pt");
  const RecordSource& base = base_archive.records;
  EditedRecords edited(base);
  edited.Remove("corpus_models/util.py");  // model.py: `from . import util`
  edited.Put("corpus_models/layers.py", "import torch\nimport corpus_models.util\n");
  edited.Put("corpus_models/broken.py", "def (:\n  !!syntax error!!\n");
  edited.Put("model/model.pkl", std::string("\x80\x03garbage", 9));
  edited.Put("torch/extra.txt", "files under an implicit extern");
  MetadataOptions options;
  options.baseline_records = base.RecordNames();
  options.deny.emplace_back("numpy.core.**");
  const Metadata m = RegenerateMetadata(edited, options);
  EXPECT_FALSE(m.ok());
  const std::string& p = m.problems;
  EXPECT_NE(p.find("* Dependency resolution failed.\n    corpus_models.broken\n      Context: "),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("* Module is imported by packaged code but is missing from the package.\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("    corpus_models.util\n      Context: imported by corpus_models.model, "
                   "corpus_models.layers\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("* Module layout would not load: inconsistent module structure.\n    torch\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("* Pickle could not be scanned for dependencies.\n    <model.model.pkl>\n"),
            std::string::npos)
      << p;
}

TEST(MetadataTest, DeniedModulesAreReported) {
  const CorpusArchive records_archive("pkg_model_numpy.pt");
  const RecordSource& records = records_archive.records;
  MetadataOptions options;
  options.deny.emplace_back("numpy.**");
  const Metadata m = RegenerateMetadata(records, options);
  // numpy and the module its arrays pickle through (numpy.core.multiarray with numpy 1,
  // numpy._core.multiarray with numpy 2), as the archive lists them.
  std::string want = "\n* Module was denied by a pattern.\n";
  for (const std::string& module : CorpusExterns("pkg_model_numpy.pt"))
    if (module == "numpy" || module.starts_with("numpy.")) want += "    " + module + "\n";
  EXPECT_EQ(m.problems, want);
}

TEST(MetadataTest, PickleUsingAMockedModuleIsReported) {
  const CorpusArchive base_archive("pkg_mocked.pt");
  const RecordSource& base = base_archive.records;
  EditedRecords edited(base);
  // GLOBAL corpus_mock.heavy Thing, EMPTY_TUPLE, NEWOBJ, STOP.
  static constexpr char kPickle[] =
      "\x80\x03"
      "ccorpus_mock.heavy\nThing\n)\x81.";
  edited.Put("model/other.pkl", std::string(kPickle, sizeof kPickle - 1));
  const Metadata m = RegenerateMetadata(edited);
  EXPECT_NE(
      m.problems.find("    corpus_mock.heavy\n      Context: Object(s) '['Thing']' from module "
                      "`corpus_mock.heavy` was mocked out"),
      std::string::npos)
      << m.problems;
}

TEST(MetadataTest, StubsWithoutMockFileAreReported) {
  const CorpusArchive base_archive("pkg_mocked.pt");
  const RecordSource& base = base_archive.records;
  EditedRecords edited(base);
  edited.Remove("_mock.py");
  const Metadata m = RegenerateMetadata(edited);
  EXPECT_NE(m.problems.find("    _mock\n      Context: mock stubs import it"), std::string::npos)
      << m.problems;
}

TEST(MetadataTest, ModuleFileBeforeItsFolderIsReported) {
  const CorpusArchive base_archive("pkg_minimal_text_only.pt");
  const RecordSource& base = base_archive.records;
  EditedRecords edited(base);
  edited.Put("a.py", "X = 1\n").Put("a/b.txt", "x");
  const Metadata m = RegenerateMetadata(edited);
  EXPECT_NE(
      m.problems.find("* Module layout would not load: inconsistent module structure.\n    a\n"),
      std::string::npos)
      << m.problems;
}

// torch's reader hands every record name to Python as str: one that is not
// UTF-8 fails PackageImporter's constructor (UnicodeDecodeError).
TEST(MetadataTest, ARecordNameThatIsNotUtf8IsReported) {
  const CorpusArchive base_archive("pkg_minimal_text_only.pt");
  EditedRecords edited(base_archive.records);
  edited.Put("notes/caf\xe9.txt", "x");
  const Metadata m = RegenerateMetadata(edited);
  EXPECT_NE(m.problems.find("* Record name is not UTF-8: torch's importer cannot open the "
                            "package.\n    'notes/caf\\xe9.txt'\n      Context: its reader hands "
                            "every name to Python as str: UnicodeDecodeError\n"),
            std::string::npos)
      << m.problems;
  EXPECT_EQ(RegenerateMetadata(base_archive.records).problems, "");
}

TEST(MetadataTest, FromImportOfAnAttributeIsNotAMissingModule) {
  const CorpusArchive base_archive("pkg_model_numpy.pt");
  const RecordSource& base = base_archive.records;
  EditedRecords edited(base);
  edited.Put("corpus_models/layers.py", "import torch\nfrom corpus_models import NOT_A_MODULE\n");
  MetadataOptions options;
  options.baseline_records = base.RecordNames();
  EXPECT_EQ(RegenerateMetadata(edited, options).problems, "");
}

TEST(MetadataTest, ImportsOfModulesThatNeverExistedAreDroppedLikeTorchDoes) {
  const CorpusArchive base_archive("pkg_model_numpy.pt");
  const RecordSource& base = base_archive.records;
  EditedRecords edited(base);
  edited.Put("corpus_models/layers.py",
             "import torch\ntry:\n    import corpus_models.optional_accel\nexcept ImportError:\n"
             "    pass\n");
  MetadataOptions options;
  options.baseline_records = base.RecordNames();
  const Metadata m = RegenerateMetadata(edited, options);
  EXPECT_EQ(m.problems, "");
  EXPECT_EQ(m.extern_modules_text, LinesOf(CorpusExterns("pkg_model_numpy.pt")));
}

TEST(MetadataTest, UnreachedStubsAreStillMocked) {
  const CorpusArchive base_archive("pkg_minimal_text_only.pt");
  const RecordSource& base = base_archive.records;
  EditedRecords edited(base);
  edited.Put("_mock.py", "# support\n").Put("lone/stub.py", std::string(kMockStubSource));
  const Metadata m = RegenerateMetadata(edited);
  EXPECT_EQ(m.mocked, std::vector<std::string>{"lone.stub"});
  EXPECT_EQ(m.extern_modules_text, "\n");
}

}  // namespace
}  // namespace tpkg

namespace tpkg {
namespace {

using testing::MemoryRecords;

// The analysis scans each record once and keeps only names and references
// (metadata.h "Memory"): no node of the result holds a source text.
TEST(MetadataTest, ReadsEachSourceOnceAndKeepsNoSourceText) {
  const MemoryRecords records({
      {"p/__init__.py", "from p import a\n"},
      {"p/a.py", "import json\nfrom . import b\n"},
      {"p/b.py", "x = 1\n"},
      {"p/model.pkl", std::string("\x80\x03" "cp.a\nC\nq\x00.", 12)},
  });
  const Metadata m = RegenerateMetadata(records);
  EXPECT_EQ(m.problems, "");
  EXPECT_EQ(m.interned, (std::vector<std::string>{"p", "p.a", "p.b"}));
  EXPECT_EQ(m.extern_modules_text, "json\n");
  for (const char* source : {"p/__init__.py", "p/a.py", "p/b.py"}) {
    EXPECT_EQ(records.reads[source], 1) << source;
  }
  for (DepGraph::NodeId id = 0; id < m.graph.size(); ++id) {
    EXPECT_FALSE(m.graph.attrs(id).source.has_value()) << m.graph.name(id);
  }
}

// Records whose reads fail with a given code (the prefix still reads, as a
// stored record's first bytes do without a CRC check).
class FailingRecords : public MemoryRecords {
 public:
  FailingRecords(std::vector<std::pair<std::string, std::string>> records,
                 std::map<std::string, Errc> failures)
      : MemoryRecords(std::move(records)), failures_(std::move(failures)) {}
  std::string ReadRecord(const std::string& name) const override {
    if (const auto it = failures_.find(name); it != failures_.end())
      throw Error(it->second, name + ": made to fail");
    return MemoryRecords::ReadRecord(name);
  }
  std::string ReadPrefix(const std::string& name, size_t n) const override {
    return MemoryRecords::ReadRecord(name).substr(0, n);
  }

 private:
  std::map<std::string, Errc> failures_;
};

// Metadata::unreadable is damage, whatever the record's name: bytes that fail
// their CRC (kCorrupt), or a `.pkl` that starts as a pickle and does not
// scan. A record too large to analyse or an I/O error is a problem, not
// damage; a non-`.pkl` record that does not scan is simply not a pickle.
TEST(MetadataTest, UnreadableRecordsAreTheDamagedOnes) {
  const std::string pickle("\x80\x03" "cp.a\nC\nq\x00.", 12);
  const std::string broken("\x80\x03\xff\xff\xff", 5);
  const FailingRecords records(
      {
          {"p/__init__.py", ""},
          {"p/a.py", "x = 1\n"},
          {"p/crc.pkl", pickle},
          {"p/model.pt", pickle},
          {"p/broken.pkl", broken},
          {"p/blob.bin", broken},
          {"p/big.pkl", pickle},
          {"p/io.pkl", pickle},
          {"p/good.pkl", pickle},
      },
      {{"p/crc.pkl", Errc::kCorrupt},
       {"p/model.pt", Errc::kCorrupt},
       {"p/big.pkl", Errc::kUnsupported},
       {"p/io.pkl", Errc::kIo}});
  const Metadata m = RegenerateMetadata(records);
  EXPECT_EQ(m.unreadable, (std::vector<std::string>{"p/crc.pkl", "p/model.pt", "p/broken.pkl"}));
  for (const char* pkl : {"p/crc.pkl", "p/broken.pkl", "p/big.pkl", "p/io.pkl"})
    EXPECT_NE(m.problems.find(pkl), std::string::npos) << pkl << " in\n" << m.problems;
  EXPECT_EQ(m.problems.find("p/blob.bin"), std::string::npos) << m.problems;
  EXPECT_NE(m.deps_dot.find("<p.good.pkl>"), std::string::npos) << "readable pickles stay";

  const FailingRecords intact({{"p/a.py", "x = 1\n"}, {"p/good.pkl", pickle}}, {});
  EXPECT_TRUE(RegenerateMetadata(intact).unreadable.empty());
}

// A source whose bytes fail their CRC: its module stays (the importer finds
// the record), its imports are unknown, and it is damage (unreadable, and a
// problem), while the other sources are analysed. An I/O error is not damage.
TEST(MetadataTest, ADamagedSourceIsAProblemAndTheRestIsAnalysed) {
  const std::vector<std::pair<std::string, std::string>> files = {
      {"p/__init__.py", ""}, {"p/a.py", "import json\n"}, {"p/b.py", "import os\n"}};
  const Metadata m = RegenerateMetadata(FailingRecords(files, {{"p/b.py", Errc::kCorrupt}}));
  EXPECT_EQ(m.unreadable, std::vector<std::string>{"p/b.py"});
  EXPECT_NE(m.problems.find("Source could not be read to find its imports."), std::string::npos)
      << m.problems;
  EXPECT_NE(m.problems.find("p.b"), std::string::npos) << m.problems;
  EXPECT_EQ(m.interned, (std::vector<std::string>{"p", "p.a", "p.b"}));
  EXPECT_EQ(m.externs, std::vector<std::string>{"json"});

  EXPECT_THROW(RegenerateMetadata(FailingRecords(files, {{"p/b.py", Errc::kIo}})), Error);
}

// A save's check of pickle globals reads the globals' sources: a damaged
// one is the damaged-source problem it already is, never an exception that
// would hide the rest, nor a global it "no longer defines".
TEST(MetadataTest, ASaveWithADamagedSourceOfAPickleGlobalReportsTheDamage) {
  const std::string pickle(
      "\x80\x03"
      "cp.a\nC\nq\x00.",
      12);  // p.a.C
  const std::vector<std::pair<std::string, std::string>> files = {
      {"p/__init__.py", ""}, {"p/a.py", "class C: pass\n"}, {"p/m.pkl", pickle}};
  const FailingRecords records(files, {{"p/a.py", Errc::kCorrupt}});
  MetadataOptions options;
  options.baseline_records = records.RecordNames();
  options.baseline = std::make_shared<MemoryRecords>(files);  // as opened: intact
  options.edited = [](const std::string& record) { return record == "p/a.py"; };
  const Metadata m = RegenerateMetadata(records, options);
  EXPECT_NE(m.problems.find("Source could not be read to find its imports."), std::string::npos)
      << m.problems;
  EXPECT_EQ(m.problems.find("Pickle global"), std::string::npos) << m.problems;
}

// torch writes a source with dependencies=False without parsing it: one that
// does not parse, or imports beyond its top package, loads until imported.
// A save blames only the sources its edits wrote.
TEST(MetadataTest, ASaveBlamesOnlyEditedSourcesThatDoNotResolve) {
  const std::vector<std::pair<std::string, std::string>> files = {
      {"top/rel.py", "from .. import nothing\n"},
      {"top/bad.py", "def f(:\n    pass\n"},
      {"top/ok.py", "import math\n"}};
  const MemoryRecords records(files);
  EXPECT_NE(RegenerateMetadata(records).problems.find("top.rel"), std::string::npos)
      << "outside a save, every such source is named";
  MetadataOptions options;
  options.baseline_records = records.RecordNames();
  options.baseline = std::make_shared<MemoryRecords>(files);
  options.edited = [](const std::string& record) { return record == "top/ok.py"; };
  EXPECT_EQ(RegenerateMetadata(records, options).problems, "");
  options.edited = [](const std::string& record) { return record == "top/bad.py"; };
  const Metadata m = RegenerateMetadata(records, options);
  EXPECT_NE(m.problems.find("top.bad\n      Context: invalid syntax"), std::string::npos)
      << m.problems;
  EXPECT_EQ(m.problems.find("top.rel"), std::string::npos) << m.problems;
}

// Such a source that an edit makes a loader run is a problem again: imported
// by an edited source, loaded from by an edited pickle, or the package above
// an edited module (importing it runs the package's __init__.py).
TEST(MetadataTest, ASaveBlamesUneditedSourcesThatEditsNowReach) {
  const std::string pickle_of_f(
      "\x80\x03"
      "ctop.bad\nf\nq\x00.",
      17);  // top.bad.f
  struct Case {
    std::string edited, text, blamed;
  };
  for (const Case& c :
       {Case{"top/ok.py", "import top.bad\n", "top.bad"},
        Case{"top/ok.py", "from .bad import f\n", "top.bad"}, Case{"m.pkl", pickle_of_f, "top.bad"},
        Case{"broken/ok.py", "X = 2\n", "broken\n"}}) {
    std::vector<std::pair<std::string, std::string>> files = {
        {"top/bad.py", "def f(:\n    pass\n"},
        {"top/ok.py", "import math\n"},
        {"broken/__init__.py", "from ... import up\n"},
        {"broken/ok.py", "X = 1\n"},
        {"m.pkl", std::string("\x80\x03}q\x00.", 6)}};
    MetadataOptions options;
    options.baseline = std::make_shared<MemoryRecords>(files);
    for (auto& [name, text] : files)
      if (name == c.edited) text = c.text;
    const MemoryRecords records(files);
    options.baseline_records = records.RecordNames();
    options.edited = [&c](const std::string& record) { return record == c.edited; };
    const Metadata m = RegenerateMetadata(records, options);
    EXPECT_NE(m.problems.find("    " + c.blamed), std::string::npos) << c.edited << m.problems;
  }
}

TEST(MetadataTest, OddRecordNamesAndBytesNeverCrash) {
  const std::string proto3 = "\x80\x03";
  const MemoryRecords records({
      {"", ""},
      {"/", ""},
      {"a//b.py", "import a\n"},
      {".py", "x"},
      {"__init__.py", "import os\n"},
      {"x/__init__.py/y", ""},
      {"p.pkl", proto3 + "c"},
      {"e.pkl", proto3 + "c\n\n."},
      {"q.bin", proto3 + "\xff\xff"},
      {"r.pkl", std::string("\x80\x05\x95", 3)},
      {"s/t.py", "from .... import x\n"},
      {"u.py", std::string("\xff\xfe\x00import sys", 13)},
      {"v.pkl", proto3 + "cos\nsystem\n."},
      {".data/extern_modules", "\r\nzz\r\n\n"},
      {"w/.hidden.py", "import w\n"},
  });
  Metadata m;
  ASSERT_NO_THROW(m = RegenerateMetadata(records));
  // r.pkl's protocol is not save_pickle's (a resource), but p.pkl does not scan.
  EXPECT_NE(m.problems.find("    <.p.pkl>\n"), std::string::npos) << m.problems;
  EXPECT_EQ(m.problems.find("<.r.pkl>"), std::string::npos) << m.problems;
}

TEST(MetadataTest, ThousandsOfModulesStayFast) {
  std::vector<std::pair<std::string, std::string>> records;
  for (int i = 0; i < 3000; ++i) {
    records.emplace_back("big/m" + std::to_string(i) + ".py",
                         "import json\nfrom big import m" + std::to_string((i + 1) % 3000) + "\n");
  }
  const Metadata m = RegenerateMetadata(MemoryRecords(std::move(records)));
  EXPECT_EQ(m.problems, "");
  EXPECT_EQ(m.extern_modules_text, "json\n");
  EXPECT_EQ(m.interned.size(), 3000u);  // `from big import m1` needs big.m1, not `big`
}

// A 60 KiB record name of 30,000 folders: every folder name was a copy of
// its prefix (about 1 GB); the analysis must fit in 512 MiB of address space.
int AnalyzeDeepNameUnderMemoryLimit() {
  const rlimit limit{512 << 20, 512 << 20};
  if (setrlimit(RLIMIT_AS, &limit) != 0) return 2;
  std::string deep = "p/";
  for (int i = 0; i < 30000; ++i) deep += "a/";
  const MemoryRecords records({{deep + "m.py", "import json\n"}, {"p/q.py", "import p.a\n"}});
  MetadataOptions options;
  options.baseline_records = {deep + "m.py", "p/q.py"};
  const Metadata m = RegenerateMetadata(records, options);
  return m.problems.empty() && m.interned.size() == 3 && m.extern_modules_text == "json\n" ? 0 : 1;
}

TEST(MetadataTest, DeepRecordNamesTakeMemoryInProportionToTheirLength) {
  EXPECT_EXIT(std::exit(AnalyzeDeepNameUnderMemoryLimit()), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace tpkg

namespace tpkg {
namespace {

// An archive's sources are read a run at a time (RecordSource::
// ReadSmallRecords): damaged ones in the middle of a run (bytes that fail
// their CRC, a local header that disagrees with the central directory) are
// found as when each source is read by itself, with the same problems,
// and the sources around them are analysed as before.
class OneAtATime : public ZipRecordSource {
 public:
  using ZipRecordSource::ZipRecordSource;
  std::vector<std::optional<std::string>> ReadSmallRecords(
      std::span<const std::string> names) const override {
    return RecordSource::ReadSmallRecords(names);  // none: each is read by ReadRecord
  }
};

TEST(MetadataTest, DamagedSourcesReadInARunAreFoundAsWhenReadAlone) {
  std::vector<testing::Record> records{{"p/__init__.py", ""}};
  for (int i = 10; i < 50; ++i) {
    const std::string module = i == 17 ? "os" : i == 33 ? "csv" : "json";
    records.push_back({"p/m" + std::to_string(i) + ".py",
                       "import " + module + "\n# source " + std::to_string(i) + "\n"});
  }
  records.push_back({".data/version", "6\n"});
  std::string bytes = testing::BuildArchive("pk", records);
  bytes[bytes.find("# source 25") + 3] = 'X';                    // its CRC-32 fails
  testing::Put16(bytes, bytes.find("pk/p/m40.py") - 30 + 8, 8);  // its local header's method
  testing::TempDir dir;
  const std::string path = dir.Write("pk.pt", bytes);
  const ZipReader batched_zip = ZipReader::Open(path, testing::kDeferred);
  const ZipReader alone_zip = ZipReader::Open(path, testing::kDeferred);
  const Metadata batched = RegenerateMetadata(ZipRecordSource(batched_zip));
  const Metadata alone = RegenerateMetadata(OneAtATime(alone_zip));
  EXPECT_EQ(batched.unreadable, (std::vector<std::string>{"p/m25.py", "p/m40.py"}));
  EXPECT_EQ(batched.unreadable, alone.unreadable);
  EXPECT_EQ(batched.problems, alone.problems);
  EXPECT_NE(batched.problems.find("CRC"), std::string::npos) << batched.problems;
  EXPECT_NE(batched.problems.find("local header disagrees"), std::string::npos) << batched.problems;
  EXPECT_EQ(batched.externs, (std::vector<std::string>{"json", "os", "csv"}));
  EXPECT_EQ(batched.externs, alone.externs);
  EXPECT_EQ(batched.interned, alone.interned);
  EXPECT_EQ(batched.deps_dot, alone.deps_dot);
}

}  // namespace
}  // namespace tpkg
