// GlobGroup: doc/format.md §6.5's table and torch's docstring examples. The
// exhaustive comparison with real torch is tests/python/test_glob_differential.py.
#include "tpkg/glob.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tpkg/error.h"

namespace tpkg {
namespace {

struct GlobCase {
  GlobGroup group;
  std::vector<std::string> matches;
  std::vector<std::string> rejects;
};

std::vector<GlobCase> FormatTable() {
  return {
      {GlobGroup("torch.**"), {"torch", "torch.nn", "torch.nn.functional"}, {"torchvision"}},
      {GlobGroup("torch.*"), {"torch.nn"}, {"torch", "torch.nn.functional"}},
      {GlobGroup("torch*.**"), {"torch", "torchvision.models", "torch_x"}, {}},
      {GlobGroup("**.linear"), {"linear", "torch.nn.modules.linear"}, {"linear.x"}},
      {GlobGroup("a.**.c"), {"a.c", "a.b.c", "a.b.d.c"}, {"a.b"}},
      {GlobGroup("foo*bar"), {"foobar", "foo_x_bar"}, {"foo.bar"}},
      {GlobGroup("numpy"), {"numpy"}, {"numpy.core"}},
      {GlobGroup("*"), {"a", ""}, {"a.b"}},
      {GlobGroup("**"), {"a", "a.b"}, {""}},
      {GlobGroup("my.**", {"my.private", "my.x.*"}),
       {"my", "my.x", "my.private.sub", "my.x.y.z"},
       {"my.private", "my.x.y"}},
      {GlobGroup("res/*.txt", GlobPattern::Tuple({}), "/"), {"res/a.txt"}, {"res/sub/a.txt"}},
      {GlobGroup("**", GlobPattern::Tuple({}), "/"), {"a/b", ".data/x"}, {"", "a/"}},
  };
}

TEST(GlobGroupTest, MatchesFormatSpecTable) {
  for (const auto& c : FormatTable()) {
    for (const auto& name : c.matches) {
      EXPECT_TRUE(c.group.Matches(name)) << c.group.ToString() << " should match '" << name << "'";
    }
    for (const auto& name : c.rejects) {
      EXPECT_FALSE(c.group.Matches(name))
          << c.group.ToString() << " should reject '" << name << "'";
    }
  }
}

TEST(GlobGroupTest, RegexMetacharactersAreLiteral) {
  GlobGroup g(std::vector<std::string>{"a+b", "x$", "(c)", "[d]", "e?f", "g|h"});
  for (const char* name : {"a+b", "x$", "(c)", "[d]", "e?f", "g|h"})
    EXPECT_TRUE(g.Matches(name)) << name;
  for (const char* name : {"aab", "x", "c", "d", "ef", "g"}) EXPECT_FALSE(g.Matches(name)) << name;
}

TEST(GlobGroupTest, DoubleStarInsideASegmentIsTorchsValueError) {
  for (const char* bad : {"a**", "**a", "a.b**", "***"}) {
    try {
      GlobGroup g(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kInvalidArgument);
      EXPECT_STREQ(e.what(), "** can only appear as an entire path segment");
    }
  }
}

TEST(GlobGroupTest, ExcludePatternsAreValidatedToo) { EXPECT_THROW(GlobGroup("a", "b**"), Error); }

TEST(GlobGroupTest, ToStringIsTorchsRepr) {
  EXPECT_EQ(GlobGroup("torch.**").ToString(), "GlobGroup(include=torch.**, exclude=())");
  EXPECT_EQ(GlobGroup({"a", "b"}, "c").ToString(), "GlobGroup(include=['a', 'b'], exclude=c)");
  EXPECT_EQ(GlobGroup(GlobPattern::Tuple({"a"}), std::vector<std::string>{}).ToString(),
            "GlobGroup(include=('a',), exclude=[])");
  EXPECT_EQ(GlobGroup({"it's"}, {"\"q\"", "x'\"y"}).ToString(),
            "GlobGroup(include=[\"it's\"], exclude=['\"q\"', 'x\\'\"y'])");
}

TEST(GlobGroupTest, MultiCharacterSeparatorExcludesEachOfItsCharacters) {
  // torch builds `[^::]`, a class of the separator's characters.
  GlobGroup g("a::*", GlobPattern::Tuple({}), "::");
  EXPECT_TRUE(g.Matches("a::bc"));
  EXPECT_FALSE(g.Matches("a::b:c"));
  EXPECT_FALSE(g.Matches("a::b::c"));
}

TEST(GlobGroupTest, EmptySeparatorIsRejected) {
  EXPECT_THROW(GlobGroup("a", GlobPattern::Tuple({}), ""), Error);
}

TEST(GlobGroupTest, ManyStarsOnALongNameStayLinear) {
  // A backtracking regex needs exponential time here; the Pike VM does not.
  GlobGroup g("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b");
  EXPECT_FALSE(g.Matches(std::string(5000, 'a')));
  EXPECT_TRUE(g.Matches(std::string(5000, 'a') + "b"));
}

TEST(GlobGroupTest, NonAsciiNamesMatchByCodePoint) {
  GlobGroup g("é*.x");
  EXPECT_TRUE(g.Matches("éa.x"));
  EXPECT_FALSE(g.Matches("e.x"));
}

}  // namespace
}  // namespace tpkg
