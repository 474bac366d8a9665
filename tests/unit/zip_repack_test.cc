// RepackArchive (tpkg/zip_repack.h): byte-identical repacks of torch-written
// archives, raw copies of a zip tool's archive without its directory
// entries, a new prefix, replacing its own input, and failures that leave
// the destination untouched.
#include "tpkg/zip_repack.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "zip_test_util.h"

namespace tpkg {
namespace {

using namespace tpkg::testing;

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  while (const dirent* e = d ? ::readdir(d) : nullptr) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  if (d) ::closedir(d);
  return names;
}

TEST(ZipRepackTest, TorchWrittenArchivesComeOutByteForByte) {
  TempDir dir;
  for (const std::string& name : kTorchWritten) {
    const ZipReader src = ZipReader::Open(CorpusPath(name));
    const std::string out = dir.Path(name);
    const uint64_t size = RepackArchive(src, out, src.prefix());
    const std::string bytes = ReadFile(out);
    EXPECT_EQ(size, bytes.size()) << name;
    EXPECT_TRUE(bytes == ReadFile(CorpusPath(name))) << name << " differs";
  }
}

TEST(ZipRepackTest, ZipToolArchiveIsAlignedCopiedRawAndLosesItsDirectoryEntries) {
  TempDir dir;
  const ZipReader src = ZipReader::Open(CorpusPath("pkg_deflated_by_zip_tool.pt"));
  const std::string out = dir.Path("aligned.pt");
  RepackArchive(src, out, src.prefix());
  const ZipReader repacked = ZipReader::Open(out);
  std::vector<const ZipEntry*> files;
  for (const ZipEntry& e : src.entries())
    if (!e.is_directory()) files.push_back(&e);
  ASSERT_LT(files.size(), src.entries().size()) << "the corpus archive has directory entries";
  ASSERT_EQ(repacked.entries().size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const ZipEntry& before = *files[i];
    const ZipEntry& after = repacked.entries()[i];
    EXPECT_EQ(after.name, before.name);
    EXPECT_EQ(after.method, before.method) << after.name << ": copied raw, not re-encoded";
    EXPECT_EQ(after.crc32, before.crc32) << after.name;
    EXPECT_EQ(after.data_offset % 64, 0u) << after.name;
    EXPECT_EQ(repacked.ReadAll(after), src.ReadAll(before)) << after.name;
  }
  EXPECT_TRUE(CheckArchive(out).empty());
}

TEST(ZipRepackTest, RenamesThePrefixAndMayReplaceItsInput) {
  TempDir dir;
  const std::string path = dir.Write("model.pt", BuildArchive("model", {{"a.py", "x = 1\n"}}));
  chmod(path.c_str(), 0640);
  const ZipReader src = ZipReader::Open(path);
  RepackArchive(src, path, "renamed");
  const ZipReader repacked = ZipReader::Open(path);
  EXPECT_EQ(repacked.prefix(), "renamed");
  ASSERT_EQ(repacked.entries().size(), 1u);
  EXPECT_EQ(repacked.entries()[0].full_name, "renamed/a.py");
  EXPECT_EQ(repacked.ReadAll(repacked.entries()[0]), "x = 1\n");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u) << "the permission bits of the replaced file";
  EXPECT_EQ(FilesIn(dir.Path("")), (std::vector<std::string>{"model.pt"}));
}

TEST(ZipRepackTest, AFailureLeavesTheDestinationUntouched) {
  TempDir dir;
  const ZipReader src = ZipReader::Open(dir.Write("in.pt", BuildArchive("in", {{"a", "b"}})));
  const std::string out = dir.Write("out.pt", "precious");
  try {
    RepackArchive(src, out, "not/a/prefix");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kInvalidArgument);
  }
  EXPECT_EQ(ReadFile(out), "precious");
  std::vector<std::string> left = FilesIn(dir.Path(""));
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"in.pt", "out.pt"})) << "no temporary file is left";
}

TEST(ZipRepackTest, ARecordWhoseBytesDoNotMatchItsCrcFailsTheRepack) {
  TempDir dir;
  std::string bytes = BuildArchive("in", {{"a.txt", "hello, world"}, {"b.txt", "fine"}});
  const size_t at = bytes.find("hello, world");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'j';  // same size, wrong CRC-32
  const ZipReader src = ZipReader::Open(dir.Write("in.pt", bytes));
  const std::string out = dir.Path("out.pt");
  try {
    RepackArchive(src, out, src.prefix());
    FAIL() << "a record with a wrong CRC-32 was copied";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("in/a.txt"), std::string::npos) << e.what();
  }
  EXPECT_EQ(FilesIn(dir.Path("")), (std::vector<std::string>{"in.pt"})) << "nothing is written";
}

}  // namespace
}  // namespace tpkg
