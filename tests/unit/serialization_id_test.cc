// TorchSerializationId() and ZipWriter::AddSerializationId() against the ids
// and bytes real PyTorch 2.6 wrote (tests/data/torch2).
#include "tpkg/serialization_id.h"

#include <gtest/gtest.h>

#include <vector>

#include "torch2_archives.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"
#include "zip_test_util.h"

namespace tpkg {
namespace {

using testing::kTorch2Archives;
using testing::ReadFile;
using testing::StringSink;
using testing::Torch2Path;

// The archive's records before its id, as the id sees them.
struct Digests {
  explicit Digests(const ZipReader& zip) {
    for (const ZipEntry& e : zip.entries()) {
      if (e.name == kSerializationIdRecord) break;
      heads.push_back(zip.ReadAll(e).substr(0, 8));
    }
    for (size_t i = 0; i < heads.size(); ++i) {
      const ZipEntry& e = zip.entries()[i];
      records.push_back({e.name, e.crc32, e.size, heads[i]});
    }
  }
  std::vector<std::string> heads;
  std::vector<RecordDigest> records;
};

TEST(SerializationIdTest, TorchWritesItLastInEveryTorch2Archive) {
  for (const auto& name : kTorch2Archives) {
    SCOPED_TRACE(name);
    const ZipReader zip = ZipReader::Open(Torch2Path(name));
    ASSERT_FALSE(zip.entries().empty());
    EXPECT_EQ(zip.entries().back().name, kSerializationIdRecord);
  }
}

TEST(SerializationIdTest, ReproducesTheIdOfEveryTorch2Archive) {
  for (const auto& name : kTorch2Archives) {
    SCOPED_TRACE(name);
    const ZipReader zip = ZipReader::Open(Torch2Path(name));
    const std::string id = zip.ReadAll(zip.entries().back());
    ASSERT_EQ(id.size(), 40u);
    EXPECT_EQ(TorchSerializationId(zip.prefix(), Digests(zip).records), id);
  }
}

// Both halves matter: the names (and the order torch's hash table visits
// them in) and the CRC-32s in write order.
TEST(SerializationIdTest, DependsOnNamesAndOnCrcsInWriteOrder) {
  const ZipReader zip = ZipReader::Open(Torch2Path("package.pt"));
  const Digests digests(zip);
  const std::vector<RecordDigest>& records = digests.records;
  const auto id_of = [&](const std::vector<RecordDigest>& r) {
    return TorchSerializationId(zip.prefix(), r);
  };
  const std::string id = id_of(records);

  std::vector<RecordDigest> renamed = records;
  renamed[2].name = "n.py";
  const std::string renamed_id = id_of(renamed);
  EXPECT_NE(renamed_id.substr(0, 20), id.substr(0, 20));
  EXPECT_EQ(renamed_id.substr(20), id.substr(20));

  std::vector<RecordDigest> swapped = records;
  std::swap(swapped[0], swapped[1]);
  EXPECT_NE(id_of(swapped).substr(20), id.substr(20));

  std::vector<RecordDigest> edited = records;
  edited[2].crc32 ^= 1;
  EXPECT_EQ(id_of(edited).substr(0, 20), id.substr(0, 20));
  EXPECT_NE(id_of(edited).substr(20), id.substr(20));
}

// What torch's writer mistakes for a data descriptor: lookalike_data.pt and
// lookalike_prefix.pt pin what torch does (ReproducesTheIdOf...); this shows
// that each look-alike counts, and nothing else does.
TEST(SerializationIdTest, DescriptorLookAlikesCountOnlyFromEightBytes) {
  const std::string lookalike("PK\x07\x08\x01\x02\x03\x04", 8);
  const RecordDigest plain{"a", 0x12345678, 16, "abcdefgh"};
  const RecordDigest starts_like_one{"a", 0x12345678, 16, lookalike};
  const RecordDigest too_short{"a", 0x12345678, 7, lookalike.substr(0, 7)};
  const RecordDigest empty{"a", 0, 0, ""};
  const auto crc_half = [](std::string_view prefix, const RecordDigest& r) {
    return TorchSerializationId(prefix, std::span(&r, 1)).substr(20);
  };
  EXPECT_NE(crc_half("m", starts_like_one), crc_half("m", plain));
  EXPECT_EQ(crc_half("m", too_short), crc_half("m", plain));
  EXPECT_EQ(crc_half("m", empty), std::string(20, '0'));
  // "PK\x07\x08" "abcd/a": the full name is written in one piece too.
  EXPECT_NE(crc_half(std::string("PK\x07\x08"
                                 "abcd",
                                 8),
                     plain),
            crc_half("m", plain));
  EXPECT_EQ(crc_half(std::string("PK\x07\x08", 4), empty),
            crc_half("m", empty));  // "PK../a": 6 bytes
}

TEST(SerializationIdTest, IsFortyDigitsEvenWithoutRecords) {
  EXPECT_EQ(TorchSerializationId("archive", {}), std::string(40, '0'));
}

// The writer fed torch's records (decoded) in order, then asked for the id,
// rebuilds torch's archive byte for byte.
TEST(SerializationIdTest, WriterRebuildsTorch2ArchivesByteForByte) {
  for (const auto& name : kTorch2Archives) {
    SCOPED_TRACE(name);
    const ZipReader zip = ZipReader::Open(Torch2Path(name));
    std::string out;
    ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), zip.prefix());
    for (const ZipEntry& e : zip.entries()) {
      if (e.name != kSerializationIdRecord) w.AddRecord(e.name, zip.ReadAll(e));
    }
    w.AddSerializationId();
    w.Finish();
    EXPECT_TRUE(out == ReadFile(Torch2Path(name)));
  }
}

}  // namespace
}  // namespace tpkg
