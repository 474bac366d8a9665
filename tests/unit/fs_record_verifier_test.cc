// RecordVerifier: one pass per stored record and mount, a sticky verdict,
// passes that span several chunks, and truncation reported as corruption.
#include "record_verifier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "fs_test_files.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

using testing::Pattern;
using testing::TestArchive;

std::string CorruptReason(RecordVerifier& v, const ZipEntry& e) {
  try {
    v.Check(e);
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Errc::kCorrupt) << err.what();
    return err.what();
  }
  return "";
}

TEST(RecordVerifierTest, AGoodRecordPassesEvenOverSeveralChunks) {
  const size_t size = RecordVerifier::kPassChunk * 2 + 12'345;
  TestArchive archive({{"big", {Pattern(size), false}}, {"small", {"abc", false}}});
  const ZipReader zip = ZipReader::Open(archive.path());
  RecordVerifier v(zip);
  EXPECT_EQ(CorruptReason(v, *zip.Find("big")), "");
  EXPECT_EQ(CorruptReason(v, *zip.Find("small")), "");
  EXPECT_EQ(CorruptReason(v, *zip.Find("big")), "");
}

TEST(RecordVerifierTest, AnEmptyRecordPasses) {
  TestArchive archive({{"empty", {"", false}}});
  const ZipReader zip = ZipReader::Open(archive.path());
  RecordVerifier v(zip);
  EXPECT_EQ(CorruptReason(v, *zip.Find("empty")), "");
}

TEST(RecordVerifierTest, AMismatchIsNamedAndSticky) {
  TestArchive archive({{"r", {Pattern(100'000), false}}});
  const ZipReader zip = ZipReader::Open(archive.path());
  ZipEntry lying = *zip.Find("r");
  lying.crc32 ^= 0x100;
  RecordVerifier v(zip);
  const std::string reason = CorruptReason(v, lying);
  EXPECT_NE(reason.find("CRC-32 mismatch"), std::string::npos) << reason;
  EXPECT_EQ(CorruptReason(v, lying), reason);
  // The true entry under the same data offset is a different claim: checked anew.
  EXPECT_EQ(CorruptReason(v, *zip.Find("r")), "");
}

// The verdict is kept for the mount: a record verified once is not read
// again (here: the archive loses the record afterwards and reads still pass
// the check; the reader's own pread catches the truncation).
TEST(RecordVerifierTest, OnePassPerRecord) {
  TestArchive archive({{"r", {Pattern(100'000), false}}});
  const ZipReader zip = ZipReader::Open(archive.path());
  const ZipEntry& e = *zip.Find("r");
  RecordVerifier v(zip);
  EXPECT_EQ(CorruptReason(v, e), "");
  ASSERT_EQ(truncate(archive.path().c_str(), static_cast<off_t>(e.data_offset)), 0);
  EXPECT_EQ(CorruptReason(v, e), "");
}

TEST(RecordVerifierTest, ATruncatedArchiveIsCorrupt) {
  TestArchive archive({{"r", {Pattern(100'000), false}}});
  const ZipReader zip = ZipReader::Open(archive.path());
  const ZipEntry& e = *zip.Find("r");
  ASSERT_EQ(truncate(archive.path().c_str(), static_cast<off_t>(e.data_offset + 500)), 0);
  RecordVerifier v(zip);
  EXPECT_EQ(CorruptReason(v, e), "the archive ends inside the record");
}

}  // namespace
}  // namespace tpkg::fs
