// GuardFuseOp: what an operation throws becomes -errno and one log line, the
// same for the read-only and the read/write stack.
#include "fuse_op_guard.h"

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cerrno>
#include <new>
#include <stdexcept>
#include <string>

#include "log.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

// Runs `op` under the guard with stderr captured; returns the result and
// sets `*log` to what was written.
template <class Op>
auto Guarded(const char* verb, const std::string& path, Op op, std::string* log) {
  ::testing::internal::CaptureStderr();
  const auto rc = GuardFuseOp(verb, path, op);
  *log = ::testing::internal::GetCapturedStderr();
  return rc;
}

class FuseOpGuardTest : public ::testing::Test {
 protected:
  void SetUp() override { ConfigureLogging(LogSink::kStderr, /*debug=*/false); }
  void TearDown() override { ConfigureLogging(LogSink::kStderr, /*debug=*/false); }
};

TEST_F(FuseOpGuardTest, PassesTheResultThroughWithoutLogging) {
  std::string log;
  bool path_computed = false;
  ::testing::internal::CaptureStderr();
  const ssize_t n = GuardFuseOp(
      "read",
      [&] {
        path_computed = true;
        return std::string("a.py");
      },
      []() -> ssize_t { return 1234; });
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(n, 1234);
  EXPECT_EQ(log, "");
  EXPECT_FALSE(path_computed);
  EXPECT_EQ(Guarded(
                "open", "a.py", []() -> int { return -ENOENT; }, &log),
            -ENOENT);
  EXPECT_EQ(log, "") << "a returned -errno is an answer, not a failure";
}

TEST_F(FuseOpGuardTest, ErrorBecomesItsErrnoAndOneErrorLine) {
  std::string log;
  const int rc = Guarded(
      "read", "model/.data/0.storage",
      []() -> int { throw Error(Errc::kCorrupt, "CRC-32 mismatch"); }, &log);
  EXPECT_EQ(rc, -EIO);
  EXPECT_EQ(log, "tpkgfs: Cannot read 'model/.data/0.storage': CRC-32 mismatch\n");

  const ssize_t n = Guarded(
      "write", "model/a.py",
      []() -> ssize_t {
        throw Error(Errc::kNoSpace, "cannot write the journal data file: No space left", EDQUOT);
      },
      &log);
  EXPECT_EQ(n, -EDQUOT) << "the OS errno wins over the category";
  EXPECT_EQ(log,
            "tpkgfs: Cannot write 'model/a.py': cannot write the journal data file: "
            "No space left\n");
}

TEST_F(FuseOpGuardTest, APolicyRefusalIsAWarningInItsOwnWords) {
  std::string log;
  const int rc = Guarded(
      "create", "arch/res/A.txt",
      []() -> int {
        throw Error(Errc::kPolicy, "Cannot create 'res/A.txt': 'res/a.txt' differs", EEXIST);
      },
      &log);
  EXPECT_EQ(rc, -EEXIST);
  // EEXIST alone is an ordinary answer, not logged; the rule's refusal is, once.
  EXPECT_EQ(log, "tpkgfs: Cannot create 'res/A.txt': 'res/a.txt' differs\n");
}

TEST_F(FuseOpGuardTest, BadAllocBecomesEnomem) {
  std::string log;
  const int rc = Guarded(
      "list", "model", []() -> int { throw std::bad_alloc(); }, &log);
  EXPECT_EQ(rc, -ENOMEM);
  EXPECT_EQ(log, "tpkgfs: Cannot list 'model': out of memory\n");
}

TEST_F(FuseOpGuardTest, AnythingElseBecomesEio) {
  std::string log;
  EXPECT_EQ(Guarded(
                "stat", "a.py", []() -> int { throw std::logic_error("broken"); }, &log),
            -EIO);
  EXPECT_EQ(log, "tpkgfs: Cannot stat 'a.py': broken\n");
  EXPECT_EQ(Guarded(
                "stat", "a.py", []() -> int { throw 42; }, &log),
            -EIO);
  EXPECT_EQ(log, "tpkgfs: Cannot stat 'a.py': unknown error\n");
}

TEST_F(FuseOpGuardTest, OrdinaryAnswersAreLoggedOnlyWithDebug) {
  std::string log;
  bool path_computed = false;
  auto path = [&] {
    path_computed = true;
    return std::string("model/a.py");
  };
  auto exists = []() -> int { throw Error(Errc::kExists, "model/a.py: File exists", EEXIST); };
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(GuardFuseOp("create", path, exists), -EEXIST);
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log, "");
  EXPECT_FALSE(path_computed) << "the path is computed only for a line that is logged";

  ConfigureLogging(LogSink::kStderr, /*debug=*/true);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(GuardFuseOp("create", path, exists), -EEXIST);
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log, "tpkgfs: Cannot create 'model/a.py': model/a.py: File exists\n");
}

TEST_F(FuseOpGuardTest, APathThatCannotBeComputedIsLoggedAsAQuestionMark) {
  std::string log;
  ::testing::internal::CaptureStderr();
  const int rc = GuardFuseOp(
      "read", []() -> std::string { throw std::bad_alloc(); },
      []() -> int { throw Error(Errc::kIo, "cannot read the archive: Input/output error", EIO); });
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, -EIO);
  EXPECT_EQ(log, "tpkgfs: Cannot read '?': cannot read the archive: Input/output error\n");
}

TEST(OrdinaryAnswerTest, NamesWhatProgramsReportThemselves) {
  for (int err :
       {ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, ENAMETOOLONG, EINVAL, EACCES, EPERM, EBADF,
        EOVERFLOW}) {
    EXPECT_TRUE(IsOrdinaryAnswer(err)) << err;
  }
  for (int err : {EIO, ENOMEM, ENOSPC, EDQUOT, EROFS, ENOTSUP}) {
    EXPECT_FALSE(IsOrdinaryAnswer(err)) << err;
  }
}

}  // namespace
}  // namespace tpkg::fs
