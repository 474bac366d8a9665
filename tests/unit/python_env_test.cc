// python_env.h: the configured interpreter's facts (generated at build time)
// are that interpreter's, the committed per-version stdlib tables are found
// by version, and a package's `.data/python_version` picks the stdlib list
// that decides torch's implicit externs when its metadata is regenerated.
#include "tpkg/python_env.h"

#include <gtest/gtest.h>
#include <stdio.h>

#include <algorithm>
#include <string>

#include "edited_records.h"
#include "torch2_archives.h"
#include "tpkg/metadata.h"
#include "tpkg/zip_reader.h"

namespace tpkg {
namespace {

// What the configured interpreter prints for `expression`.
std::string Ask(const std::string& expression) {
  const std::string command = ConfiguredPython().executable +
                              " -E -s -c 'import platform, sys, sysconfig; print(" + expression +
                              ")'";
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ::pclose(pipe);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(PythonEnvTest, ConfiguredFactsAreTheConfiguredInterpreters) {
  const PythonInterpreter& python = ConfiguredPython();
  EXPECT_EQ(python.version, Ask("platform.python_version()"));
  EXPECT_EQ(python.stdlib_dir, Ask("sysconfig.get_paths()[\"stdlib\"]"));
  EXPECT_EQ(ConfiguredStdlibNames().version(),
            Ask("f\"{sys.version_info[0]}.{sys.version_info[1]}\""));
  EXPECT_NE(std::find(python.search_path.begin(), python.search_path.end(), python.stdlib_dir),
            python.search_path.end());
  ASSERT_FALSE(python.extension_suffixes.empty());
  EXPECT_EQ(python.extension_suffixes.back(), ".so");
  EXPECT_TRUE(IsStdlibModule("json.decoder"));
  EXPECT_TRUE(IsBuiltinModule("sys"));
  EXPECT_TRUE(IsBuiltinModule("os.path"));  // frozen
  EXPECT_FALSE(IsBuiltinModule("json"));
}

TEST(PythonEnvTest, TablesAreCommittedForDebian12And13) {
  const std::vector<std::string> versions = CommittedStdlibVersions();
  EXPECT_NE(std::find(versions.begin(), versions.end(), "3.11"), versions.end());
  EXPECT_NE(std::find(versions.begin(), versions.end(), "3.13"), versions.end());
  EXPECT_TRUE(std::is_sorted(versions.begin(), versions.end()));
}

// PEP 594 removed telnetlib, cgi, imghdr... in 3.13, which added _pyrepl.
TEST(PythonEnvTest, EachVersionHasItsOwnStdlib) {
  const StdlibNames& py311 = StdlibNamesFor("3.11.2");
  const StdlibNames& py313 = StdlibNamesFor("3.13.5");
  EXPECT_EQ(py311.version(), "3.11");
  EXPECT_EQ(py313.version(), "3.13");
  for (const char* both : {"json", "os", "tomllib", "importlib.resources"}) {
    EXPECT_TRUE(py311.Contains(both)) << both;
    EXPECT_TRUE(py313.Contains(both)) << both;
  }
  for (const char* removed : {"telnetlib", "cgi", "imghdr", "lib2to3"}) {
    EXPECT_TRUE(py311.Contains(removed)) << removed;
    EXPECT_FALSE(py313.Contains(removed)) << removed;
  }
  EXPECT_FALSE(py311.Contains("_pyrepl"));
  EXPECT_TRUE(py313.Contains("_pyrepl"));
  EXPECT_EQ(&StdlibNamesFor("3.13"), &py313);
}

TEST(PythonEnvTest, UnknownVersionsFallBackToTheConfiguredInterpreter) {
  for (const char* version : {"", "garbage", "3.", ".13", "3.99.1", "x3.11"}) {
    EXPECT_EQ(&StdlibNamesFor(version), &ConfiguredStdlibNames()) << version;
  }
  EXPECT_EQ(&StdlibNamesFor(ConfiguredPython().version), &ConfiguredStdlibNames());
}

// tests/data/torch2/package.pt was exported by torch 2.6 on Python 3.13.5.
class PackagePythonTest : public ::testing::Test {
 protected:
  PackagePythonTest()
      : zip_(ZipReader::Open(testing::Torch2Path("package.pt"))),
        records_(zip_),
        edited_(records_) {}
  Metadata Regenerate(const std::string& denied) {
    MetadataOptions options;
    options.deny.emplace_back(denied);
    return RegenerateMetadata(edited_, options);
  }
  static bool Has(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  }
  ZipReader zip_;
  ZipRecordSource records_;
  testing::EditedRecords edited_;
};

TEST_F(PackagePythonTest, RegeneratesTheExternModulesTorch26Wrote) {
  const Metadata m = RegenerateMetadata(records_);
  EXPECT_EQ(m.problems, "");
  EXPECT_EQ(m.extern_modules_text, zip_.ReadAll(*zip_.Find(".data/extern_modules")));
}

// Implicit externs come before deny patterns in torch's add_dependency(), so
// a denied module is an extern when it is stdlib for the package's Python
// and a problem otherwise. (The module counts as importable through the
// previous extern list, so the answer does not depend on this machine's
// Python having it.)
struct StdlibCase {
  const char* python_version;
  const char* module;
  bool stdlib;
};

class PackageStdlibTest : public PackagePythonTest,
                          public ::testing::WithParamInterface<StdlibCase> {};

TEST_P(PackageStdlibTest, ThePackagesPythonDecidesTheImplicitExterns) {
  const StdlibCase& c = GetParam();
  edited_.Put(".data/python_version", c.python_version);
  edited_.Put("m.py", std::string("import ") + c.module + "\nX = 1\n");
  MetadataOptions options;
  options.deny.emplace_back(c.module);
  options.previous_externs = std::vector<std::string>{c.module};
  const Metadata m = RegenerateMetadata(edited_, options);
  if (c.stdlib) {
    EXPECT_EQ(m.problems, "");
    EXPECT_TRUE(Has(m.externs, c.module)) << m.extern_modules_text;
  } else {
    EXPECT_EQ(m.problems,
              std::string("\n* Module was denied by a pattern.\n    ") + c.module + "\n");
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, PackageStdlibTest,
                         ::testing::Values(StdlibCase{"3.11.2", "telnetlib", true},
                                           StdlibCase{"3.13.5", "telnetlib", false},
                                           StdlibCase{"3.11.2", "_pyrepl", false},
                                           StdlibCase{"3.13.5", "_pyrepl", true},
                                           StdlibCase{"3.13", "json", true}));

}  // namespace
}  // namespace tpkg
