// The namespace model behind the journal: POSIX errno rules and subtree moves.
#include "journal/record_tree.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <functional>

namespace tpkg {
namespace {

std::vector<ZipEntry> Entries(std::initializer_list<const char*> names) {
  std::vector<ZipEntry> out;
  for (const char* n : names) {
    ZipEntry e;
    e.name = n;
    e.full_name = std::string("arch/") + n;
    e.size = std::strlen(n);
    out.push_back(e);
  }
  return out;
}

// a/b.py, a/c/d.py, top.txt, .data/version, and an empty directory entry.
std::vector<ZipEntry> Sample() {
  return Entries({"a/b.py", "a/c/d.py", "top.txt", ".data/version", "empty/"});
}

std::vector<std::string> Names(const std::vector<TreeChild>& children) {
  std::vector<std::string> out;
  for (const TreeChild& c : children) out.push_back(c.name + (c.is_dir ? "/" : ""));
  return out;
}

TEST(RecordTreeTest, OriginalNamespaceHasEveryAncestorAndDirectoryEntry) {
  const auto entries = Sample();
  RecordTree tree(entries);
  EXPECT_TRUE(tree.FindDir(""));
  EXPECT_TRUE(tree.FindDir("a"));
  EXPECT_TRUE(tree.FindDir("a/c"));
  EXPECT_TRUE(tree.FindDir(".data"));
  EXPECT_TRUE(tree.FindDir("empty"));
  EXPECT_EQ(tree.FindFile("a/b.py")->original, &entries[0]);
  EXPECT_EQ(Names(tree.List("")), (std::vector<std::string>{".data/", "a/", "empty/", "top.txt"}));
  EXPECT_EQ(Names(tree.List("a")), (std::vector<std::string>{"b.py", "c/"}));
  EXPECT_TRUE(tree.IsEmptyDir("empty"));
  EXPECT_FALSE(tree.IsEmptyDir("a"));
}

struct ErrnoRow {
  const char* what;
  std::function<int(const RecordTree&)> check;
  int expected;
};

TEST(RecordTreeTest, ChecksReturnTheErrnoPosixSpecifies) {
  const auto entries = Sample();
  RecordTree tree(entries);
  const ErrnoRow rows[] = {
      {"create new file", [](auto& t) { return t.CheckCreate("a/new.py"); }, 0},
      {"create over file", [](auto& t) { return t.CheckCreate("a/b.py"); }, EEXIST},
      {"create over dir", [](auto& t) { return t.CheckCreate("a"); }, EEXIST},
      {"create in missing dir", [](auto& t) { return t.CheckCreate("nope/x"); }, ENOENT},
      {"create under a file", [](auto& t) { return t.CheckCreate("top.txt/x"); }, ENOTDIR},
      {"open dir for write", [](auto& t) { return t.CheckFileExists("a"); }, EISDIR},
      {"open missing", [](auto& t) { return t.CheckFileExists("missing"); }, ENOENT},
      {"unlink dir", [](auto& t) { return t.CheckUnlink("a/c"); }, EISDIR},
      {"unlink file", [](auto& t) { return t.CheckUnlink("a/b.py"); }, 0},
      {"unlink missing", [](auto& t) { return t.CheckUnlink("a/zz"); }, ENOENT},
      {"mkdir over file", [](auto& t) { return t.CheckMkdir("a/b.py"); }, EEXIST},
      {"mkdir in missing dir", [](auto& t) { return t.CheckMkdir("x/y"); }, ENOENT},
      {"mkdir new", [](auto& t) { return t.CheckMkdir("newdir"); }, 0},
      {"rmdir root", [](auto& t) { return t.CheckRmdir(""); }, EBUSY},
      {"rmdir non-empty", [](auto& t) { return t.CheckRmdir("a"); }, ENOTEMPTY},
      {"rmdir empty", [](auto& t) { return t.CheckRmdir("empty"); }, 0},
      {"rmdir file", [](auto& t) { return t.CheckRmdir("top.txt"); }, ENOTDIR},
      {"rmdir missing", [](auto& t) { return t.CheckRmdir("zzz"); }, ENOENT},
      {"rename missing", [](auto& t) { return t.CheckRename("missing", "x", false); }, ENOENT},
      {"rename dir into itself", [](auto& t) { return t.CheckRename("a", "a/c/z", false); },
       EINVAL},
      {"rename onto itself", [](auto& t) { return t.CheckRename("a", "a", false); }, 0},
      {"rename dir onto its parent", [](auto& t) { return t.CheckRename("a/c", "a", false); },
       ENOTEMPTY},
      {"rename file onto dir", [](auto& t) { return t.CheckRename("a/b.py", "a", false); }, EISDIR},
      {"rename dir onto file", [](auto& t) { return t.CheckRename("a", "top.txt", false); },
       ENOTDIR},
      {"rename dir onto empty dir", [](auto& t) { return t.CheckRename("a", "empty", false); }, 0},
      {"rename dir onto non-empty dir", [](auto& t) { return t.CheckRename("empty", "a", false); },
       ENOTEMPTY},
      {"rename file over file", [](auto& t) { return t.CheckRename("top.txt", "a/b.py", false); },
       0},
      {"rename NOREPLACE over file",
       [](auto& t) { return t.CheckRename("top.txt", "a/b.py", true); }, EEXIST},
      {"rename into missing dir",
       [](auto& t) { return t.CheckRename("top.txt", "nodir/x", false); }, ENOENT},
      {"rename under a file", [](auto& t) { return t.CheckRename("top.txt", "a/b.py/x", false); },
       ENOTDIR},
      {"rename root", [](auto& t) { return t.CheckRename("", "x", false); }, EBUSY},
      {"chmod root", [](auto& t) { return t.CheckAttr(""); }, 0},
      {"chmod missing", [](auto& t) { return t.CheckAttr("missing"); }, ENOENT},
  };
  for (const ErrnoRow& row : rows) EXPECT_EQ(row.check(tree), row.expected) << row.what;
}

TEST(RecordTreeTest, PathValidationFollowsNameMaxAndPathMax) {
  struct Row {
    std::string path;
    int expected;
  };
  const Row rows[] = {
      {"", 0},
      {"a", 0},
      {"a/b/c.py", 0},
      {std::string(255, 'x'), 0},
      {std::string(256, 'x'), ENAMETOOLONG},
      {"d/" + std::string(256, 'x'), ENAMETOOLONG},
      {std::string(2100, 'a') + "/" + std::string(2100, 'b'), ENAMETOOLONG},
      {"/a", EINVAL},
      {"a/", EINVAL},
      {"a//b", EINVAL},
      {"./a", EINVAL},
      {"a/..", EINVAL},
      {std::string("a\0b", 3), EINVAL},
      {"m/notes\xff.txt", EILSEQ},
      {"m/caf\xc3\xa9.txt", 0},
  };
  for (const Row& row : rows)
    EXPECT_EQ(ValidateRecordPath(row.path), row.expected) << row.path.substr(0, 40);
}

TEST(RecordTreeTest, BytecodeCachePathsAreRecognised) {
  for (const char* path : {"__pycache__", "pkg/__pycache__", "pkg/__pycache__/m.cpython-311.pyc",
                           "__pycache__/x.tmp", "m.pyc", "a/b/m.cpython-311.opt-1.pyc"})
    EXPECT_TRUE(IsBytecodeCachePath(path)) << path;
  for (const char* path :
       {"", "pkg/m.py", "pkg/pycache/x", "pkg/__pycache__x/y", "pkg/m.pyc.txt", "x__pycache__"})
    EXPECT_FALSE(IsBytecodeCachePath(path)) << path;
}

TEST(RecordTreeTest, RenamingADirectoryMovesItsWholeSubtree) {
  const auto entries = Sample();
  RecordTree tree(entries);
  ASSERT_EQ(tree.CheckRename("a", "empty", false), 0);
  tree.Rename("a", "empty");
  EXPECT_FALSE(tree.Exists("a"));
  EXPECT_FALSE(tree.Exists("a/b.py"));
  EXPECT_EQ(tree.FindFile("empty/b.py")->original, &entries[0]);
  EXPECT_EQ(tree.FindFile("empty/c/d.py")->original, &entries[1]);
  EXPECT_TRUE(tree.FindDir("empty/c"));
  EXPECT_EQ(Names(tree.List("")), (std::vector<std::string>{".data/", "empty/", "top.txt"}));
}

TEST(RecordTreeTest, RenameOverAFileFreesItsJournalData) {
  const auto entries = Sample();
  RecordTree tree(entries);
  tree.SetContent("a/b.py", 7);
  EXPECT_EQ(tree.Rename("top.txt", "a/b.py"), std::vector<uint64_t>{7});
  EXPECT_EQ(tree.FindFile("a/b.py")->original, &entries[2]);
  EXPECT_FALSE(tree.Exists("top.txt"));
}

TEST(RecordTreeTest, RemovingTheLastFileKeepsTheDirectory) {
  const auto entries = Sample();
  RecordTree tree(entries);
  tree.Unlink("a/c/d.py");
  EXPECT_TRUE(tree.FindDir("a/c"));
  EXPECT_TRUE(tree.IsEmptyDir("a/c"));
  EXPECT_EQ(tree.CheckRmdir("a/c"), 0);
}

TEST(RecordTreeTest, FuseZipCrashSequenceGivesEnotempty) {
  // mkdir a b; touch b/f; mv -T a b; rm b/f  (fuse-zip crashes on this)
  RecordTree tree(std::vector<ZipEntry>{});
  tree.Mkdir("a", TreeAttr{});
  tree.Mkdir("b", TreeAttr{});
  ASSERT_EQ(tree.CheckCreate("b/f"), 0);
  tree.Create("b/f", 1, TreeAttr{});
  EXPECT_EQ(tree.CheckRename("a", "b", false), ENOTEMPTY);
  ASSERT_EQ(tree.CheckUnlink("b/f"), 0);
  EXPECT_EQ(tree.Unlink("b/f"), std::vector<uint64_t>{1});
  EXPECT_EQ(tree.CheckRename("a", "b", false), 0);
}

TEST(RecordTreeTest, NewContentClearsTheMtimeOverride) {
  const auto entries = Sample();
  RecordTree tree(entries);
  tree.SetMtime("top.txt", timespec{100, 5});
  ASSERT_TRUE(tree.FindFile("top.txt")->attr.mtime);
  tree.SetContent("top.txt", 3);
  EXPECT_FALSE(tree.FindFile("top.txt")->attr.mtime);
}

TEST(RecordTreeTest, ListingSkipsDeepSubtreesAndSorts) {
  const auto entries = Entries({"z.py", "d/x/1", "d/x/2", "d/y", "d-z", "d0", "d/a/b/c"});
  RecordTree tree(entries);
  EXPECT_EQ(Names(tree.List("")), (std::vector<std::string>{"d/", "d-z", "d0", "z.py"}));
  EXPECT_EQ(Names(tree.List("d")), (std::vector<std::string>{"a/", "x/", "y"}));
}

// The tree is built with the central directory's order as a hint: any order,
// and a duplicate name, give the same namespace (the first entry of a name wins).
TEST(RecordTreeTest, TheCentralDirectorysOrderDoesNotMatter) {
  const auto in_order = Entries({"a.py", "b/c.py", "b/d.py", "e.py"});
  const auto shuffled = Entries({"e.py", "b/d.py", "a.py", "b/c.py", "a.py"});
  const RecordTree sorted_tree(in_order), shuffled_tree(shuffled);
  std::vector<std::string> sorted_names, shuffled_names;
  for (const auto& [path, file] : sorted_tree.files()) sorted_names.push_back(path);
  for (const auto& [path, file] : shuffled_tree.files()) shuffled_names.push_back(path);
  EXPECT_EQ(shuffled_names, sorted_names);
  EXPECT_EQ(Names(shuffled_tree.List("")), (std::vector<std::string>{"a.py", "b/", "e.py"}));
  ASSERT_NE(shuffled_tree.FindFile("a.py"), nullptr);
  EXPECT_EQ(shuffled_tree.FindFile("a.py")->original, &shuffled[2]);
}

}  // namespace
}  // namespace tpkg

namespace tpkg {
namespace {

TEST(RecordTreeTest, CaseTwinsAreFoundAsTorchsReaderFoldsNames) {
  const auto entries = Sample();
  RecordTree tree(entries);
  EXPECT_EQ(tree.CaseTwin("A/B.py"), std::optional<std::string>("a/b.py"));
  EXPECT_EQ(tree.CaseTwin("TOP.txt"), std::optional<std::string>("top.txt"));
  EXPECT_EQ(tree.CaseTwin("A"), std::optional<std::string>("a"));  // a file beside a folder
  EXPECT_EQ(tree.CaseTwin("A", /*is_dir=*/true), std::nullopt);    // two folders are fine
  EXPECT_EQ(tree.CaseTwin("TOP.TXT", /*is_dir=*/true), std::optional<std::string>("top.txt"));
  EXPECT_EQ(tree.CaseTwin("a/b.py"), std::nullopt);                    // itself
  EXPECT_EQ(tree.CaseTwinOfMove("top.txt", "TOP.txt"), std::nullopt);  // itself, in other case
  // A folder moved: every name below it at its new place. `a` holds b.py and c/d.py.
  tree.Mkdir("X", {});
  tree.Create("X/B.py", 2, {});
  EXPECT_EQ(tree.CaseTwinOfMove("X", "x"), std::nullopt);  // itself, in other case
  const std::optional<RecordTree::CaseClash> clash = tree.CaseTwinOfMove("X", "A");
  ASSERT_TRUE(clash);  // `A` pairs with no file, but A/B.py would with a/b.py
  EXPECT_EQ(clash->moved, "A/B.py");
  EXPECT_EQ(clash->twin, "a/b.py");
  tree.Unlink("X/B.py");
  EXPECT_EQ(tree.CaseTwinOfMove("X", "A"), std::nullopt);  // beside `a`: two folders
  tree.Rmdir("X");
  EXPECT_EQ(tree.CaseTwin("a/B.pyc"), std::nullopt);
  EXPECT_EQ(tree.CaseTwin("\xc3\x84.txt"), std::nullopt);  // only ASCII folds, as in miniz
  // The index follows every change of the namespace.
  tree.Create("new.txt", 1, {});
  EXPECT_EQ(tree.CaseTwin("NEW.TXT"), std::optional<std::string>("new.txt"));
  tree.Rename("new.txt", "moved.txt");
  EXPECT_EQ(tree.CaseTwin("NEW.TXT"), std::nullopt);
  EXPECT_EQ(tree.CaseTwin("Moved.txt"), std::optional<std::string>("moved.txt"));
  tree.Rename("a", "z");  // a folder: its whole subtree moves
  EXPECT_EQ(tree.CaseTwin("A/B.py"), std::nullopt);
  EXPECT_EQ(tree.CaseTwin("Z/C/D.py"), std::optional<std::string>("z/c/d.py"));
  tree.Unlink("moved.txt");
  tree.Mkdir("Made", {});
  EXPECT_EQ(tree.CaseTwin("moved.txt"), std::nullopt);
  EXPECT_EQ(tree.CaseTwin("made"), std::optional<std::string>("Made"));
  tree.Rmdir("Made");
  EXPECT_EQ(tree.CaseTwin("made"), std::nullopt);
}

}  // namespace
}  // namespace tpkg
