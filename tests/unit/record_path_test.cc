// CheckRecordPath (tpkg/record_path.h): the one rule book for record names,
// row by row, with each optional rule on and off.
#include "tpkg/record_path.h"

#include <gtest/gtest.h>

#include <string>

namespace tpkg {
namespace {

struct Row {
  std::string path;
  RecordPathRules rules;
  std::string why;  // "" for a valid path
  bool too_long = false;
};

const RecordPathRules kPlain{};
const RecordPathRules kFullName{.dot_prefix_folder = true, .directory_entry = true};
const RecordPathRules kMount{.name_max = true, .path_max = true};

TEST(RecordPathTest, FollowsTheTable) {
  const Row rows[] = {
      {"model/a/b.py", kPlain, ""},
      {"a", kPlain, ""},
      {"", kPlain, "empty name"},
      {"/model/a.py", kPlain, "absolute name"},
      {"model//a.py", kPlain, "empty path component"},
      {"model/../a.py", kPlain, "'..' path component"},
      {"..", kPlain, "'..' path component"},
      {"model/./a.py", kPlain, "'.' path component"},
      {std::string("model/a\0.py", 11), kPlain, "name contains a NUL byte"},
      // "." as the prefix folder of a full name, and directory entries.
      {"./a.py", kPlain, "'.' path component"},
      {"./a.py", kFullName, ""},
      {"a/./b", kFullName, "'.' path component"},
      {"model/a/", kPlain, "empty path component"},
      {"model/a/", kFullName, ""},
      {"model/a//", kFullName, "empty path component"},
      // NAME_MAX and PATH_MAX.
      {std::string(255, 'x'), kMount, ""},
      {"d/" + std::string(256, 'x'), kPlain, ""},
      {"d/" + std::string(256, 'x'), kMount, "path component longer than 255 bytes", true},
      {std::string(2100, 'a') + "/" + std::string(2100, 'b'), kMount, "path longer than 4095 bytes",
       true},
      {std::string(2100, 'a') + "/" + std::string(2100, 'b'), kPlain, ""},
      // The first problem met wins: the path's length, then each component in order.
      {std::string(4096, '/'), kMount, "path longer than 4095 bytes", true},
      {"a/../" + std::string(256, 'x'), kMount, "'..' path component"},
      {std::string(256, 'x') + "/..", kMount, "path component longer than 255 bytes", true},
  };
  for (const Row& row : rows) {
    const RecordPathProblem p = CheckRecordPath(row.path, row.rules);
    EXPECT_EQ(std::string(p.why), row.why) << row.path.substr(0, 40);
    EXPECT_EQ(static_cast<bool>(p), !row.why.empty()) << row.path.substr(0, 40);
    EXPECT_EQ(p.too_long, row.too_long) << row.path.substr(0, 40);
  }
}

}  // namespace
}  // namespace tpkg
