// PythonPath / FileSystemEnvironment: importlib's lookup rules on real
// directories (the configured interpreter's tree, compared with what that
// interpreter's importlib finds, and small trees made here).
#include "tpkg/module_env.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tpkg/error.h"

namespace tpkg {
namespace {

namespace fs = std::filesystem;

class TempTree {
 public:
  TempTree() {
    char tmpl[] = "/tmp/tpkg_module_env_XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  ~TempTree() { fs::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text = "") {
    const fs::path p = fs::path(root_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }
  void Dir(const std::string& rel) { fs::create_directories(fs::path(root_) / rel); }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

using K = FoundModule::Kind;

TEST(ModuleEnvTest, StdlibNamesAreTopLevelNamesOfTheConfiguredPython) {
  EXPECT_TRUE(IsStdlibModule("json"));
  EXPECT_TRUE(IsStdlibModule("json.decoder"));
  EXPECT_TRUE(IsStdlibModule("sys"));
  EXPECT_TRUE(IsStdlibModule("importlib.resources"));
  EXPECT_FALSE(IsStdlibModule("torch"));
  EXPECT_FALSE(IsStdlibModule("numpy"));
  EXPECT_FALSE(IsStdlibModule("jsonx"));
  EXPECT_FALSE(IsStdlibModule(""));
}

TEST(ModuleEnvTest, FindsDebianPythonModulesLikeImportlib) {
  const PythonPath py;
  ASSERT_TRUE(py.Find("json"));
  EXPECT_EQ(py.Find("json")->path, ConfiguredPython().stdlib_dir + "/json/__init__.py");
  EXPECT_TRUE(py.Find("json")->is_package());
  EXPECT_EQ(py.Find("math")->kind, K::kBuiltin);
  EXPECT_EQ(py.Find("os.path")->kind, K::kBuiltin);
  // typing registers typing.io itself up to 3.12; Python 3.13 removed it.
  if (ConfiguredStdlibNames().version() < "3.13") {
    EXPECT_EQ(py.Find("typing.io")->kind, K::kBuiltin);
  } else {
    EXPECT_FALSE(py.Find("typing.io"));
  }
  ASSERT_TRUE(py.Find("numpy.core.multiarray"));
  EXPECT_EQ(py.Find("numpy.core.multiarray")->kind, K::kSource);
  // numpy's compiled core: numpy/core/ in numpy 1.x (Debian 12), numpy/_core/ in 2.x.
  auto umath = py.Find("numpy._core._multiarray_umath");
  if (!umath) umath = py.Find("numpy.core._multiarray_umath");
  ASSERT_TRUE(umath);
  EXPECT_EQ(umath->kind, K::kExtension);
  EXPECT_TRUE(py.Find("torch.nn.modules.linear"));
  EXPECT_TRUE(py.Find("_ctypes"));  // lib-dynload extension on both
  EXPECT_FALSE(py.Find("torch.Tensor"));
  EXPECT_FALSE(py.Find("math.nan"));
  EXPECT_FALSE(py.Find("json.decoder.JSONDecoder"));  // parent is a module
  EXPECT_FALSE(py.Find("no_such_module_anywhere"));
  EXPECT_FALSE(py.Find(""));
}

TEST(ModuleEnvTest, PackageBeatsModuleBeatsNamespaceInOneDirectory) {
  TempTree t;
  t.Write("a/__init__.py");
  t.Write("a.py");
  t.Write("b.py");
  t.Dir("b");
  t.Dir("ns/inner");
  const PythonPath py({t.root()});
  EXPECT_EQ(py.Find("a")->path, t.root() + "/a/__init__.py");
  EXPECT_EQ(py.Find("b")->path, t.root() + "/b.py");
  EXPECT_FALSE(py.Find("b")->is_package());
  EXPECT_EQ(py.Find("ns")->kind, K::kNamespacePackage);
  EXPECT_EQ(py.Find("ns.inner")->kind, K::kNamespacePackage);
  EXPECT_FALSE(py.Find("b.x"));
}

TEST(ModuleEnvTest, NamespacePortionsSpanDirectoriesButRealModulesWin) {
  TempTree one, two;
  one.Dir("ns");
  two.Write("ns/mod.py");
  one.Dir("mixed");
  two.Write("mixed.py");
  const PythonPath py({one.root(), two.root()});
  EXPECT_EQ(py.Find("ns")->search_path.size(), 2u);
  EXPECT_EQ(py.Find("ns.mod")->path, two.root() + "/ns/mod.py");
  EXPECT_EQ(py.Find("mixed")->path, two.root() + "/mixed.py");
}

// Archive sources can import any dotted name; the lookup walks the parents
// in a loop (a recursion per dot overflowed the stack here).
TEST(ModuleEnvTest, NamesWithHundredsOfThousandsOfDotsAreNotFoundWithoutCrashing) {
  TempTree t;
  t.Write("a/__init__.py");
  t.Write("a/a/__init__.py");
  const PythonPath py({t.root()});
  std::string deep = "a";
  for (int i = 0; i < 300000; ++i) deep += ".a";
  EXPECT_FALSE(py.Find(deep));
  EXPECT_TRUE(py.Find("a.a"));
  EXPECT_EQ(py.Find("os.path")->kind, K::kBuiltin);  // builtin whatever its parent is
  EXPECT_FALSE(py.Find("os.path.x"));
}

TEST(ModuleEnvTest, EnvironmentReportsWhatTheExporterWouldSee) {
  TempTree t;
  t.Write("pkg/__init__.py", "import os\r\nx = 1\r");
  t.Write("pkg/ext" + ConfiguredPython().extension_suffixes.front());
  t.Write("pkg/compiled.pyc");
  t.Dir("pkg/nsub");
  FileSystemEnvironment env({t.root()});
  auto pkg = env.Find("pkg");
  ASSERT_TRUE(pkg);
  EXPECT_EQ(pkg->kind, ModuleSource::Kind::kSource);
  EXPECT_TRUE(pkg->is_package);
  EXPECT_EQ(pkg->source, "import os\nx = 1\n");
  EXPECT_EQ(env.Find("pkg.ext")->kind, ModuleSource::Kind::kExtension);
  EXPECT_EQ(env.Find("pkg.compiled")->kind, ModuleSource::Kind::kFileNotFound);
  EXPECT_EQ(env.Find("pkg.nsub")->kind, ModuleSource::Kind::kNoFile);
  EXPECT_EQ(env.Find("sys")->kind, ModuleSource::Kind::kNoFile);
  EXPECT_TRUE(env.Importable("json"));
  EXPECT_FALSE(env.Importable("pkg.missing"));
}

// Extension files load only with one of the interpreter's own suffixes, in
// their order: another version's build is not a module.
TEST(ModuleEnvTest, ExtensionsFollowTheConfiguredInterpretersSuffixes) {
  TempTree t;
  const std::vector<std::string>& suffixes = ConfiguredPython().extension_suffixes;
  ASSERT_FALSE(suffixes.empty());
  t.Write("other.cpython-299-x86_64-linux-gnu.so");
  t.Write("stable.abi3.so");
  t.Write("both" + suffixes.front());
  t.Write("both.so");
  const PythonPath py({t.root()});
  EXPECT_FALSE(py.Find("other"));
  ASSERT_TRUE(py.Find("stable"));
  EXPECT_EQ(py.Find("stable")->kind, K::kExtension);
  EXPECT_EQ(py.Find("both")->path, t.root() + "/both" + suffixes.front());
}

// The configured interpreter's own importlib, asked about each name (parents
// imported as importlib does): "builtin", "namespace", a file path, or "none".
std::map<std::string, std::string> AskTheInterpreter(const std::vector<std::string>& names) {
  TempTree t;
  t.Write("ask.py",
          "import importlib.util, sys, typing\n"
          "def what(name):\n"
          "    module = sys.modules.get(name)\n"
          "    if module is not None and getattr(module, '__spec__', None) is None:\n"
          "        return 'builtin'  # typing.io: put in sys.modules by typing\n"
          "    try:\n"
          "        spec = importlib.util.find_spec(name)\n"
          "    except Exception:\n"
          "        return 'none'\n"
          "    if spec is None:\n"
          "        return 'none'\n"
          "    if spec.origin in ('built-in', 'frozen'):\n"
          "        return 'builtin'\n"
          "    return 'namespace' if spec.origin is None else spec.origin\n"
          "for name in sys.argv[1:]:\n"
          "    print(name, what(name))\n");
  std::string command = ConfiguredPython().executable + " -E -s " + t.root() + "/ask.py";
  for (const auto& name : names) command += " " + name;
  std::map<std::string, std::string> out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char line[4096];
  while (fgets(line, sizeof line, pipe)) {
    std::istringstream fields(line);
    std::string name, what;
    fields >> name >> what;
    out[name] = what;
  }
  ::pclose(pipe);
  return out;
}

std::string WhatTheProbeSays(const PythonPath& py, const std::string& name) {
  const auto found = py.Find(name);
  if (!found) return "none";
  if (found->kind == K::kBuiltin) return "builtin";
  if (found->kind == K::kNamespacePackage) return "namespace";
  return found->path;
}

// The probe follows the interpreter the build was configured with, whatever
// its version: the same answer as its importlib for stdlib, lib-dynload,
// dist-packages, builtin, frozen and missing names.
TEST(ModuleEnvTest, ProbeAgreesWithTheConfiguredInterpretersImportlib) {
  const std::vector<std::string> names = {"json",
                                          "json.decoder",
                                          "_json",
                                          "math",
                                          "sys",
                                          "os",
                                          "os.path",
                                          "typing",
                                          "typing.io",
                                          "typing.re",
                                          "_ctypes",
                                          "_decimal",
                                          "_sqlite3",
                                          "encodings.utf_8",
                                          "xml.etree.ElementTree",
                                          "email.mime.text",
                                          "importlib.resources",
                                          "numpy",
                                          "numpy.core.multiarray",
                                          "numpy.core._multiarray_umath",
                                          "numpy._core._multiarray_umath",
                                          "numpy.linalg",
                                          "torch.nn.modules.linear",
                                          "torch.Tensor",
                                          "math.nan",
                                          "json.decoder.JSONDecoder",
                                          "telnetlib",
                                          "_pyrepl",
                                          "tomllib",
                                          "no_such_module_anywhere"};
  const auto expected = AskTheInterpreter(names);
  ASSERT_EQ(expected.size(), names.size()) << "cannot run " << ConfiguredPython().executable;
  const PythonPath py;
  for (const auto& name : names) {
    EXPECT_EQ(WhatTheProbeSays(py, name), expected.at(name)) << name;
  }
}

}  // namespace
}  // namespace tpkg
