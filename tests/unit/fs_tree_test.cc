// Tree: record names become directories and files the way doc/format.md §9's
// directory mode expects (prefix stripped, implied folders, sorted listing).
#include <gtest/gtest.h>

#include "tpkg/error.h"
#include "tree.h"

namespace tpkg::fs {
namespace {

std::vector<ZipEntry> Entries(std::initializer_list<const char*> names) {
  std::vector<ZipEntry> out;
  for (const char* n : names) {
    ZipEntry e;
    e.name = n;
    e.full_name = std::string("pkg/") + n;
    out.push_back(e);
  }
  return out;
}

std::vector<std::string> Listing(const Tree& t, InodeId dir) {
  std::vector<std::string> names;
  for (const auto& [name, ino] : t.node(dir).children) names.push_back(name);
  return names;
}

TEST(TreeTest, RootIsInodeOneAndAnEmptyDirectory) {
  const Tree t = Tree::Build({});
  ASSERT_TRUE(t.Contains(kRootInode));
  EXPECT_EQ(t.node(kRootInode).kind, NodeKind::kDirectory);
  EXPECT_TRUE(t.node(kRootInode).children.empty());
  EXPECT_FALSE(t.Contains(0));
  EXPECT_FALSE(t.Contains(2));
}

TEST(TreeTest, FoldersAreImpliedByRecordPaths) {
  const auto entries = Entries({"a/b/c.py", ".data/version", "a/d.txt"});
  const Tree t = Tree::Build(entries);
  const auto a = t.Resolve("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(t.node(*a).kind, NodeKind::kDirectory);
  EXPECT_EQ(Listing(t, *a), (std::vector<std::string>{"b", "d.txt"}));
  const auto c = t.Resolve("a/b/c.py");
  ASSERT_TRUE(c);
  EXPECT_EQ(t.node(*c).kind, NodeKind::kFile);
  EXPECT_EQ(std::get<RecordRef>(t.node(*c).source).entry_index, 0u);
  EXPECT_EQ(std::get<RecordRef>(t.node(*t.Resolve(".data/version")).source).entry_index, 1u);
}

TEST(TreeTest, ChildrenAreSortedByteWise) {
  const auto entries = Entries({"z.py", "B.py", "a.py", ".data/x", "_m.py"});
  const Tree t = Tree::Build(entries);
  EXPECT_EQ(Listing(t, kRootInode),
            (std::vector<std::string>{".data", "B.py", "_m.py", "a.py", "z.py"}));
}

TEST(TreeTest, DirectoryEntriesBecomeFoldersAndThePrefixEntryIsTheRoot) {
  const auto entries = Entries({"", ".data/", "empty/", "empty/sub/", ".data/version"});
  std::vector<std::string> warnings;
  const Tree t = Tree::Build(entries, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(Listing(t, kRootInode), (std::vector<std::string>{".data", "empty"}));
  EXPECT_EQ(t.node(*t.Resolve("empty/sub")).kind, NodeKind::kDirectory);
  EXPECT_EQ(t.node(*t.Resolve("empty")).subdirectories, 1u);
  EXPECT_EQ(t.node(kRootInode).subdirectories, 2u);
}

TEST(TreeTest, UnplaceableRecordsAreSkippedWithAWarning) {
  struct Case {
    std::vector<const char*> names;
    std::vector<std::string> root_listing;
    size_t warnings;
  };
  const std::vector<Case> cases = {
      {{"a//b"}, {}, 1},
      {{"a/./b"}, {}, 1},
      {{"../evil"}, {}, 1},
      {{"a/.."}, {}, 1},
      {{"a", "a/b"}, {"a"}, 1},  // the file came first: a/b has no folder
      {{"a/b", "a"}, {"a"}, 1},  // the folder came first: the file is dropped
      {{"ok.py", "x//y"}, {"ok.py"}, 1},
  };
  for (const Case& c : cases) {
    std::vector<ZipEntry> entries;
    for (const char* n : c.names) entries.push_back(Entries({n})[0]);
    std::vector<std::string> warnings;
    const Tree t = Tree::Build(entries, &warnings);
    EXPECT_EQ(Listing(t, kRootInode), c.root_listing) << c.names[0];
    EXPECT_EQ(warnings.size(), c.warnings) << c.names[0];
  }
}

TEST(TreeTest, ShadowedRecordsAreSkippedWithAWarningNamingWhy) {
  auto entries = Entries({"x.txt", "x.txt", "y.txt"});
  entries[0].shadowed = true;  // torch's lookup returns entries[1]
  entries[2].shadowed = entries[2].outside_prefix = true;
  std::vector<std::string> warnings;
  const Tree t = Tree::Build(entries, &warnings);
  EXPECT_EQ(Listing(t, kRootInode), (std::vector<std::string>{"x.txt"}));
  EXPECT_EQ(std::get<RecordRef>(t.node(*t.Resolve("x.txt")).source).entry_index, 1u);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("torch's reader returns another record of this name"),
            std::string::npos);
  EXPECT_NE(warnings[1].find("outside the prefix folder"), std::string::npos);
}

TEST(TreeTest, ALaterDuplicateRecordWins) {
  const auto entries = Entries({"x.txt", "x.txt"});
  const Tree t = Tree::Build(entries);
  EXPECT_EQ(Listing(t, kRootInode), (std::vector<std::string>{"x.txt"}));
  EXPECT_EQ(std::get<RecordRef>(t.node(*t.Resolve("x.txt")).source).entry_index, 1u);
}

TEST(TreeTest, LookupFindsOnlyExactNamesInDirectories) {
  const auto entries = Entries({"res/hello.txt"});
  const Tree t = Tree::Build(entries);
  const InodeId res = *t.Resolve("res");
  EXPECT_TRUE(t.Lookup(res, "hello.txt"));
  EXPECT_FALSE(t.Lookup(res, "HELLO.TXT"));  // case-sensitive, unlike torch's lookups
  EXPECT_FALSE(t.Lookup(res, "hello"));
  const InodeId file = *t.Resolve("res/hello.txt");
  EXPECT_FALSE(t.Lookup(file, "x"));  // a file has no children
  EXPECT_FALSE(t.Lookup(999, "x"));
}

TEST(TreeTest, PathOfInvertsResolve) {
  const auto entries = Entries({"a/b/c.py", "d"});
  const Tree t = Tree::Build(entries);
  for (const char* p : {"a", "a/b", "a/b/c.py", "d"}) EXPECT_EQ(t.PathOf(*t.Resolve(p)), p);
  EXPECT_EQ(t.PathOf(kRootInode), "");
  EXPECT_EQ(*t.Resolve(""), kRootInode);
}

TEST(TreeTest, VirtualFilesReplaceRecordsAndCreateTheirFolders) {
  const auto entries = Entries({".data/extern_modules", "m.py"});
  Tree t = Tree::Build(entries);
  const InodeId externs = t.AddVirtualFile(".data/extern_modules", 0);
  EXPECT_EQ(externs, *t.Resolve(".data/extern_modules"));
  EXPECT_EQ(std::get<VirtualRef>(t.node(externs).source).slot, 0u);
  const InodeId dot = t.AddVirtualFile("new/dir/deps.dot", 1);
  EXPECT_EQ(t.PathOf(dot), "new/dir/deps.dot");
  EXPECT_EQ(Listing(t, kRootInode), (std::vector<std::string>{".data", "m.py", "new"}));
}

TEST(TreeTest, AVirtualFileCannotReplaceAFolderOrLiveUnderAFile) {
  const auto entries = Entries({".data/deps.dot/x", "m.py"});
  Tree t = Tree::Build(entries);
  EXPECT_THROW(t.AddVirtualFile(".data/deps.dot", 0), Error);
  EXPECT_THROW(t.AddVirtualFile("m.py/x", 0), Error);
  EXPECT_THROW(t.AddVirtualFile("", 0), Error);
}

TEST(SplitRecordPathTest, RefusesEmptyDotAndDotDotComponents) {
  EXPECT_EQ(SplitRecordPath("a/b/c")->size(), 3u);
  EXPECT_EQ(SplitRecordPath("a/b/")->size(), 2u);
  EXPECT_TRUE(SplitRecordPath("")->empty());
  for (const char* bad : {"/a", "a//b", "./a", "a/..", "a/./b", "//"}) {
    EXPECT_FALSE(SplitRecordPath(bad)) << bad;
  }
  EXPECT_FALSE(SplitRecordPath(std::string_view("a\0b", 3)));
  EXPECT_TRUE(SplitRecordPath("d/" + std::string(255, 'x')));
  EXPECT_FALSE(SplitRecordPath("d/" + std::string(256, 'x')));
}

}  // namespace
}  // namespace tpkg::fs
