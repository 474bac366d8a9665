// PythonPath / FileSystemEnvironment: importlib's lookup rules on real
// directories (the Debian Python 3.11 tree and small trees made here).
#include "tpkg/module_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

TEST(ModuleEnvTest, StdlibNamesAreTopLevelNamesOfPython311) {
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
  EXPECT_EQ(py.Find("json")->path, "/usr/lib/python3.11/json/__init__.py");
  EXPECT_TRUE(py.Find("json")->is_package());
  EXPECT_EQ(py.Find("math")->kind, K::kBuiltin);
  EXPECT_EQ(py.Find("os.path")->kind, K::kBuiltin);
  EXPECT_EQ(py.Find("typing.io")->kind, K::kBuiltin);
  ASSERT_TRUE(py.Find("numpy.core.multiarray"));
  EXPECT_EQ(py.Find("numpy.core.multiarray")->kind, K::kSource);
  ASSERT_TRUE(py.Find("numpy.core._multiarray_umath"));
  EXPECT_EQ(py.Find("numpy.core._multiarray_umath")->kind, K::kExtension);
  EXPECT_TRUE(py.Find("torch.nn.modules.linear"));
  EXPECT_TRUE(py.Find("_json"));  // lib-dynload extension
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
  t.Write("pkg/ext.cpython-311-x86_64-linux-gnu.so");
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

}  // namespace
}  // namespace tpkg
