// FsOps: the whole read-only file system, driven without a kernel, over
// archives written by libzip (an independent ZIP writer) and read by the
// real ZipReader.
#include "fs_ops.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <map>

#include "fs_test_files.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

using testing::Pattern;

using testing::Record;
using testing::TestArchive;

FsOps Mount(const TestArchive& archive) {
  return FsOps(std::make_shared<const ZipReader>(ZipReader::Open(archive.path())),
               FsOptions{123, 456});
}

// A small package whose metadata the analysis regenerates unchanged.
const std::map<std::string, Record>& PackageRecords() {
  static const std::map<std::string, Record> records = {
      {".data/version", {"6\n"}},
      {".data/extern_modules", {"torch\nnumpy\n"}},
      {".data/0.storage", {Pattern(5000)}},
      {"models/net.py", {"import torch\nimport numpy\n# " + Pattern(70'000) + "\n", true}},
      {"models/sub/util.py", {"X = 1\n"}},
      {"models/weights.bin", {Pattern(300)}},
  };
  return records;
}

bool IsGenerated(const std::string& path) {
  return path == kExternModulesPath || path == kDepsDotPath;
}

InodeId LookupPath(FsOps& ops, const std::string& path) {
  InodeId ino = kRootInode;
  const auto parts = SplitRecordPath(path);
  for (const auto part : *parts) {
    struct stat st;
    EXPECT_EQ(ops.Lookup(ino, part, &st), 0) << path;
    ino = st.st_ino;
  }
  return ino;
}

std::string ReadWhole(FsOps& ops, InodeId ino, size_t chunk = 4096) {
  std::string out;
  std::string buf(chunk, '\0');
  for (uint64_t off = 0;;) {
    const ssize_t n = ops.Read(ino, off, std::span(buf.data(), buf.size()));
    EXPECT_GE(n, 0);
    if (n <= 0) return out;
    out.append(buf.data(), static_cast<size_t>(n));
    off += static_cast<uint64_t>(n);
  }
}

struct Listed {
  std::string name;
  mode_t type;
  int64_t next;
};

std::vector<Listed> List(FsOps& ops, InodeId dir, int64_t offset = 0, size_t capacity = 1000,
                         bool plus = false) {
  std::vector<Listed> out;
  const int rc = ops.ReadDir(dir, offset, plus, [&](const DirEntry& e) {
    if (out.size() == capacity) return false;
    out.push_back(
        {std::string(e.name), static_cast<mode_t>(e.attr.st_mode & S_IFMT), e.next_offset});
    return true;
  });
  EXPECT_EQ(rc, 0);
  return out;
}

TEST(FsOpsTest, EveryRecordIsAFileWithItsExactBytesAndSize) {
  TestArchive archive(PackageRecords());
  FsOps ops = Mount(archive);
  const ZipReader zip = ZipReader::Open(archive.path());
  for (const auto& [name, rec] : PackageRecords()) {
    if (IsGenerated(name)) continue;
    const InodeId ino = LookupPath(ops, name);
    struct stat st;
    ASSERT_EQ(ops.GetAttr(ino, &st), 0);
    // The mode the archive holds (libzip writes 0666), else read-only 0444.
    const ZipEntry* entry = zip.Find(name);
    ASSERT_NE(entry, nullptr) << name;
    EXPECT_EQ(st.st_mode, S_IFREG | entry->mode.value_or(0444)) << name;
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), rec.data.size()) << name;
    EXPECT_EQ(st.st_nlink, 1u);
    EXPECT_EQ(st.st_uid, 123u);
    EXPECT_EQ(st.st_gid, 456u);
    EXPECT_EQ(ReadWhole(ops, ino), rec.data) << name;
    EXPECT_EQ(ReadWhole(ops, ino, 1 << 20), rec.data) << name;
  }
}

TEST(FsOpsTest, FoldersAreReadOnlyDirectoriesWithSubfolderLinkCounts) {
  TestArchive archive(PackageRecords());
  FsOps ops = Mount(archive);
  struct stat st;
  ASSERT_EQ(ops.GetAttr(kRootInode, &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 0555);
  EXPECT_EQ(st.st_nlink, 4u);  // ".", "..", .data, models
  ASSERT_EQ(ops.GetAttr(LookupPath(ops, "models"), &st), 0);
  EXPECT_EQ(st.st_nlink, 3u);
  struct stat archive_st;
  ASSERT_EQ(stat(archive.path().c_str(), &archive_st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, archive_st.st_mtim.tv_sec);
  EXPECT_EQ(st.st_mtim.tv_nsec, archive_st.st_mtim.tv_nsec);
}

TEST(FsOpsTest, LookupErrorsAreTheUsualErrnos) {
  TestArchive archive(PackageRecords());
  FsOps ops = Mount(archive);
  struct stat st;
  EXPECT_EQ(ops.Lookup(kRootInode, "missing", &st), -ENOENT);
  EXPECT_EQ(ops.Lookup(kRootInode, "MODELS", &st), -ENOENT);
  EXPECT_EQ(ops.Lookup(LookupPath(ops, ".data/version"), "x", &st), -ENOTDIR);
  EXPECT_EQ(ops.Lookup(kRootInode, std::string(300, 'a'), &st), -ENAMETOOLONG);
  EXPECT_EQ(ops.Lookup(9999, "x", &st), -ENOENT);
  EXPECT_EQ(ops.GetAttr(9999, &st), -ENOENT);
  EXPECT_EQ(ops.GetAttr(0, &st), -ENOENT);
}

TEST(FsOpsTest, LogLinesNameTheArchivePathWithThePrefixFolder) {
  TestArchive archive(PackageRecords());
  FsOps ops = Mount(archive);
  EXPECT_EQ(ops.PathForLog(LookupPath(ops, "models/net.py")), "pkg/models/net.py");
  EXPECT_EQ(ops.PathForLog(LookupPath(ops, "models"), "new.py"), "pkg/models/new.py");
  EXPECT_EQ(ops.PathForLog(kRootInode), "pkg");
  EXPECT_EQ(ops.PathForLog(kRootInode, "x"), "pkg/x");
}

TEST(FsOpsTest, ReadDirGivesDotsThenSortedChildrenWithTypesAndResumableCookies) {
  TestArchive archive(PackageRecords());
  FsOps ops = Mount(archive);
  const InodeId models = LookupPath(ops, "models");
  const auto all = List(ops, models);
  ASSERT_EQ(all.size(), 5u);
  const std::vector<std::string> names = {".", "..", "net.py", "sub", "weights.bin"};
  const std::vector<mode_t> types = {S_IFDIR, S_IFDIR, S_IFREG, S_IFDIR, S_IFREG};
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].name, names[i]);
    EXPECT_EQ(all[i].type, types[i]) << names[i];
  }
  // Resume after each entry, taking two at a time (a full reply buffer).
  std::vector<std::string> resumed;
  for (int64_t cookie = 0;;) {
    const auto part = List(ops, models, cookie, 2);
    if (part.empty()) break;
    for (const auto& e : part) resumed.push_back(e.name);
    cookie = part.back().next;
  }
  EXPECT_EQ(resumed, names);
  EXPECT_TRUE(List(ops, models, 99).empty());
}

// Listing .data must not run the package analysis; once it has run (a read
// of a generated file), listings carry the generated files' sizes too.
TEST(FsOpsTest, ReadDirPlusGivesLookupsAttributesButDoesNotGenerateMetadata) {
  TestArchive archive(PackageRecords());
  FsOps ops = Mount(archive);
  const InodeId data = LookupPath(ops, ".data");
  for (const bool generated : {false, true}) {
    std::vector<std::string> names;
    std::vector<std::string> incomplete;
    ops.ReadDir(data, 2, true, [&](const DirEntry& e) {
      names.emplace_back(e.name);
      if (!e.attr_complete) {
        incomplete.emplace_back(e.name);
        return true;
      }
      struct stat looked_up;
      EXPECT_EQ(ops.Lookup(data, e.name, &looked_up), 0) << e.name;
      EXPECT_EQ(e.attr.st_ino, looked_up.st_ino) << e.name;
      EXPECT_EQ(e.attr.st_mode, looked_up.st_mode) << e.name;
      EXPECT_EQ(e.attr.st_size, looked_up.st_size) << e.name;
      EXPECT_GT(e.attr.st_size, 0) << e.name;
      return true;
    });
    EXPECT_EQ(names,
              (std::vector<std::string>{"0.storage", "deps.dot", "extern_modules", "version"}));
    if (generated) {
      EXPECT_TRUE(incomplete.empty());
    } else {
      EXPECT_EQ(incomplete, (std::vector<std::string>{"deps.dot", "extern_modules"}));
      EXPECT_FALSE(ReadWhole(ops, LookupPath(ops, ".data/deps.dot")).empty());
    }
  }
}

TEST(FsOpsTest, WrongKindOfNodeGivesEnotdirOrEisdir) {
  TestArchive archive(PackageRecords());
  FsOps ops = Mount(archive);
  const InodeId file = LookupPath(ops, ".data/version");
  char buf[16];
  EXPECT_EQ(ops.ReadDir(file, 0, false, [](const DirEntry&) { return true; }), -ENOTDIR);
  EXPECT_EQ(ops.OpenDir(file), -ENOTDIR);
  EXPECT_EQ(ops.OpenDir(kRootInode), 0);
  EXPECT_EQ(ops.Read(kRootInode, 0, std::span(buf)), -EISDIR);
  EXPECT_EQ(ops.Open(kRootInode, O_RDONLY), -EISDIR);
}

TEST(FsOpsTest, OpeningForWritingIsReadOnlyFileSystem) {
  TestArchive archive(PackageRecords());
  FsOps ops = Mount(archive);
  const InodeId file = LookupPath(ops, "models/net.py");
  EXPECT_EQ(ops.Open(file, O_RDONLY), 0);
  for (int flags : {O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC}) EXPECT_EQ(ops.Open(file, flags), -EROFS);
}

TEST(FsOpsTest, GeneratedMetadataIsServedForPackagesOnly) {
  TestArchive package(PackageRecords());
  FsOps ops = Mount(package);
  const InodeId externs = LookupPath(ops, ".data/extern_modules");
  EXPECT_TRUE(std::holds_alternative<VirtualRef>(ops.tree().node(externs).source));
  EXPECT_EQ(ReadWhole(ops, externs), "torch\nnumpy\n");  // regenerated: unchanged
  const std::string dot = ReadWhole(ops, LookupPath(ops, ".data/deps.dot"));
  EXPECT_EQ(dot.rfind("digraph G {", 0), 0u) << dot;
  EXPECT_NE(dot.find("\"models.net\" -> \"torch\";"), std::string::npos) << dot;
  struct stat st;
  ASSERT_EQ(ops.GetAttr(LookupPath(ops, ".data/deps.dot"), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), dot.size());

  TestArchive checkpoint({{"data.pkl", {"p"}}, {"version", {"3\n"}}, {"data/0", {"x"}}});
  FsOps plain = Mount(checkpoint);
  EXPECT_EQ(plain.Lookup(kRootInode, ".data", &st), -ENOENT);
  EXPECT_EQ(ReadWhole(plain, LookupPath(plain, "version")), "3\n");
}

TEST(FsOpsTest, CorruptRecordsReadAsEio) {
  const std::string data = Pattern(10'000);
  TestArchive archive({{"a.bin", {data}}, {"b.txt", {data, true}}});
  // Flip one byte inside each record's data (found through the reader).
  {
    const ZipReader zip = ZipReader::Open(archive.path());
    const int fd = open(archive.path().c_str(), O_RDWR);
    for (const ZipEntry& e : zip.entries()) {
      char c;
      ASSERT_EQ(pread(fd, &c, 1, e.data_offset + 7), 1);
      c ^= 0x20;
      ASSERT_EQ(pwrite(fd, &c, 1, e.data_offset + 7), 1);
    }
    close(fd);
  }
  FsOps ops = Mount(archive);
  for (const char* name : {"a.bin", "b.txt"}) {
    const InodeId ino = LookupPath(ops, name);
    std::string buf(20'000, '\0');
    EXPECT_EQ(ops.Read(ino, 0, std::span(buf.data(), buf.size())), -EIO) << name;
    EXPECT_EQ(ops.Read(ino, 0, std::span(buf.data(), 10)), -EIO) << name << " (sticky)";
  }
}

TEST(FsOpsTest, StatFsDescribesAReadOnlyFileSystem) {
  TestArchive archive(PackageRecords());
  FsOps ops = Mount(archive);
  struct statvfs st;
  ASSERT_EQ(ops.StatFs(&st), 0);
  EXPECT_TRUE(st.f_flag & ST_RDONLY);
  EXPECT_EQ(st.f_files, ops.tree().size());
  EXPECT_EQ(st.f_namemax, 255u);
}

TEST(FsOpsTest, EveryCorpusArchiveMountsWithAllItsRecords) {
  for (const char* name : {"pkg_model_numpy.pt", "pkg_deflated_by_zip_tool.pt", "pkg_dtypes.pt",
                           "pkg_torchscript.pt", "torch_save_checkpoint.pth"}) {
    auto zip = std::make_shared<const ZipReader>(
        ZipReader::Open(std::string(TPKG_CORPUS_DIR) + "/" + name));
    FsOps ops(zip, FsOptions{});
    for (const ZipEntry& e : zip->entries()) {
      if (e.is_directory()) continue;
      const auto ino = ops.tree().Resolve(e.name);
      ASSERT_TRUE(ino) << name << ": " << e.name;
      EXPECT_EQ(ReadWhole(ops, *ino, 65536), zip->ReadAll(e)) << name << ": " << e.name;
    }
  }
}

}  // namespace
}  // namespace tpkg::fs
