// The journal's manifest: round trip, torn tails, corruption.
#include "journal/manifest_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "base/file_util.h"
#include "scratch_dir.h"
#include "tpkg/crc32.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

ArchiveIdentity SomeIdentity() {
  return ArchiveIdentity{969, 0x1234abcd5678ef00ULL, 1700000000, 5};
}

class ManifestLogTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_fd_ = OpenOrThrow(dir_.path(), O_RDONLY | O_DIRECTORY); }

  ManifestLog CreateWithEdits() {
    ManifestLog log = ManifestLog::Create(dir_fd_.get(), dir_.path(),
                                          IdentityEntry(LogOp::kHeader, SomeIdentity(), "/x/a.pt"));
    log.Append(ModeEntry(LogOp::kCreate, "pkg/new.py", 0644u));
    log.Append(PathEntry(LogOp::kRename, "pkg", "lib"));
    log.Append(MtimeEntry("lib/new.py", timespec{12, 34}));
    return log;
  }

  ManifestContents Reopen() {
    ManifestContents c;
    ManifestLog::Open(dir_fd_.get(), dir_.path(), &c);
    return c;
  }

  std::string manifest() const { return dir_ / "manifest"; }

  ScratchDir dir_;
  ScopedFd dir_fd_;
};

// What a refused save shows of the archive as opened and as it is now: two
// versions a second apart and two within one second read differently.
TEST(ArchiveIdentityTest, DescribeTellsVersionsWithinOneSecondApart) {
  ArchiveIdentity a = SomeIdentity();
  EXPECT_EQ(a.Describe(false), "969 bytes, modified 2023-11-14 22:13:20.000000005 UTC");
  ArchiveIdentity b = a;
  b.mtime_nsec = 700000000;
  EXPECT_NE(a.Describe(false), b.Describe(false));
  EXPECT_EQ(b.Describe(true),
            "969 bytes, central directory digest 1234abcd5678ef00, modified 2023-11-14 "
            "22:13:20.700000000 UTC");
}

TEST_F(ManifestLogTest, EntriesRoundTrip) {
  CreateWithEdits();
  const ManifestContents c = Reopen();
  ASSERT_EQ(c.entries.size(), 4u);
  EXPECT_EQ(c.torn_bytes, 0u);
  EXPECT_EQ(c.entries[0].op, LogOp::kHeader);
  EXPECT_TRUE(c.entries[0].identity.SameArchive(SomeIdentity()));
  EXPECT_EQ(c.entries[0].path, "/x/a.pt");
  EXPECT_EQ(c.entries[1].op, LogOp::kCreate);
  EXPECT_EQ(c.entries[1].mode, 0644u);
  EXPECT_EQ(c.entries[1].flags & kHasMode, kHasMode);
  EXPECT_EQ(c.entries[2].path2, "lib");
  EXPECT_EQ(c.entries[3].sec, 12);
  EXPECT_EQ(c.entries[3].nsec, 34);
  EXPECT_FALSE(testing::PathExists(dir_ / "manifest.tmp"));
}

TEST_F(ManifestLogTest, TornTailIsDroppedAndTruncatedAway) {
  CreateWithEdits();
  const std::string whole = ReadFile(manifest());
  const size_t last = EncodeLogEntry(MtimeEntry("lib/new.py", timespec{12, 34})).size();
  // Every cut inside the last entry is a torn write of it.
  for (size_t cut : {size_t{1}, size_t{4}, size_t{9}, last - 1}) {
    WriteFile(manifest(), whole.substr(0, whole.size() - cut));
    const ManifestContents c = Reopen();
    EXPECT_EQ(c.entries.size(), 3u) << cut;
    EXPECT_EQ(c.torn_bytes, last - cut) << cut;
    EXPECT_EQ(ReadFile(manifest()).size(), whole.size() - last) << cut;
  }
}

TEST_F(ManifestLogTest, AppendAfterATornTailIsReadable) {
  CreateWithEdits();
  const std::string whole = ReadFile(manifest());
  WriteFile(manifest(), whole.substr(0, whole.size() - 5));
  ManifestContents c;
  ManifestLog log = ManifestLog::Open(dir_fd_.get(), dir_.path(), &c);
  log.Append(PathEntry(LogOp::kUnlink, "lib/new.py"));
  const ManifestContents again = Reopen();
  ASSERT_EQ(again.entries.size(), 4u);
  EXPECT_EQ(again.entries[3].op, LogOp::kUnlink);
  EXPECT_EQ(again.torn_bytes, 0u);
}

TEST_F(ManifestLogTest, CorruptEntryEndsTheLog) {
  CreateWithEdits();
  std::string bytes = ReadFile(manifest());
  const size_t header =
      8 + EncodeLogEntry(IdentityEntry(LogOp::kHeader, SomeIdentity(), "/x/a.pt")).size();
  bytes[header + 12] ^= 0x40;  // inside the payload of the second entry: CRC mismatch
  WriteFile(manifest(), bytes);
  const ManifestContents c = Reopen();
  EXPECT_EQ(c.entries.size(), 1u);
  EXPECT_EQ(c.torn_bytes, bytes.size() - header);
}

// A newer tpkgfs's operation (its checksum holds) is no torn tail: cutting
// it off would drop it and every edit after it.
TEST_F(ManifestLogTest, AnOperationOfANewerVersionIsRefusedNotCutOff) {
  CreateWithEdits();
  LogEntry newer = PathEntry(LogOp::kSetOwner, "pkg/new.py");
  const std::string before = ReadFile(manifest());
  std::string encoded = EncodeLogEntry(newer);
  encoded[8] = static_cast<char>(static_cast<uint8_t>(LogOp::kSetOwner) + 1);  // the op byte
  const std::string_view payload = std::string_view(encoded).substr(8);
  const uint32_t crc = Crc32(0, std::span<const char>(payload.data(), payload.size()));
  for (int i = 0; i < 4; ++i) encoded[4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  WriteFile(manifest(), before + encoded);
  ManifestContents c;
  try {
    ManifestLog::Open(dir_fd_.get(), dir_.path(), &c);
    FAIL() << "read past an unknown operation";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("a newer version wrote it"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(ReadFile(manifest()), before + encoded);  // nothing cut off
}

TEST_F(ManifestLogTest, HugeLengthIsGarbageNotAnAllocation) {
  CreateWithEdits();
  std::string bytes = ReadFile(manifest());
  bytes += std::string("\xff\xff\xff\x7f\0\0\0\0", 8);  // 2 GiB "payload"
  WriteFile(manifest(), bytes);
  const ManifestContents c = Reopen();
  EXPECT_EQ(c.entries.size(), 4u);
  EXPECT_EQ(c.torn_bytes, 8u);
}

TEST_F(ManifestLogTest, BadMagicOrHeaderIsCorrupt) {
  WriteFile(manifest(), "NOTAJOURNAL");
  ManifestContents c;
  try {
    ManifestLog::Open(dir_fd_.get(), dir_.path(), &c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt);
    EXPECT_NE(std::string(e.what()).find(manifest()), std::string::npos) << e.what();
  }
  WriteFile(manifest(), "TPKGJNL1");
  EXPECT_THROW(ManifestLog::Open(dir_fd_.get(), dir_.path(), &c), Error);
}

}  // namespace
}  // namespace tpkg
