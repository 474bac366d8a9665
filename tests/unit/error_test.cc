#include "tpkg/error.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace tpkg {
namespace {

TEST(ErrorTest, SysErrnoWinsOverCategory) {
  Error e(Errc::kIo, "x", ENOSPC);
  EXPECT_EQ(ToErrno(e), ENOSPC);
}

TEST(ErrorTest, CategoryMapsToErrno) {
  struct Row {
    Errc code;
    int err;
  };
  const Row rows[] = {
      {Errc::kNotFound, ENOENT}, {Errc::kExists, EEXIST},      {Errc::kNotDir, ENOTDIR},
      {Errc::kIsDir, EISDIR},    {Errc::kNotEmpty, ENOTEMPTY}, {Errc::kNameTooLong, ENAMETOOLONG},
      {Errc::kCorrupt, EIO},     {Errc::kReadOnly, EROFS},     {Errc::kNoSpace, ENOSPC},
  };
  for (const Row& r : rows) EXPECT_EQ(ToErrno(Error(r.code, "x")), r.err);
}

TEST(ErrorTest, ThrowSystemErrorNamesTheCauseAndKeepsErrno) {
  try {
    ThrowSystemError("Cannot open 'a.pt'", ENOENT);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNotFound);
    EXPECT_EQ(e.sys_errno(), ENOENT);
    EXPECT_STREQ(e.what(), "Cannot open 'a.pt': No such file or directory");
  }
}

}  // namespace
}  // namespace tpkg
