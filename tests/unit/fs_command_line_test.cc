// Command line: libfuse conventions, including the argv shape that
// mount.fuse3 produces for `mount -t fuse.tpkgfs` and /etc/fstab.
#include <gtest/gtest.h>

#include "command_line.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

CommandLine Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "tpkgfs");
  return ParseCommandLine(args);
}

TEST(CommandLineTest, ArchiveAndMountpointWithDefaults) {
  const CommandLine cl = Parse({"model.pt", "/mnt/m"});
  EXPECT_EQ(cl.action, Action::kMount);
  EXPECT_EQ(cl.options.archive, "model.pt");
  EXPECT_EQ(cl.options.mountpoint, "/mnt/m");
  EXPECT_FALSE(cl.options.foreground);
  EXPECT_FALSE(cl.options.debug);
  EXPECT_FALSE(cl.options.single_threaded);
  EXPECT_TRUE(cl.options.strict);
  EXPECT_TRUE(cl.options.fuse_options.empty());
}

TEST(CommandLineTest, FlagsAnywhereOnTheLine) {
  const CommandLine cl = Parse({"-f", "model.pt", "-s", "/mnt/m"});
  EXPECT_TRUE(cl.options.foreground);
  EXPECT_TRUE(cl.options.single_threaded);
  EXPECT_EQ(cl.options.mountpoint, "/mnt/m");
}

TEST(CommandLineTest, DebugImpliesForeground) {
  for (auto args : {std::vector<const char*>{"-d", "a.pt", "m"},
                    std::vector<const char*>{"-o", "debug", "a.pt", "m"}}) {
    const CommandLine cl = Parse(args);
    EXPECT_TRUE(cl.options.debug);
    EXPECT_TRUE(cl.options.foreground);
  }
}

TEST(CommandLineTest, OurOptionsAreConsumedAndTheRestPassedThrough) {
  struct Case {
    std::vector<const char*> args;
    bool strict;
    std::vector<std::string> fuse_options;
  };
  const std::vector<Case> cases = {
      {{"a.pt", "m", "-o", "nostrict"}, false, {}},
      {{"a.pt", "m", "-o", "nostrict,strict"}, true, {}},
      {{"-o", "allow_other,default_permissions", "a.pt", "m"},
       true,
       {"allow_other", "default_permissions"}},
      {{"-oallow_other", "a.pt", "m"}, true, {"allow_other"}},
      {{"-o", "ro", "-o", "fsname=x\\,y", "a.pt", "m"}, true, {"fsname=x,y"}},
      // What mount.fuse3 runs for `mount -t fuse.tpkgfs a.pt m`:
      {{"a.pt", "m", "-o", "rw,nosuid,nodev,relatime"}, true, {"nosuid", "nodev", "relatime"}},
  };
  for (const Case& c : cases) {
    const CommandLine cl = Parse(c.args);
    EXPECT_EQ(cl.options.strict, c.strict) << c.args[0];
    EXPECT_EQ(cl.options.fuse_options, c.fuse_options) << c.args[0];
  }
}

TEST(CommandLineTest, HelpAndVersionNeedNoPositionals) {
  EXPECT_EQ(Parse({"-h"}).action, Action::kHelp);
  EXPECT_EQ(Parse({"--help"}).action, Action::kHelp);
  EXPECT_EQ(Parse({"-V"}).action, Action::kVersion);
}

TEST(CommandLineTest, VersionRefusesOperands) {
  for (const std::vector<const char*>& args :
       {std::vector<const char*>{"--version", "x"}, {"-V", "a.pt", "m"}, {"a.pt", "-V"}}) {
    try {
      Parse(args);
      ADD_FAILURE() << "accepted " << args.back();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("unexpected argument '"), std::string::npos) << e.what();
    }
  }
}

TEST(CommandLineTest, UsageErrorsAreInvalidArgument) {
  const std::vector<std::vector<const char*>> bad = {
      {}, {"a.pt"}, {"a.pt", "m", "extra"}, {"--bogus", "a.pt", "m"}, {"a.pt", "m", "-o"},
  };
  for (const auto& args : bad) {
    try {
      Parse(args);
      FAIL() << "accepted " << args.size() << " arguments";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kInvalidArgument);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

TEST(CommandLineTest, CloseWaitTakesWholeSeconds) {
  EXPECT_EQ(Parse({"a.pt", "m"}).options.close_wait, kDefaultCloseWait);
  EXPECT_EQ(Parse({"a.pt", "m", "-o", "close_wait=0"}).options.close_wait,
            std::chrono::milliseconds(0));
  const CommandLine cl = Parse({"a.pt", "m", "-o", "close_wait=90,allow_other"});
  EXPECT_EQ(cl.options.close_wait, std::chrono::seconds(90));
  EXPECT_EQ(cl.options.fuse_options, std::vector<std::string>{"allow_other"});  // ours, consumed
  for (const char* bad :
       {"close_wait=", "close_wait=-1", "close_wait=1.5", "close_wait=86401", "close_wait=3s"}) {
    try {
      Parse({"a.pt", "m", "-o", bad});
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("give whole seconds from 0 to 86400"), std::string::npos)
          << e.what();
    }
  }
}

TEST(SplitOptionListTest, SplitsOnUnescapedCommas) {
  EXPECT_EQ(SplitOptionList("a,b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(SplitOptionList("a\\,b,c"), (std::vector<std::string>{"a,b", "c"}));
  EXPECT_EQ(SplitOptionList(",,a,"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(SplitOptionList("p\\\\q"), (std::vector<std::string>{"p\\q"}));
  EXPECT_TRUE(SplitOptionList("").empty());
}

TEST(UsageTextTest, NamesEveryOption) {
  const std::string text = UsageText("tpkgfs");
  for (const char* opt : {"ARCHIVE MOUNTPOINT", "--help", "--version", "-f", "-d", "-s", "-o",
                          "nostrict", "allow_other", "default_permissions"}) {
    EXPECT_NE(text.find(opt), std::string::npos) << opt;
  }
}

TEST(CommandLineTest, UnmountTakesOneMountpointAndNothingElse) {
  for (auto args : {std::vector<const char*>{"-u", "/mnt/m"},
                    std::vector<const char*>{"/mnt/m", "--unmount"}}) {
    const CommandLine cl = Parse(args);
    EXPECT_EQ(cl.action, Action::kUnmount);
    EXPECT_EQ(cl.options.mountpoint, "/mnt/m");
  }
  for (auto args : {std::vector<const char*>{"-u"}, std::vector<const char*>{"-u", "a", "b"},
                    std::vector<const char*>{"-u", "-f", "/mnt/m"},
                    std::vector<const char*>{"-u", "-o", "ro", "/mnt/m"}}) {
    try {
      Parse(args);
      ADD_FAILURE() << "accepted " << args.size() << " arguments";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("usage: tpkgfs -u MOUNTPOINT"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace tpkg::fs
