// scan_test.cc: `tpkg scan`'s library (tpkg/scan.h): the policy and its
// patterns, pickles as CPython runs them (memo'd and computed STACK_GLOBAL,
// EXT codes, INST/OBJ/NEWOBJ, frames, several and nested pickles, legacy
// streams), torch.package resolution and interned sources, container
// findings, exit statuses and the output formats. The hostile corpus and the
// CLI are tested in tests/integration/test_tpkg_scan.py.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <string>

#include "base/name_pattern.h"
#include "scan/pickle_sniff.h"
#include "scratch_dir.h"
#include "tpkg/scan.h"
#include "tpkg/zip_writer.h"

namespace tpkg {
namespace {

using testing::ScratchDir;
using namespace std::string_literals;  // literals with NUL bytes

const ScanPolicy& Policy() {
  static const ScanPolicy policy = ScanPolicy::Default();
  return policy;
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

ScanFileResult ScanBytes(std::string_view bytes, const std::string& name = "x.pkl") {
  ScratchDir dir;
  WriteFile(dir / name, bytes);
  ScanFileResult r = ScanFile(dir / name, Policy());
  return r;
}

void WriteZip(const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& records) {
  ZipWriter w = ZipWriter::Create(path, "archive");
  for (const auto& [name, data] : records) w.AddRecord(name, std::span<const char>(data));
  w.Finish();
}

bool HasRule(const ScanFileResult& r, const std::string& rule, Severity severity) {
  for (const ScanFinding& f : r.findings)
    if (f.rule == rule && f.severity == severity) return true;
  return false;
}

const std::string kOsSystem = "cos\nsystem\n(S'id'\ntR.";

TEST(ScanPolicyTest, PatternsMatchDottedNamesWithStars) {
  EXPECT_TRUE(MatchNamePattern("torch.*Storage", "torch.FloatStorage"));
  EXPECT_TRUE(MatchNamePattern("torch.nn.modules.*", "torch.nn.modules.linear.Linear"));
  EXPECT_FALSE(MatchNamePattern("torch.*Storage", "torch.FloatStorageX"));
  EXPECT_TRUE(MatchNamePattern("*", ""));
  EXPECT_FALSE(MatchNamePattern("os.system", "os.systemx"));
  // Many stars over a long name stay fast (one backtrack point).
  EXPECT_FALSE(MatchNamePattern("*a*a*a*a*a*a*b", std::string(20000, 'a')));
}

TEST(ScanPolicyTest, DefaultAllowsWhatTorchWritesAndNothingElse) {
  const ScanPolicy& p = Policy();
  EXPECT_TRUE(p.AllowsGlobal("torch.save", "torch._utils", "_rebuild_tensor_v2"));
  EXPECT_TRUE(p.AllowsGlobal("torch.save", "collections", "OrderedDict"));
  EXPECT_TRUE(p.AllowsGlobal("torch.package", "torch", "FloatStorage"));  // through @torch.save
  EXPECT_TRUE(p.AllowsGlobal("torch.package", "torch.nn.modules.linear", "Linear"));
  EXPECT_FALSE(p.AllowsGlobal("torch.save", "torch.nn.modules.linear", "Linear"));
  EXPECT_TRUE(p.AllowsGlobal("torchscript", "__torch__.m", "Affine"));
  EXPECT_FALSE(p.AllowsGlobal("torch.save", "os", "system"));
  EXPECT_FALSE(p.AllowsGlobal("no such kind", "collections", "OrderedDict"));
  // An attribute path is allowed only by its exact name, never by a wildcard.
  EXPECT_FALSE(p.AllowsGlobal("torch.package", "torch.nn.modules.linear",
                              "torch.serialization.os.system"));
  EXPECT_FALSE(p.AllowsGlobal("torch.save", "torch", "serialization.os.FloatStorage"));
  EXPECT_TRUE(p.IsDangerousGlobal("os", "system"));
  EXPECT_TRUE(p.IsDangerousGlobal("os.path", "join"));
  EXPECT_TRUE(p.IsDangerousGlobal("anything", "eval"));
  EXPECT_FALSE(p.IsDangerousGlobal("numpy", "ndarray"));
  EXPECT_TRUE(p.IsDangerousCall("subprocess.run"));
  EXPECT_FALSE(p.IsDangerousCall("os.path.join"));
  EXPECT_TRUE(p.IsDangerousImport("subprocess"));
  EXPECT_FALSE(p.IsDangerousImport("os"));
}

TEST(ScanPolicyTest, ExtendAddsListsAndRejectsBadFiles) {
  ScanPolicy p = ScanPolicy::Default();
  p.Extend(R"({"allow": {"torch.save": ["mylib.*"]}})", "mine.json");
  EXPECT_TRUE(p.AllowsGlobal("torch.save", "mylib.sub", "Thing"));
  EXPECT_FALSE(Policy().AllowsGlobal("torch.save", "mylib.sub", "Thing"));
  EXPECT_THROW(p.Extend("[1]", "a.json"), Error);
  EXPECT_THROW(p.Extend(R"({"allow": {"torch.save": [1]}})", "b.json"), Error);
  EXPECT_THROW(p.Extend(R"({"deny": {}})", "c.json"), Error);
  // A misspelled kind or "@kind" would allow nothing, silently: refused.
  for (const char* text : {R"({"allow": {"torch.sav": ["datetime.datetime"]}})",
                           R"({"allow": {"torch.save": ["@torch.pack"]}})"}) {
    try {
      p.Extend(text, "kinds.json");
      ADD_FAILURE() << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("kinds.json: unknown file kind \"torch."),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("(known: torch.package, torch.save, torchscript)"),
                std::string::npos)
          << e.what();
    }
  }
  p.Extend(R"({"allow": {"torchscript": ["@torch.save"]}})", "included.json");
  try {
    p.Extend("{", "broken.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json"), std::string::npos);
  }
}

TEST(ScanPickleTest, GlobalNotAllowedHasOffsetAndOpcode) {
  ScanFileResult r = ScanBytes("\x80\x02" + kOsSystem);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule, "pickle.global-not-allowed");
  EXPECT_EQ(r.findings[0].severity, Severity::kMalicious);
  EXPECT_EQ(r.findings[0].offset, 2);
  EXPECT_EQ(r.findings[0].opcode, "GLOBAL");
  EXPECT_EQ(r.kind, "pickle");
  EXPECT_EQ(ScanExitStatus({r}), 1);
}

TEST(ScanPickleTest, StackGlobalFromTheMemoIsResolved) {
  std::string p = "\x80\x04\x8c\x02os\x94\x8c\x06system\x94" "00h\x00h\x01\x93N\x85R."s;
  ScanFileResult r = ScanBytes(p);
  ASSERT_EQ(r.findings.size(), 1u) << FormatScanText({r});
  EXPECT_EQ(r.findings[0].opcode, "STACK_GLOBAL");
  EXPECT_NE(r.findings[0].message.find("os.system"), std::string::npos);
  EXPECT_EQ(r.findings[0].offset, 22);  // the STACK_GLOBAL opcode
}

TEST(ScanPickleTest, ComputedStackGlobalIsMalicious) {
  std::string p = "\x80\x04" "cbuiltins\nstr\n\x8c\x02os\x85R\x8c\x06system\x93N\x85R.";
  ScanFileResult r = ScanBytes(p);
  EXPECT_TRUE(HasRule(r, "pickle.computed-global", Severity::kMalicious)) << FormatScanText({r});
  // builtins.str, which builds the name, is a plain data type the policy
  // allows: what it builds is the finding.
  EXPECT_FALSE(HasRule(r, "pickle.global-not-allowed", Severity::kMalicious));
}

TEST(ScanPickleTest, ExtensionCodesAreFindingsNotErrors) {
  for (std::string ext : {std::string("\x82\x01", 2), "\x83\x01\x00"s,
                          "\x84\x01\x00\x00\x00"s}) {
    ScanFileResult r = ScanBytes("\x80\x02" + ext + ")R.");
    EXPECT_TRUE(HasRule(r, "pickle.extension-code", Severity::kSuspicious));
    EXPECT_TRUE(r.unreadable.empty());
  }
}

TEST(ScanPickleTest, InstObjNewobjAndPython2NamesAreChecked) {
  EXPECT_TRUE(HasRule(ScanBytes("(S'1'\nibuiltins\neval\n."), "pickle.global-not-allowed",
                      Severity::kMalicious));
  EXPECT_TRUE(HasRule(ScanBytes("(cos\nsystem\nS'id'\no."), "pickle.global-not-allowed",
                      Severity::kMalicious));
  EXPECT_TRUE(HasRule(ScanBytes("\x80\x02" "c__builtin__\neval\nN\x85R."),
                      "pickle.global-not-allowed", Severity::kMalicious));
  ScanFileResult r = ScanBytes("\x80\x02" "cmylib\nThing\n)\x81}b.");
  EXPECT_TRUE(HasRule(r, "pickle.global-not-allowed", Severity::kSuspicious));
}

TEST(ScanPickleTest, FrameCrossingIsReported) {
  std::string p = "\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00"s +
                  "\x8c\x06" "abcdef.";
  EXPECT_TRUE(HasRule(ScanBytes(p), "pickle.frame-anomaly", Severity::kSuspicious));
}

TEST(ScanPickleTest, EveryPickleOfAStreamAndNestedPicklesAreChecked) {
  std::string benign = "\x80\x02}q\x00."s;
  ScanFileResult r = ScanBytes(benign + kOsSystem);
  EXPECT_TRUE(HasRule(r, "pickle.several-pickles", Severity::kInfo));
  EXPECT_TRUE(HasRule(r, "pickle.global-not-allowed", Severity::kMalicious));

  std::string inner = "\x80\x02" + kOsSystem;
  std::string outer = "\x80\x03" "c_pickle\nloads\nC" + std::string(1, char(inner.size())) +
                      inner + "\x85R.";
  r = ScanBytes(outer);
  int found = 0;
  for (const ScanFinding& f : r.findings)
    if (f.rule == "pickle.global-not-allowed") ++found;
  EXPECT_EQ(found, 2) << FormatScanText({r});
  bool nested = false;
  for (const ScanFinding& f : r.findings) nested |= f.record.find('@') != std::string::npos;
  EXPECT_TRUE(nested);
}

TEST(ScanPickleTest, UnreadableIsNeverClean) {
  ScanFileResult r = ScanBytes(kOsSystem.substr(0, 8));
  EXPECT_FALSE(r.unreadable.empty());
  EXPECT_EQ(ScanExitStatus({r}), 2);
  r = ScanBytes("");
  EXPECT_EQ(ScanExitStatus({r}), 2);
  ScanFileResult missing = ScanFile("/nonexistent/x.pkl", Policy());
  EXPECT_EQ(ScanExitStatus({missing}), 2);
  // Unreadable wins over findings and clean files.
  EXPECT_EQ(ScanExitStatus({ScanBytes("\x80\x02" + kOsSystem), missing}), 2);
}

TEST(ScanPickleTest, HostileSizesStayBounded) {
  // A million MARKs, then a million memo copies of one string: linear, no failure.
  std::string marks(1'000'000, '(');
  ScanFileResult r = ScanBytes(marks + ".");
  EXPECT_FALSE(r.unreadable.empty());  // STOP on a MARK: underflow, unreadable
  std::string memo = "\x80\x04\x8c\x02os\x94";
  for (int i = 0; i < 100000; ++i) memo += "h\x00"s;
  r = ScanBytes(memo + "0.");
  EXPECT_TRUE(r.unreadable.empty());
}

TEST(ScanPickleTest, LegacyStreamStopsAtTheStorageBytes) {
  std::string magic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  std::string small = "\x80\x02K\x01.";
  std::string legacy = magic + small + small + "\x80\x02}q\x00."s + "\x80\x02]q\x00."s +
                       std::string("\xff\xff garbage storage bytes", 24);
  ScanFileResult r = ScanBytes(legacy, "legacy.pt");
  EXPECT_EQ(r.kind, "torch.save (legacy)");
  EXPECT_TRUE(r.findings.empty()) << FormatScanText({r});
  EXPECT_EQ(ScanExitStatus({r}), 0);
}

TEST(ScanArchiveTest, TorchSaveZipAndKinds) {
  ScratchDir dir;
  WriteZip(dir / "ok.pt", {{"data.pkl", "\x80\x02" "ccollections\nOrderedDict\n)R."},
                           {"byteorder", "little"},
                           {"data/0", std::string("\x80\x02\xff", 3)},
                           {"version", "3\n"}});
  ScanFileResult r = ScanFile(dir / "ok.pt", Policy());
  EXPECT_EQ(r.kind, "torch.save");
  EXPECT_TRUE(r.findings.empty() && r.unreadable.empty()) << FormatScanText({r});

  WriteZip(dir / "bad.pt", {{"data.pkl", "\x80\x02" + kOsSystem}, {"version", "3\n"}});
  r = ScanFile(dir / "bad.pt", Policy());
  ASSERT_TRUE(HasRule(r, "pickle.global-not-allowed", Severity::kMalicious));
  EXPECT_EQ(r.findings[0].record, "data.pkl");
}

TEST(ScanArchiveTest, PackageResolvesInternedAndExternModulesAndChecksSources) {
  ScratchDir dir;
  std::string source = "import os\nimport subprocess as sp\n\ndef f():\n    sp.run(['id'])\n\n"
                       "def eval(x):\n    return x\n\nos.system('id')\nclass C:\n    pass\n";
  WriteZip(dir / "p.pt", {{".data/version", "6\n"},
                          {"m/__init__.py", source},
                          {"model.pkl", "\x80\x03" "cm\nC\n)\x81" "cnowhere\nX\n0."},
                          {".data/extern_modules", "torch\nsubprocess\n"}});
  ScanFileResult r = ScanFile(dir / "p.pt", Policy());
  EXPECT_EQ(r.kind, "torch.package");
  EXPECT_TRUE(r.unreadable.empty());
  std::map<std::string, ScanFinding> by_rule_line;
  for (const ScanFinding& f : r.findings) by_rule_line[f.rule + ":" + std::to_string(f.line)] = f;
  ASSERT_TRUE(by_rule_line.count("source.dangerous-call:10")) << FormatScanText({r});
  EXPECT_EQ(by_rule_line["source.dangerous-call:10"].severity, Severity::kMalicious);
  ASSERT_TRUE(by_rule_line.count("source.dangerous-call:5"));
  EXPECT_EQ(by_rule_line["source.dangerous-call:5"].severity, Severity::kSuspicious);
  EXPECT_NE(by_rule_line["source.dangerous-call:5"].message.find("subprocess.run"),
            std::string::npos);
  EXPECT_TRUE(by_rule_line.count("source.dangerous-import:2"));
  EXPECT_TRUE(by_rule_line.count("package.dangerous-extern:0"));
  EXPECT_TRUE(by_rule_line.count("package.module-not-provided:0"));
  EXPECT_FALSE(by_rule_line.count("source.dangerous-call:7"));  // `def eval` is no call
  for (const ScanFinding& f : r.findings) EXPECT_NE(f.rule, "pickle.global-not-allowed");
  // The minimal policy lists no interned global.
  EXPECT_TRUE(r.globals_by_kind.empty()) << FormatMinimalPolicy({r});
}

// Protocols 0 and 1 have no PROTO header: torch.package's load_pickle, and
// pickle.load on a record of any ZIP, still run them (scan/pickle_sniff.h).
TEST(ScanArchiveTest, HeaderlessProtocol0And1PicklesAreSniffedInResourcesAndRecords) {
  const std::string protocol1 = "cos\nsystem\n(X\x02\x00\x00\x00idtR."s;
  ScratchDir dir;
  WriteZip(dir / "p.pt", {{".data/version", "6\n"},
                          {"res/config.bin", kOsSystem},
                          {"res/blob", protocol1},
                          {"res/notes.txt", "See the model card. Nothing to run.\n"},
                          {"res/list.txt", "(cpu\ncuda\n"},
                          {".data/extern_modules", "torch\n"}});
  ScanFileResult r = ScanFile(dir / "p.pt", Policy());
  EXPECT_EQ(r.kind, "torch.package");
  EXPECT_TRUE(r.unreadable.empty()) << FormatScanText({r});
  // os is not extern: the importer refuses the global, a finding at the GLOBAL of each pickle.
  std::set<std::string> flagged;
  for (const ScanFinding& f : r.findings) {
    EXPECT_EQ(f.rule, "package.module-not-provided") << FormatScanText({r});
    EXPECT_EQ(f.opcode, "GLOBAL");
    EXPECT_EQ(f.offset, 0);
    flagged.insert(f.record);
  }
  // The text resources are not pickles.
  EXPECT_EQ(flagged, (std::set<std::string>{"res/config.bin", "res/blob"})) << FormatScanText({r});

  WriteZip(dir / "plain.zip", {{"payload", kOsSystem}, {"readme", "Nothing here.\n"}});
  r = ScanFile(dir / "plain.zip", Policy());
  ASSERT_TRUE(HasRule(r, "pickle.global-not-allowed", Severity::kMalicious)) << FormatScanText({r});
  EXPECT_EQ(r.findings.back().record, "payload");

  // A protocol 0 pickle inside a bytes operand of another pickle.
  std::string outer = "\x80\x03" "c_pickle\nloads\nC" + std::string(1, char(kOsSystem.size())) +
                      kOsSystem + "\x85R.";
  r = ScanBytes(outer);
  int found = 0;
  for (const ScanFinding& f : r.findings) found += f.rule == "pickle.global-not-allowed";
  EXPECT_EQ(found, 2) << FormatScanText({r});
}

// CPython runs each opcode as it reads it: a headerless stream that breaks
// after a call has made the call (scan/pickle_sniff.h). Compared with
// CPython's unpicklers in tests/python/test_pickle_sniff_cpython.py.
TEST(PickleSniffTest, HeaderlessStreamsThatCallBeforeTheyBreakArePickles) {
  using pickle::Sniff;
  using pickle::SniffPickle;
  const std::string call = "cos\nsystem\n(S'id'\ntR";
  EXPECT_EQ(SniffPickle(call + "."), Sniff::kHeaderless);
  EXPECT_EQ(SniffPickle(call), Sniff::kHeaderlessCallsBeforeBreak);
  EXPECT_EQ(SniffPickle(call + " and then some prose\n"), Sniff::kHeaderlessCallsBeforeBreak);
  EXPECT_EQ(SniffPickle("(cos\nsystem\nS'id'\no"), Sniff::kHeaderlessCallsBeforeBreak);
  EXPECT_EQ(SniffPickle("(S'id'\nios\nsystem\n"), Sniff::kHeaderlessCallsBeforeBreak);
  EXPECT_EQ(SniffPickle("csubprocess\nPopen\n)\x81"), Sniff::kHeaderlessCallsBeforeBreak);
  EXPECT_EQ(SniffPickle("(S'reduce_package'\ncos\nsystem\n(S'id'\nttQ"),
            Sniff::kHeaderlessCallsBeforeBreak);
  // Nothing called before the break.
  EXPECT_EQ(SniffPickle("cos\nsystem\n(S'id'\nt"), Sniff::kNo);    // cut before REDUCE
  EXPECT_EQ(SniffPickle("ios\nsystem\n(S'id'\nt"), Sniff::kNo);    // INST without MARK
  EXPECT_EQ(SniffPickle("cos\nsystem\nNR"), Sniff::kNo);           // func(*None) fails first
  EXPECT_EQ(SniffPickle("cos path\nsystem\n)R"), Sniff::kNo);      // no module of that name
  EXPECT_EQ(SniffPickle("cos\nsys.\n)R"), Sniff::kNo);
  EXPECT_EQ(SniffPickle("cos\nsystem\n"), Sniff::kNo);             // an import, no call
  for (const char* text : {"cuda\ncpu\n", "(c) 2024 Example\nconfig\nvalue\n",
                           "ID,name\n1,conv\n", "S'hello'\nS'world'\n", "Negative\nPositive\n",
                           "{\"lr\": 0.1}\n", "class Net:\n    pass\n", "import os\nos.system('x')\n"})
    EXPECT_EQ(SniffPickle(text), Sniff::kNo) << text;
}

TEST(ScanArchiveTest, BrokenHeaderlessResourceThatCallsIsAFinding) {
  ScratchDir dir;
  WriteZip(dir / "p.pt", {{".data/version", "6\n"},
                          {"res/cut.txt", "cos\nsystem\n(S'id'\ntR"},
                          {"res/prose.txt", "cos\nsystem\n(S'id'\ntR\nSee the model card.\n"},
                          {"res/devices.txt", "cuda\ncpu\n"},
                          {"res/global_only.txt", "cos\nsystem\n"},
                          {".data/extern_modules", "os\n"}});
  ScanFileResult r = ScanFile(dir / "p.pt", Policy());
  EXPECT_TRUE(r.unreadable.empty()) << FormatScanText({r});
  std::set<std::string> malicious, unreadable_info;
  for (const ScanFinding& f : r.findings) {
    if (f.rule == "pickle.global-not-allowed" && f.severity == Severity::kMalicious)
      malicious.insert(f.record);
    if (f.rule == "pickle.unreadable" && f.severity == Severity::kInfo)
      unreadable_info.insert(f.record);
  }
  const std::set<std::string> both{"res/cut.txt", "res/prose.txt"};
  EXPECT_EQ(malicious, both) << FormatScanText({r});
  EXPECT_EQ(unreadable_info, both) << FormatScanText({r});
  EXPECT_EQ(r.findings.size(), 4u) << FormatScanText({r});

  // Inside a bytes operand: pickle.loads runs it up to its break as well.
  const std::string broken = "cos\nsystem\n(S'id'\ntR";
  std::string outer = "\x80\x03" "c_pickle\nloads\nC" + std::string(1, char(broken.size())) +
                      broken + "\x85R.";
  r = ScanBytes(outer);
  int found = 0;
  for (const ScanFinding& f : r.findings) found += f.rule == "pickle.global-not-allowed";
  EXPECT_EQ(found, 2) << FormatScanText({r});
}

TEST(ScanArchiveTest, DuplicateNamesAreContainerFindingsAndEveryCopyIsScanned) {
  ScratchDir dir;
  WriteZip(dir / "a.pt", {{"data.pkl", "\x80\x02" + kOsSystem}, {"version", "3\n"}});
  // Append a second data.pkl by rewriting with a different name of equal length, then patch.
  WriteZip(dir / "dup.pt", {{"data.pkl", "\x80\x02" + kOsSystem},
                            {"dat2.pkl", "\x80\x02}q\x00."s},
                            {"version", "3\n"}});
  std::ifstream in(dir / "dup.pt", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t at; (at = bytes.find("archive/dat2.pkl")) != std::string::npos;)
    bytes.replace(at, 16, "archive/data.pkl");
  WriteFile(dir / "dup.pt", bytes);
  ScanFileResult r = ScanFile(dir / "dup.pt", Policy());
  EXPECT_TRUE(HasRule(r, "zip.container", Severity::kSuspicious)) << FormatScanText({r});
  EXPECT_TRUE(HasRule(r, "pickle.global-not-allowed", Severity::kMalicious));
}

TEST(ScanReportTest, JsonAndSarifCarryEveryFinding) {
  ScanFileResult r = ScanBytes("\x80\x02" + kOsSystem);
  r.path = "m.pkl";
  nlohmann::json j = nlohmann::json::parse(FormatScanJson({r}));
  EXPECT_EQ(j["exit_status"], 1);
  EXPECT_EQ(j["files"][0]["verdict"], "findings");
  EXPECT_EQ(j["files"][0]["findings"][0]["offset"], 2);
  EXPECT_EQ(j["files"][0]["findings"][0]["opcode"], "GLOBAL");
  nlohmann::json s = nlohmann::json::parse(FormatScanSarif({r}));
  EXPECT_EQ(s["version"], "2.1.0");
  const auto& run = s["runs"][0];
  EXPECT_EQ(run["results"][0]["ruleId"], "pickle.global-not-allowed");
  EXPECT_EQ(run["results"][0]["level"], "error");
  EXPECT_EQ(run["tool"]["driver"]["rules"][0]["id"], "pickle.global-not-allowed");
  EXPECT_EQ(run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "m.pkl");
  EXPECT_TRUE(run["invocations"][0]["executionSuccessful"]);
  nlohmann::json policy = nlohmann::json::parse(FormatMinimalPolicy({r}));
  EXPECT_EQ(policy["allow"]["torch.save"], nlohmann::json({"os.system"}));
}

TEST(ScanCorpusTest, RealTorchArchivesHaveNoFinding) {
  for (const char* name : {"pkg_model_numpy.pt", "pkg_mocked.pt", "pkg_resources.pt",
                           "pkg_shared_views.pt", "pkg_reduce_package.pt", "pkg_dtypes.pt",
                           "pkg_torchscript.pt", "pkg_fx_graph_module.pt",
                           "pkg_minimal_text_only.pt", "pkg_protocol4.pt", "pkg_repackaged.pt",
                           "torch_save_checkpoint.pth", "pkg_deflated_by_zip_tool.pt"}) {
    ScanFileResult r = ScanFile(std::string(TPKG_CORPUS_DIR) + "/" + name, Policy());
    EXPECT_TRUE(r.findings.empty() && r.unreadable.empty()) << FormatScanText({r});
  }
}

}  // namespace
}  // namespace tpkg
