// The checks a save runs (metadata.h "Rules for a save", load_checks.h):
// extern modules grow only on purpose, an interned module that disappears is
// a problem, pickles find their storages, the version is one torch loads.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "corpus_facts.h"
#include "edited_records.h"
#include "scratch_dir.h"
#include "tpkg/metadata.h"
#include "tpkg/model_tensors.h"

namespace tpkg {
namespace {

using testing::EditedRecords;
using testing::ScratchDir;

struct CorpusArchive {
  explicit CorpusArchive(const std::string& name)
      : zip(ZipReader::Open(std::string(TPKG_CORPUS_DIR) + "/" + name)), records(zip) {}
  ZipReader zip;
  ZipRecordSource records;
};

// A save's options over `edited` (whose base is `base`, which outlives them).
MetadataOptions SaveOptions(const RecordSource& base, const EditedRecords& edited) {
  MetadataOptions options;
  options.baseline_records = base.RecordNames();
  options.baseline = std::shared_ptr<const RecordSource>(&base, [](const RecordSource*) {});
  options.edited = [&edited](const std::string& record) { return edited.IsEdited(record); };
  return options;
}

// The metadata of a save of `edited` over `base`, judged in the Python
// environment `python` instead of the machine's.
Metadata SaveMetadataIn(const PythonPath& python, const RecordSource& base,
                        const EditedRecords& edited) {
  MetadataOptions options = SaveOptions(base, edited);
  options.python = &python;
  return RegenerateMetadata(edited, options);
}

constexpr const char* kMissingModule =
    "* Module is imported by packaged code but is missing from the package.\n";

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(SaveCheckTest, InternedModuleThatDisappearsIsAProblemNeverAnExtern) {
  // The module stays importable from outside (a copy on the Python path):
  // still not a reason to make it extern.
  ScratchDir python;
  std::filesystem::create_directories(python / "corpus_models");
  testing::WriteFile(python / "corpus_models/__init__.py", "");
  testing::WriteFile(python / "corpus_models/layers.py", "class Scale: pass\n");
  const PythonPath path(std::vector<std::string>{python.path()});
  const CorpusArchive base("pkg_model_numpy.pt");
  EditedRecords edited(base.records);
  edited.Remove("corpus_models/layers.py");  // model.py: from .layers import Scale
  const Metadata m = SaveMetadataIn(path, base.records, edited);
  EXPECT_TRUE(Has(m.problems, std::string(kMissingModule) + "    corpus_models.layers\n"))
      << m.problems;
  EXPECT_FALSE(Has(m.extern_modules_text, "corpus_models")) << m.extern_modules_text;
  EXPECT_TRUE(m.new_externs.empty());
}

TEST(SaveCheckTest, FromImportOfAGoneModuleFoundNowhereIsAProblem) {
  // `from .helpers import scale` where p.helpers is gone and no copy is on
  // the Python path: neither p.helpers.scale nor p.helpers resolves, and the
  // module the import needs is p.helpers, not the attribute's name.
  const testing::MemoryRecords base({{"p/net.py", "from .helpers import scale\n"},
                                     {"p/helpers.py", "def scale(x):\n    return x\n"},
                                     {".data/extern_modules", "\n"},
                                     {".data/version", "6\n"}});
  EditedRecords edited(base);
  edited.Remove("p/helpers.py");
  const PythonPath nowhere(std::vector<std::string>{});
  const Metadata m = SaveMetadataIn(nowhere, base, edited);
  EXPECT_TRUE(Has(m.problems, std::string(kMissingModule) +
                                  "    p.helpers\n      Context: imported by p.net\n"))
      << m.problems;
  EXPECT_FALSE(Has(m.problems, "p.helpers.scale")) << m.problems;
}

TEST(SaveCheckTest, AnEditedImportFoundNowhereIsNamedNotRefused) {
  // Dropped as torch drops it (it may be guarded), but named: unguarded, the
  // package would no longer load. Unedited records and attributes of found
  // modules are not named.
  const testing::MemoryRecords base({{"p/net.py", "import json\n"},
                                     {"p/old.py",
                                      "try:\n    import fancy_accel\nexcept "
                                      "ImportError:\n    pass\n"},
                                     {".data/extern_modules", "json\n"},
                                     {".data/version", "6\n"}});
  EditedRecords edited(base);
  edited.Put("p/net.py",
             "import json\nimport not_installed_anywhere.sub\n"
             "from not_installed_either import thing\nfrom json import dumps\n"
             "from .nothere import f\n");
  edited.Put("p/new.py", "import not_installed_anywhere.sub\n");
  const PythonPath nowhere(std::vector<std::string>{});
  const Metadata m = SaveMetadataIn(nowhere, base, edited);
  EXPECT_EQ(m.problems, "");
  EXPECT_EQ(m.unfound_imports,
            (std::vector<NewExtern>{{"not_installed_anywhere.sub", "p/net.py, p/new.py"},
                                    {"not_installed_either", "p/net.py"},
                                    {"p.nothere", "p/net.py"}}));
  EXPECT_EQ(m.extern_modules_text, "json\n");
  // An edit of a record whose guarded import was there before names nothing.
  EditedRecords old_import(base);
  old_import.Put("p/old.py", base.ReadRecord("p/old.py") + "X = 1\n");
  EXPECT_TRUE(SaveMetadataIn(nowhere, base, old_import).unfound_imports.empty());
}

TEST(SaveCheckTest, EveryImportFormOfAGoneModuleIsAProblem) {
  ScratchDir python;
  std::filesystem::create_directories(python / "corpus_models");
  testing::WriteFile(python / "corpus_models/__init__.py", "");
  testing::WriteFile(python / "corpus_models/util.py", "");
  const PythonPath path(std::vector<std::string>{python.path()});
  const CorpusArchive base("pkg_model_numpy.pt");
  EditedRecords edited(base.records);
  edited.Remove("corpus_models/util.py");  // model.py: from . import util
  edited.Put("corpus_models/layers.py", "__import__('corpus_models.util')\nimport torch\n");
  edited.Put("corpus_models/extra.py", "import corpus_models.util\n");
  edited.Put("corpus_models/more.py", "from .util import squash\n");
  const Metadata m = SaveMetadataIn(path, base.records, edited);
  EXPECT_TRUE(Has(m.problems,
                  "    corpus_models.util\n      Context: a module of the package that "
                  "is gone (it would not become extern); used by "))
      << m.problems;
  for (const char* user : {"corpus_models.model", "corpus_models.layers", "corpus_models.extra",
                           "corpus_models.more"}) {
    EXPECT_TRUE(Has(m.problems, user)) << user << m.problems;
  }
  EXPECT_FALSE(Has(m.extern_modules_text, "corpus_models")) << m.extern_modules_text;
}

TEST(SaveCheckTest, UneditedReferencesNeverAddExterns) {
  // The package declares less than it uses; an unrelated edit keeps it so.
  const CorpusArchive base("pkg_model_numpy.pt");
  EditedRecords edited(base.records);
  edited.Put(".data/extern_modules", "numpy\ntorch\n");
  edited.Put("notes.txt", "an unrelated edit\n");
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_EQ(m.problems, "");
  // torch and numpy cover their submodules; builtins is always allowed.
  // The declared two, then what the package needs under them and builtins, in the archive's
  // order (torch._utils, builtins, torch.nn.modules.linear, numpy.core.multiarray with torch
  // 1.13); math and collections, which only unedited records need, are left out.
  std::vector<std::string> want{"numpy", "torch"};
  for (const std::string& module : testing::Without(testing::CorpusExterns("pkg_model_numpy.pt"),
                                                    {"numpy", "torch", "math", "collections"}))
    want.push_back(module);
  EXPECT_EQ(m.extern_modules_text, testing::LinesOf(want));
  EXPECT_TRUE(m.new_externs.empty());
}

// A stdlib module an edited source imports becomes extern, and so is listed
// one under a declared extern (numpy is declared; numpy.linalg loads through
// it): each line the edit adds is named, with the source that imports it.
TEST(SaveCheckTest, AnEditedSourceAddsExternsAndNamesThem) {
  const CorpusArchive base("pkg_model_numpy.pt");
  ASSERT_FALSE(Has(base.records.ReadRecord(".data/extern_modules"), "numpy.linalg"));
  for (const std::string module : {"json", "numpy.linalg"}) {
    EditedRecords edited(base.records);
    edited.Put("corpus_models/model.py",
               base.records.ReadRecord("corpus_models/model.py") + "import " + module + "\n");
    const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
    EXPECT_EQ(m.problems, "") << module;
    EXPECT_EQ(m.new_externs, (std::vector<NewExtern>{{module, "corpus_models/model.py"}}));
    EXPECT_TRUE(m.extern_modules_text.ends_with("\n" + module + "\n")) << m.extern_modules_text;
  }
}

TEST(SaveCheckTest, AnEditedPickleAddingAnExternIsNamedNotASource) {
  // The save's note names what imports the new extern: here a pickle, no source.
  const CorpusArchive base("pkg_model_numpy.pt");
  std::string pickle = base.records.ReadRecord("model/model.pkl");
  const std::string global = "collections\nOrderedDict\n";  // protocol 3: GLOBAL's text operand
  const size_t at = pickle.find(global);
  ASSERT_NE(at, std::string::npos);
  pickle.replace(at, global.size(), "colorsys\nrgb_to_hsv\n");
  EditedRecords edited(base.records);
  edited.Put("model/model.pkl", pickle);
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_EQ(m.problems, "");
  EXPECT_EQ(m.new_externs, (std::vector<NewExtern>{{"colorsys", "model/model.pkl"}}));
}

TEST(SaveCheckTest, AnEditedSourceImportingAThirdPartyModuleIsRefused) {
  ScratchDir python;
  testing::WriteFile(python / "thirdparty.py", "");
  const PythonPath path(std::vector<std::string>{python.path()});
  const CorpusArchive base("pkg_model_numpy.pt");
  EditedRecords edited(base.records);
  edited.Put("corpus_models/model.py",
             base.records.ReadRecord("corpus_models/model.py") + "import thirdparty\n");
  const Metadata m = SaveMetadataIn(path, base.records, edited);
  EXPECT_TRUE(Has(m.problems,
                  "* Module did not match against any action pattern. Extern, mock, "
                  "or intern it.\n    thirdparty\n      Context: newly imported by "
                  "corpus_models/model.py"))
      << m.problems;
  EXPECT_FALSE(Has(m.extern_modules_text, "thirdparty"));
}

TEST(SaveCheckTest, AnEditedSourceImportingSysIsRefusedWithTorchsReason) {
  // Standard library, yet never extern on its own: torch's exporter refuses sys and io.
  const CorpusArchive base("pkg_model_numpy.pt");
  EditedRecords edited(base.records);
  edited.Put("corpus_models/model.py",
             base.records.ReadRecord("corpus_models/model.py") + "import sys\n");
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.problems,
                  "    sys\n      Context: newly imported by corpus_models/model.py, and torch's "
                  "exporter never makes sys extern on its own (it gives packaged code "
                  "system-level access): only a package exported with extern(\"sys\") may "
                  "import it\n"))
      << m.problems;
}

TEST(SaveCheckTest, MissingOrShortStoragesAreReported) {
  const CorpusArchive base("pkg_dtypes.pt");
  EditedRecords edited(base.records);
  edited.Put(".data/0.storage", "");
  edited.Remove(".data/1.storage");
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.problems,
                  "* Storage is loaded by a pickle but is missing from the archive or too short.\n"
                  "    .data/0.storage\n"))
      << m.problems;
  EXPECT_TRUE(Has(m.problems, "the record holds 0")) << m.problems;
  EXPECT_TRUE(Has(m.problems, "    .data/1.storage\n      Context: loaded by ")) << m.problems;
  EXPECT_TRUE(Has(m.problems, "and the package has no such record")) << m.problems;
}

// The storages of a TorchScript module in a package are loaded by its
// `.data/ts_code/0/data.pkl`, whose keys are "N.storage" strings.
TEST(SaveCheckTest, StoragesOfAPackagedTorchScriptModuleAreChecked) {
  const CorpusArchive base("pkg_torchscript.pt");
  // A storage only the scripted module's pickle loads (its bias, with torch 1.13).
  std::map<std::string, std::set<std::string>> loaders;  // storage record -> pickles
  for (const ModelTensor& t : ModelTensors(base.zip)) loaders[t.storage_record].insert(t.pickle);
  std::string storage;
  for (const auto& [record, pickles] : loaders) {
    if (pickles.size() == 1 && pickles.begin()->starts_with(".data/ts_code/")) storage = record;
  }
  ASSERT_FALSE(storage.empty());
  EditedRecords edited(base.records);
  edited.Remove(storage);
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.problems, "    " + storage + "\n      Context: loaded by " +
                                  *loaders[storage].begin() +
                                  ", and the archive has no such record\n"))
      << m.problems;
}

TEST(SaveCheckTest, TheCodeAndPicklesOfAPackagedTorchScriptModuleAreChecked) {
  const CorpusArchive base("pkg_torchscript.pt");
  std::string id;  // the module's id: `.data/ts_code/<id>/data.pkl`
  for (const std::string& name : base.records.RecordNames()) {
    if (name.starts_with(".data/ts_code/") && name.ends_with("/data.pkl"))
      id = name.substr(14, name.size() - 14 - 9);
  }
  ASSERT_FALSE(id.empty());
  const std::string code = ".data/ts_code/code/__torch__/corpus_ts/affine.py";
  ASSERT_GT(base.records.RecordSize(code), 0u);
  {  // the code of a class its data.pkl loads; its debug info is not needed
    EditedRecords edited(base.records);
    edited.Remove(code + ".debug_pkl");
    EXPECT_TRUE(RegenerateMetadata(edited, SaveOptions(base.records, edited)).ok());
    edited.Remove(code);
    const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
    EXPECT_TRUE(Has(m.problems,
                    "* TorchScript code or data that a pickle loads is missing from the archive.\n"
                    "    " +
                        code +
                        "\n      Context: the code of __torch__.corpus_ts.affine.Affine, "
                        "loaded by .data/ts_code/" +
                        id + "/data.pkl\n"))
        << m.problems;
  }
  {  // the module's own pickles, which the packaged pickles name by its id
    EditedRecords edited(base.records);
    edited.Remove(".data/ts_code/" + id + "/data.pkl")
        .Remove(".data/ts_code/" + id + "/constants.pkl");
    const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
    for (const char* part : {"data.pkl", "constants.pkl"}) {
      EXPECT_TRUE(Has(m.problems, "    .data/ts_code/" + id + "/" + part +
                                      "\n      Context: TorchScript module " + id +
                                      ", loaded by model/scripted.pkl\n"))
          << m.problems;
    }
  }
}

TEST(SaveCheckTest, EditedTorchScriptCodeThatDoesNotParseIsAProblem) {
  const CorpusArchive base("pkg_torchscript.pt");
  const std::string code = ".data/ts_code/code/__torch__/corpus_ts/affine.py";
  const std::string source = base.records.ReadRecord(code);
  const auto lines = std::count(source.begin(), source.end(), '\n');
  {  // still Python: torch compiles it or says why itself
    EditedRecords edited(base.records);
    edited.Put(code, source + "# a comment\n");
    EXPECT_TRUE(RegenerateMetadata(edited, SaveOptions(base.records, edited)).ok());
  }
  EditedRecords edited(base.records);
  edited.Put(code, source + "def broken(:\n");
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.problems,
                  "* TorchScript code is not valid Python: torch's loader cannot compile it.\n"
                  "    " +
                      code + "\n      Context: line " + std::to_string(lines + 1) +
                      ": invalid syntax\n"))
      << m.problems;
  // The same in a TorchScript archive; code nobody edited is never parsed (torch wrote it).
  const testing::MemoryRecords script({{"data.pkl", std::string("\x80\x02}.")},
                                       {"constants.pkl", std::string("\x80\x02).")},
                                       {"code/__torch__/m.py", "def broken(:\n"},
                                       {"version", "3\n"}});
  const auto all_edited = [](const std::string&) { return true; };
  EXPECT_TRUE(Has(SerializedArchiveProblems(script, FileKind::kTorchScript, all_edited),
                  "    code/__torch__/m.py\n      Context: line 1: invalid syntax\n"));
  EXPECT_EQ(SerializedArchiveProblems(script, FileKind::kTorchScript), "");
}

TEST(SaveCheckTest, ACustomClassOfTorchScriptNeedsNoCode) {
  // A scripted dynamically quantized Linear loads
  // __torch__.torch.classes.quantized.LinearPackedParamsBase: a C++ class torch
  // finds registered; the empty code file it writes for it is never read.
  // A TorchScript archive whose data.pkl builds an object of `module`.`name`.
  const auto scripted = [](const std::string& module, const std::string& name) {
    return testing::MemoryRecords({{"data.pkl",
                                    "\x80\x02"
                                    "c" +
                                        module + "\n" + name +
                                        "\n"
                                        ")\x81"
                                        "."},
                                   {"constants.pkl",
                                    "\x80\x02"
                                    ")"
                                    "."},
                                   {"version", "3\n"}});
  };
  EXPECT_EQ(SerializedArchiveProblems(
                scripted("__torch__.torch.classes.quantized", "LinearPackedParamsBase"),
                FileKind::kTorchScript),
            "");
  const testing::MemoryRecords plain = scripted("__torch__.m", "Net");
  EXPECT_TRUE(Has(SerializedArchiveProblems(plain, FileKind::kTorchScript),
                  "    code/__torch__/m.py\n      Context: the code of __torch__.m.Net, "
                  "loaded by data.pkl\n"));
}

TEST(SaveCheckTest, StoragesOfATorchSaveArchiveAreChecked) {
  const CorpusArchive base("torch_save_checkpoint.pth");
  EXPECT_EQ(SerializedArchiveProblems(base.records, FileKind::kTorchSave), "");
  EditedRecords edited(base.records);
  edited.Remove("data/1").Put("data/0", "short");
  const std::string problems = SerializedArchiveProblems(edited, FileKind::kTorchSave);
  EXPECT_TRUE(Has(problems,
                  "* Storage is loaded by a pickle but is missing from the archive or too short.\n"
                  "    data/0\n      Context: loaded by data.pkl as 6 x FloatStorage (24 bytes), "
                  "and the record holds 5\n"))
      << problems;
  EXPECT_TRUE(Has(problems,
                  "    data/1\n      Context: loaded by data.pkl, and the archive has "
                  "no such record\n"))
      << problems;
}

// views/b.pkl sets a tensor of 5 shorts at offset 40 on `.data/1.storage`
// (100 shorts). Moving it to offset 97 keeps the record long enough for the
// storage, but the tensor now spans 102 elements: torch's set_() cannot grow
// the loaded storage ("Trying to resize storage that is not resizable").
TEST(SaveCheckTest, TheRecordsTorchsLoaderOpensFirstAreChecked) {
  // torch.load and torch.jit.load fail without data.pkl, a TorchScript
  // archive's constants.pkl, or a version record they accept.
  const CorpusArchive base("torch_save_checkpoint.pth");
  const std::vector<std::string> names = base.records.RecordNames();
  const std::string version = std::find(names.begin(), names.end(), ".data/version") != names.end()
                                  ? ".data/version"
                                  : "version";
  EditedRecords edited(base.records);
  edited.Remove("data.pkl").Put(version, "99\n");
  const std::string problems = SerializedArchiveProblems(edited, FileKind::kTorchSave);
  EXPECT_TRUE(Has(problems,
                  "* Record that torch's loader opens is missing from the archive.\n"
                  "    data.pkl\n      Context: torch's loader opens it first\n"))
      << problems;
  EXPECT_TRUE(Has(problems, "    " + version + "\n      Context: version 99, and torch"))
      << problems;
  const testing::MemoryRecords script({{"data.pkl", std::string("\x80\x02"
                                                                "}"
                                                                ".")}});
  const std::string script_problems = SerializedArchiveProblems(script, FileKind::kTorchScript);
  EXPECT_TRUE(Has(script_problems, "    constants.pkl\n")) << script_problems;
  EXPECT_TRUE(Has(script_problems, "the archive has no version record")) << script_problems;
}

TEST(SaveCheckTest, ATensorSpanningMoreThanItsStorageIsReported) {
  const CorpusArchive base("pkg_shared_views.pt");
  std::string pickle = base.records.ReadRecord("views/b.pkl");
  const std::string offset_40 = std::string("K\x28K\x05\x85", 5);
  ASSERT_EQ(pickle.find(offset_40), pickle.rfind(offset_40));
  ASSERT_NE(pickle.find(offset_40), std::string::npos);
  pickle[pickle.find(offset_40) + 1] = 97;
  EditedRecords edited(base.records);
  edited.Put("views/b.pkl", pickle);
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.problems, "    .data/1.storage\n      Context: a tensor of views/b.pkl spans "
                              "102 x ShortStorage (204 bytes, offset included), and torch loads "
                              "200 bytes for this storage"))
      << m.problems;
  pickle[pickle.find(std::string("K\x61K\x05\x85", 5)) + 1] = 95;  // 100 elements: fits
  edited.Put("views/b.pkl", pickle);
  EXPECT_TRUE(RegenerateMetadata(edited, SaveOptions(base.records, edited)).ok());
}

// Sizes and strides whose extent itself is over 64 bits: (2^62,) by (8,).
// torch's set_() refuses it ("Storage size calculation overflowed").
TEST(SaveCheckTest, ATensorWhoseExtentOverflowsIsReported) {
  const CorpusArchive base("pkg_shared_views.pt");
  std::string pickle = base.records.ReadRecord("views/b.pkl");
  const std::string size_5_stride_1 = std::string("K\x05\x85q\x10K\x01\x85", 8);
  const size_t at = pickle.find(size_5_stride_1);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(at, pickle.rfind(size_5_stride_1));
  pickle.replace(at, size_5_stride_1.size(),
                 std::string("\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x85q\x10K\x08\x85", 16));
  EditedRecords edited(base.records);
  edited.Put("views/b.pkl", pickle);
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.problems,
                  "    .data/1.storage\n      Context: a tensor of views/b.pkl spans "
                  "2^64 elements of ShortStorage or more (its offset, sizes and "
                  "strides overflow): torch cannot set it on any storage"))
      << m.problems;
}

// torch.save's data.pkl keys its storages by string ("0" is data/0):
// first_weight_row is 3 floats at offset 3 of a storage of 6.
TEST(SaveCheckTest, ATensorSpanningMoreThanItsStorageIsReportedInATorchSaveArchive) {
  const CorpusArchive base("torch_save_checkpoint.pth");
  std::string pickle = base.records.ReadRecord("data.pkl");
  const std::string offset_3 = std::string("QK\x03K\x03\x85", 6);
  ASSERT_EQ(pickle.find(offset_3), pickle.rfind(offset_3));
  ASSERT_NE(pickle.find(offset_3), std::string::npos);
  pickle[pickle.find(offset_3) + 2] = 4;
  EditedRecords edited(base.records);
  edited.Put("data.pkl", pickle);
  const std::string problems = SerializedArchiveProblems(edited, FileKind::kTorchSave);
  EXPECT_TRUE(Has(problems,
                  "    data/0\n      Context: a tensor of data.pkl spans 7 x "
                  "FloatStorage (28 bytes, offset included), and torch loads 24 bytes "
                  "for this storage"))
      << problems;
  pickle[pickle.find(std::string("QK\x04K\x03\x85", 6)) + 2] = 3;
  edited.Put("data.pkl", pickle);
  EXPECT_EQ(SerializedArchiveProblems(edited, FileKind::kTorchSave), "");
}

// torch's exporter writes protocol 3 or 4, its load_pickle reads any: an
// edited protocol-2 pickle that loads a storage the package lacks fails.
TEST(SaveCheckTest, AnEditedPickleOfAnotherProtocolLoadingAMissingStorageIsReported) {
  const CorpusArchive base("pkg_model_numpy.pt");
  // ('storage', torch.FloatStorage, 99, 'cpu', 6) as a persistent id, protocol 2.
  static const char kBytes[] =
      "\x80\x02(X\x07\x00\x00\x00"
      "storagectorch\nFloatStorage\nK\x63X\x03\x00\x00\x00"
      "cpuK\x06tQ.";
  EditedRecords edited(base.records);
  edited.Put("model/miss.pkl", std::string(kBytes, sizeof kBytes - 1));
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.problems,
                  "    .data/99.storage\n      Context: loaded by model/miss.pkl, and "
                  "the package has no such record\n"))
      << m.problems;
}

TEST(SaveCheckTest, VersionsTorchRefusesAreReported) {
  const CorpusArchive base("pkg_dtypes.pt");
  for (const auto& [text, ok] : std::vector<std::pair<std::string, bool>>{{"6\n", true},
                                                                          {"1", true},
                                                                          {"10\n", true},
                                                                          {" 7junk", true},
                                                                          {"99\n", false},
                                                                          {"0\n", false},
                                                                          {"", false},
                                                                          {"six\n", false}}) {
    EditedRecords edited(base.records);
    edited.Put(".data/version", text);
    const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
    EXPECT_EQ(m.ok(), ok) << text << m.problems;
    if (!ok) {
      EXPECT_TRUE(Has(m.problems, "* Package version is not one torch loads.\n    .data/version\n"))
          << m.problems;
    }
  }
  // Both stacks' torch refuse 11 (measured with 1.13 and 2.6): the reason names no one release.
  EditedRecords edited(base.records);
  edited.Put(".data/version", "99\n");
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.problems, "Context: version 99, and torch 1.13 and 2.6 load 1 to 10\n"))
      << m.problems;
}

// model/model.pkl of `base` with its collections.OrderedDict global made `to`
// ("module\nname\n": protocol 3's GLOBAL operand).
std::string PickleLoading(const RecordSource& base, const std::string& to) {
  std::string pickle = base.ReadRecord("model/model.pkl");
  const std::string global = "collections\nOrderedDict\n";
  const size_t at = pickle.find(global);
  if (at != std::string::npos) pickle.replace(at, global.size(), to);
  return pickle;
}

TEST(SaveCheckTest, AnEditedPickleLoadingWhatRunsCodeIsRefusedAsLessSafe) {
  const CorpusArchive base("pkg_model_numpy.pt");
  EditedRecords edited(base.records);
  edited.Put("model/model.pkl", PickleLoading(base.records, "posix\nsystem\n"));
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_EQ(m.problems, "");
  EXPECT_EQ(m.safety_problems,
            "\n* Pickle global can run code or reach the system, and no pickle of the package "
            "loaded it before the edits.\n"
            "    posix.system\n"
            "      Context: loaded by the edited model/model.pkl\n")
      << m.safety_problems;
  EXPECT_FALSE(m.ok());
  // A harmless standard-library global is no such problem (it is a new extern).
  edited.Put("model/model.pkl", PickleLoading(base.records, "colorsys\nrgb_to_hsv\n"));
  EXPECT_EQ(RegenerateMetadata(edited, SaveOptions(base.records, edited)).safety_problems, "");
}

TEST(SaveCheckTest, APackagePickleEditedIntoSomethingElseIsAProblem) {
  // Emptied or overwritten: no longer a pickle at all (the layout's own scan only judges
  // records that still start as save_pickle writes, protocol 3 or 4).
  const CorpusArchive base("pkg_model_numpy.pt");
  EditedRecords edited(base.records);
  for (const std::string& bytes : {std::string(), std::string("garbage\n")}) {
    edited.Put("model/model.pkl", bytes);
    const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
    EXPECT_TRUE(Has(m.problems,
                    "* Pickle could not be scanned for dependencies.\n"
                    "    model/model.pkl\n      Context: a pickle before the edits, "
                    "no longer one: "))
        << m.problems;
    EXPECT_FALSE(m.ok());
  }
  // Cut short, it still starts as one: reported once, by the layout.
  edited.Put("model/model.pkl", base.records.ReadRecord("model/model.pkl").substr(0, 20));
  const Metadata cut = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_FALSE(Has(cut.problems, "a pickle before the edits")) << cut.problems;
  EXPECT_TRUE(Has(cut.problems, "<model.model.pkl>")) << cut.problems;
  // A record that was no pickle may become anything.
  EditedRecords text(base.records);
  text.Put("model/notes.txt", "").Put("model/other.bin", "garbage");
  EXPECT_TRUE(RegenerateMetadata(text, SaveOptions(base.records, text)).ok());
}

TEST(SaveCheckTest, ATorchSaveOrTorchScriptPickleEditedIntoSomethingElseIsAProblem) {
  const CorpusArchive base("torch_save_checkpoint.pth");
  EditedRecords edited(base.records);
  const auto is_edited = [&edited](const std::string& r) { return edited.IsEdited(r); };
  edited.Put("data.pkl", "");
  EXPECT_TRUE(Has(SerializedArchiveProblems(edited, FileKind::kTorchSave, is_edited, &base.records),
                  "    data.pkl\n      Context: a pickle before the edits, no longer one: it is "
                  "empty\n"));
  // Without the archive as opened there is nothing to compare with: not judged.
  EXPECT_FALSE(Has(SerializedArchiveProblems(edited, FileKind::kTorchSave, is_edited),
                   "a pickle before the edits"));
  edited.Put("data.pkl", base.records.ReadRecord("data.pkl"));
  EXPECT_EQ(SerializedArchiveProblems(edited, FileKind::kTorchSave, is_edited, &base.records), "");
}

TEST(SaveCheckTest, ATorchSavePickleEditedToRunACommandIsRefusedAsLessSafe) {
  const CorpusArchive base("torch_save_checkpoint.pth");
  EditedRecords edited(base.records);
  const auto is_edited = [&edited](const std::string& r) { return edited.IsEdited(r); };
  EXPECT_EQ(SerializedArchiveSafetyProblems(edited, base.records, is_edited), "");
  edited.Put("data.pkl",
             "\x80\x02"
             "cos\nsystem\n(S'echo hi'\ntR.");
  EXPECT_EQ(SerializedArchiveSafetyProblems(edited, base.records, is_edited),
            "\n* Pickle global can run code or reach the system, and no pickle of the package "
            "loaded it before the edits.\n"
            "    os.system\n"
            "      Context: loaded by the edited data.pkl\n");
  // A command the archive as opened already ran is not new.
  EXPECT_EQ(SerializedArchiveSafetyProblems(edited, edited, is_edited), "");
}

TEST(SaveCheckTest, WhatOrdinaryObjectsPickleIsNotLessSafe) {
  // What torch's save_pickle writes for ordinary objects (a frozenset, a
  // slice, typing.List[int], functools.partial, an activation function of
  // torch.nn, a bound method through getattr) is not refused; what runs code,
  // a command or a system call on its own is, also through an attribute path.
  const CorpusArchive base("pkg_model_numpy.pt");
  for (const char* global :
       {"builtins\nfrozenset\n", "builtins\nslice\n", "builtins\nrange\n", "builtins\nEllipsis\n",
        "builtins\nint\n", "functools\npartial\n", "torch._C._nn\ngelu\n", "builtins\ngetattr\n",
        "collections\ndefaultdict\n"}) {
    EditedRecords edited(base.records);
    edited.Put("model/model.pkl", PickleLoading(base.records, global));
    EXPECT_EQ(RegenerateMetadata(edited, SaveOptions(base.records, edited)).safety_problems, "")
        << global;
  }
  // A mangled module name is what torch's importer demangles ("<torch_package_0>" is the
  // first importer's), and a Python 2 name what pickle maps.
  for (const char* global :
       {"builtins\neval\n", "builtins\nopen\n", "os\nremove\n", "subprocess\ngetoutput\n",
        "torch.serialization\nos.system\n", "<torch_package_0>.builtins\neval\n",
        "<torch_package_7>.torch\nload\n", "<torch_package_0>.os\nsystem\n", "cPickle\nloads\n"}) {
    EditedRecords edited(base.records);
    edited.Put("model/model.pkl", PickleLoading(base.records, global));
    EXPECT_NE(RegenerateMetadata(edited, SaveOptions(base.records, edited)).safety_problems, "")
        << global;
  }
}

TEST(SaveCheckTest, AGlobalComputedWhileLoadingIsRefusedAsLessSafe) {
  // str(b"os", "ascii") + "system" through STACK_GLOBAL: only allowed globals
  // spelled out, os.system loaded.
  const CorpusArchive base("pkg_model_numpy.pt");
  static const char kBytes[] =
      "\x80\x04"
      "cbuiltins\nstr\n"
      "C\x02os"
      "\x8c\x05"
      "ascii"
      "\x86"
      "R"
      "\x8c\x06"
      "system"
      "\x93"
      "\x8c\x02"
      "ls"
      "\x85"
      "R"
      ".";
  EditedRecords edited(base.records);
  edited.Put("model/model.pkl", std::string(kBytes, sizeof kBytes - 1));
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.safety_problems,
                  "    a global computed while loading\n"
                  "      Context: loaded by the edited model/model.pkl\n"))
      << m.safety_problems;
}

TEST(SaveCheckTest, APickleOfAnOlderProtocolLoadingWhatRunsCodeIsRefusedToo) {
  // torch's load_pickle reads protocols 0 to 2 too, though its exporter writes
  // 3 or 4: builtins is extern in many packages, so this ran eval when loaded.
  const CorpusArchive base("pkg_model_numpy.pt");
  static const char kBytes[] = "\x80\x02" "cbuiltins\neval\nX\x08\x00\x00\x00print(1)\x85R.";
  const std::string kProtocol2Eval(kBytes, sizeof kBytes - 1);
  for (const auto& [record, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"model/p0.pkl", "c__builtin__\neval\n(S'print(1)'\ntR."},
           {"model/p2.bin", kProtocol2Eval},
           {"notes/cut", "cposix\nsystem\n(S'id'\ntR\xff\xff"}}) {
    EditedRecords edited(base.records);
    edited.Put(record, bytes);
    const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
    EXPECT_TRUE(Has(m.safety_problems, "Context: loaded by the edited " + record + "\n"))
        << record << m.safety_problems;
    EXPECT_FALSE(m.ok()) << record;
  }
  // Text that is no pickle, and a pickle of what cannot run code, are no such problem.
  EditedRecords edited(base.records);
  edited.Put("notes/readme.txt", "(posix system) and eval.\n");
  edited.Put("model/p0_ok.pkl", "c__builtin__\nset\n(lp0\ntR.");
  EXPECT_EQ(RegenerateMetadata(edited, SaveOptions(base.records, edited)).safety_problems, "");
}

TEST(SaveCheckTest, ADangerousGlobalThePackageLoadedBeforeIsNotNew) {
  // The package as opened already loads posix.system: a pickle moved or
  // rewritten with it makes the package no less safe than it was.
  const CorpusArchive corpus("pkg_model_numpy.pt");
  EditedRecords base(corpus.records);
  base.Put("model/model.pkl", PickleLoading(corpus.records, "posix\nsystem\n"));
  EditedRecords edited(base);
  edited.Put("model/again.pkl", base.ReadRecord("model/model.pkl"));
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base, edited));
  EXPECT_EQ(m.safety_problems, "");
  // Without the options of a save nothing is judged.
  EXPECT_EQ(RegenerateMetadata(edited).safety_problems, "");
}

// The pickle's class renamed in its edited source: the importer's find_class
// would fail (AttributeError), so the save refuses, naming the global.
TEST(SaveCheckTest, APickleGlobalItsEditedSourceNoLongerDefinesIsAProblem) {
  const CorpusArchive base("pkg_model_numpy.pt");
  const std::string source = base.records.ReadRecord("corpus_models/model.py");
  const auto renamed = [&](const std::string& to) {
    std::string text = source;
    text.replace(text.find("class TinyNet"), 13, "class " + to);
    return text;
  };
  EditedRecords edited(base.records);
  edited.Put("corpus_models/model.py", renamed("SmallNet"));
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
  EXPECT_TRUE(Has(m.problems,
                  "* Pickle global is not defined by its module in the package.\n"
                  "    corpus_models.model.TinyNet\n"
                  "      Context: loaded by model/model.pkl, and the edited "
                  "corpus_models/model.py no longer defines TinyNet\n"))
      << m.problems;
  // A longer name that only starts with it defines nothing either.
  edited.Put("corpus_models/model.py", renamed("TinyNet2"));
  EXPECT_FALSE(RegenerateMetadata(edited, SaveOptions(base.records, edited)).ok());
}

TEST(SaveCheckTest, ANameASourceImportsThatItsEditedModuleNoLongerDefinesIsAProblem) {
  // `from .helpers import scale` after scale was renamed: the import fails at
  // load (ImportError). The importer spells the name itself: that is no
  // definition. Still defined under the old name, or never spelled by the
  // module before, it is no problem (judged on the text only).
  const testing::MemoryRecords base({{"p/__init__.py", ""},
                                     {"p/net.py", "from .helpers import scale\n"},
                                     {"p/helpers.py", "def scale(x):\n    return x\n"},
                                     {".data/extern_modules", "\n"},
                                     {".data/version", "6\n"}});
  EditedRecords edited(base);
  edited.Put("p/helpers.py", "def scale2(x):\n    return x\n");
  const Metadata m = RegenerateMetadata(edited, SaveOptions(base, edited));
  EXPECT_TRUE(Has(m.problems,
                  "* Name imported by packaged code is not defined by its module in the "
                  "package.\n    p.helpers.scale\n      Context: imported by p.net, and the "
                  "edited p/helpers.py no longer defines scale\n"))
      << m.problems;
  edited.Put("p/helpers.py", "def scale2(x):\n    return x\nscale = scale2\n");
  EXPECT_TRUE(RegenerateMetadata(edited, SaveOptions(base, edited)).ok());
  EditedRecords unrelated(base);
  unrelated.Put("p/net.py", "from .helpers import scale, never_there\n")
      .Put("p/helpers.py", "def scale(x):\n    return x + 1\n");
  EXPECT_TRUE(RegenerateMetadata(unrelated, SaveOptions(base, unrelated)).ok());
}

// A protocol-3 pickle of the class p.model.Net.
const std::string kPickleOfPModelNet(
    "\x80\x03"
    "cp.model\nNet\nq\x00.",
    18);

// A module whose source the edits took away while a folder of its name
// stays (`model.py` split into `model/`, an `__init__.py` deleted) is a
// namespace package: it binds only its submodules, and the pickle's class or
// the imported name is gone, though another file of the folder defines it.
// A source that takes its place (`model/__init__.py`) is judged as an edit.
TEST(SaveCheckTest, AModuleWhoseSourceGaveWayToAFolderNoLongerDefinesItsNames) {
  const std::string pickle = kPickleOfPModelNet;
  const testing::MemoryRecords base(
      {{"p/__init__.py", "VERSION = 1\n"},
       {"p/model.py", "from p import VERSION\nclass Net:\n    pass\n"},
       {"m/model.pkl", pickle},
       {".data/extern_modules", "\n"},
       {".data/version", "6\n"}});
  const std::string model = base.ReadRecord("p/model.py");
  EditedRecords split(base);
  split.Remove("p/model.py").Put("p/model/core.py", model);
  Metadata m = RegenerateMetadata(split, SaveOptions(base, split));
  EXPECT_TRUE(Has(m.problems,
                  "    p.model.Net\n      Context: loaded by m/model.pkl, and p/model.py, which "
                  "defined Net, is gone: p.model is now a folder without __init__.py, which "
                  "binds only its submodules\n"))
      << m.problems;
  EditedRecords no_init(base);
  no_init.Remove("p/__init__.py");
  m = RegenerateMetadata(no_init, SaveOptions(base, no_init));
  EXPECT_TRUE(Has(m.problems,
                  "    p.VERSION\n      Context: imported by p.model, and p/__init__.py, which "
                  "defined VERSION, is gone: p is now a folder without __init__.py, which binds "
                  "only its submodules\n"))
      << m.problems;
  EditedRecords replaced(base);
  replaced.Remove("p/model.py").Put("p/model/__init__.py", "from p import VERSION\n");
  m = RegenerateMetadata(replaced, SaveOptions(base, replaced));
  EXPECT_TRUE(Has(m.problems,
                  "Context: loaded by m/model.pkl, and the edited "
                  "p/model/__init__.py, which took the place of p/model.py, does "
                  "not define Net\n"))
      << m.problems;
  // Moved whole into its place, or set on the folder's module from outside: no problem.
  EditedRecords moved(base);
  moved.Remove("p/model.py").Put("p/model/__init__.py", model);
  EXPECT_TRUE(RegenerateMetadata(moved, SaveOptions(base, moved)).ok());
  split.Put("p/__init__.py", "VERSION = 1\nfrom .model import core\nmodel.Net = core.Net\n");
  EXPECT_FALSE(Has(RegenerateMetadata(split, SaveOptions(base, split)).problems, "p.model.Net"));
}

// An archive as it is (no save): a pickle's class in a module only a folder
// holds is one find_class cannot get, unless a source sets it from outside.
TEST(SaveCheckTest, APickleGlobalOfAFolderModuleIsAProblemOfTheArchiveItself) {
  const std::string pickle = kPickleOfPModelNet;
  const testing::MemoryRecords split({{"p/__init__.py", ""},
                                      {"p/model/core.py", "class Net:\n    pass\n"},
                                      {"m/model.pkl", pickle},
                                      {".data/extern_modules", "\n"},
                                      {".data/version", "6\n"}});
  const Metadata m = RegenerateMetadata(split);
  EXPECT_TRUE(Has(m.problems,
                  "* Pickle global is not defined by its module in the package.\n    "
                  "p.model.Net\n      Context: loaded by m/model.pkl, and p.model is a folder "
                  "without __init__.py, which binds only its submodules\n"))
      << m.problems;
  EXPECT_TRUE(StopsTheLoad(PackagingErrorReason::kMissingGlobal));  // tpkg check reports it
  EditedRecords set_from_outside(split);
  set_from_outside.Put("p/__init__.py", "from .model import core\nmodel.Net = core.Net\n");
  EXPECT_EQ(RegenerateMetadata(set_from_outside).problems, "");
}

// What the text cannot rule out is no problem: the name spelt anywhere in
// the package (an alias, another module setting it), a star import, a
// module __getattr__; nor is a global of a module nobody edited.
TEST(SaveCheckTest, APickleGlobalTheTextMayStillDefineIsNoProblem) {
  const CorpusArchive base("pkg_model_numpy.pt");
  const std::string source = base.records.ReadRecord("corpus_models/model.py");
  std::string without = source;
  without.replace(without.find("class TinyNet"), 13, "class SmallNet");
  for (const std::string& extra :
       {std::string("TinyNet = SmallNet\n"), std::string("from .layers import *\n"),
        std::string("def __getattr__(name):\n    return SmallNet\n")}) {
    EditedRecords edited(base.records);
    edited.Put("corpus_models/model.py", without + extra);
    const Metadata m = RegenerateMetadata(edited, SaveOptions(base.records, edited));
    EXPECT_FALSE(Has(m.problems, "Pickle global")) << extra << m.problems;
  }
  EditedRecords elsewhere(base.records);
  elsewhere.Put("corpus_models/model.py", without);
  elsewhere.Put("corpus_models/util.py",
                base.records.ReadRecord("corpus_models/util.py") + "# TinyNet is set by hand\n");
  EXPECT_FALSE(Has(RegenerateMetadata(elsewhere, SaveOptions(base.records, elsewhere)).problems,
                   "Pickle global"));
  // Not a save (no edited records): tpkg check judges the package as it is.
  EditedRecords unsaved(base.records);
  unsaved.Put("corpus_models/model.py", without);
  EXPECT_FALSE(Has(RegenerateMetadata(unsaved).problems, "Pickle global"));
}

// Only a name the edit took away is refused: a module that never spelled it
// (a protobuf module binds its classes from a descriptor) may still bind it,
// and a pickle edited alone is judged on texts that loaded before.
TEST(SaveCheckTest, APickleGlobalItsSourceNeverSpelledIsNoProblem) {
  const std::string pickle(
      "\x80\x03"
      "cp.a\nMsg\nq\x00.",
      14);  // p.a.Msg
  const testing::MemoryRecords base({{"p/__init__.py", ""},
                                     {"p/a.py", "_builder.Build(DESCRIPTOR, globals())\n"},
                                     {"p/m.pkl", pickle}});
  EditedRecords edited(base);
  edited.Put("p/a.py", "_builder.Build(DESCRIPTOR, globals())\nX = 1\n");
  EXPECT_FALSE(
      Has(RegenerateMetadata(edited, SaveOptions(base, edited)).problems, "Pickle global"));
  EditedRecords pickle_only(base);
  pickle_only.Put("p/m.pkl", pickle);
  EXPECT_FALSE(Has(RegenerateMetadata(pickle_only, SaveOptions(base, pickle_only)).problems,
                   "Pickle global"));
  // The same module spelling it, then losing it: refused.
  const testing::MemoryRecords spelled(
      {{"p/__init__.py", ""}, {"p/a.py", "class Msg: pass\n"}, {"p/m.pkl", pickle}});
  EditedRecords renamed(spelled);
  renamed.Put("p/a.py", "class Message: pass\n");
  EXPECT_TRUE(
      Has(RegenerateMetadata(renamed, SaveOptions(spelled, renamed)).problems, "    p.a.Msg\n"));
}

TEST(SaveCheckTest, ExternModulesMismatchNamesTheUndeclaredModules) {
  const CorpusArchive base("pkg_model_numpy.pt");
  EXPECT_EQ(ExternModulesMismatch(base.records, RegenerateMetadata(base.records)), "");
  EditedRecords edited(base.records);
  edited.Put(".data/extern_modules", "numpy\ntorch\nbuiltins\nsubprocess\n");
  // A declared module nothing imports is no load problem (metadata.h).
  EXPECT_EQ(ExternModulesMismatch(edited, RegenerateMetadata(edited)),
            ".data/extern_modules does not declare modules the package needs: math, collections");
}

}  // namespace
}  // namespace tpkg
