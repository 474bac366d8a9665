// Write-back of archives written by torch 2.6 (tests/data/torch2): records
// stay in torch 2.x's order (version record, `byteorder`, then
// `.data/serialization_id`), the id is recomputed, and the result of an edit
// is byte for byte what torch itself wrote for the edited objects.
#include <gtest/gtest.h>

#include "scratch_dir.h"
#include "torch2_archives.h"
#include "tpkg/serialization_id.h"
#include "tpkg/torch_writer_trailer.h"
#include "tpkg/write_back.h"
#include "tpkg/zip_reader.h"
#include "zip/torch_trailer.h"

namespace tpkg {
namespace {

using testing::ReadFile;
using testing::ScratchDir;
using testing::Torch2Path;
using testing::WriteFd;
using testing::WriteFile;

std::vector<std::string> Names(const ZipReader& zip) {
  std::vector<std::string> out;
  for (const ZipEntry& e : zip.entries()) out.push_back(e.name);
  return out;
}

std::vector<std::string> TrailerOf(const std::string& name) {
  return TorchTrailer(ZipReader::Open(Torch2Path(name)).entries());
}

class WriteBackTorch2Test : public ::testing::Test {
 protected:
  // A scratch copy of tests/data/torch2/<name> (tests never write their
  // fixtures), under the same basename so the prefix folder is the same.
  void Use(const std::string& name) {
    archive_ = dir_ / name.substr(name.rfind('/') + 1);
    WriteFile(archive_, ReadFile(Torch2Path(name)));
    OpenArchive();
  }
  void OpenArchive() {
    journal_.reset();
    zip_.emplace(ZipReader::Open(archive_));
    journal_.emplace(Journal::OpenOrCreate(archive_, *zip_));
  }
  // The file's new content, as `sed -i` or an editor leaves it.
  void Edit(const std::string& record, const std::string& bytes) {
    ScopedFd fd = journal_->OpenForWrite(record, /*truncate=*/true);
    WriteFd(fd.get(), bytes);
  }
  // The original's `.data/extern_modules`, which an edit that changes no
  // import regenerates unchanged.
  RegeneratedRecords SameExterns() const {
    const ZipEntry* e = zip_->Find(".data/extern_modules");
    if (!e) return {};
    return {{".data/extern_modules", zip_->ReadAll(*e)}};
  }
  std::string RecordOf(const std::string& archive, const std::string& record) const {
    const ZipReader zip = ZipReader::Open(Torch2Path(archive));
    return zip.ReadAll(*zip.Find(record));
  }

  ScratchDir dir_;
  std::string archive_;
  std::optional<ZipReader> zip_;
  std::optional<Journal> journal_;
};

TEST(TorchTrailerTest, IsWhatTorchsFinishStepWrote) {
  using V = std::vector<std::string>;
  EXPECT_EQ(TrailerOf("package.pt"), (V{".data/version", "byteorder", ".data/serialization_id"}));
  // torch.save writes its own byteorder right after data.pkl.
  EXPECT_EQ(TrailerOf("save.pt"), (V{"version", ".data/serialization_id"}));
  EXPECT_EQ(TrailerOf("save_nobyteorder.pt"),
            (V{"version", "byteorder", ".data/serialization_id"}));
  // torch 1.13 archives keep the rule they always had.
  EXPECT_EQ(TorchTrailer({}), (V{".data/version"}));
}

TEST(TorchTrailerTest, PublicTrailerOfAReaderIsTheSame) {
  using V = std::vector<std::string>;
  // torch.jit.save: the finish step wrote every one of the three.
  EXPECT_EQ(TorchWriterTrailer(ZipReader::Open(Torch2Path("scripted.pt"))),
            (V{"version", "byteorder", ".data/serialization_id"}));
  for (const char* name : {"package.pt", "save.pt", "save_nobyteorder.pt"}) {
    EXPECT_EQ(TorchWriterTrailer(ZipReader::Open(Torch2Path(name))), TrailerOf(name)) << name;
  }
}

TEST_F(WriteBackTorch2Test, EditedSourceGivesWhatTorchWritesForTheEditedPackage) {
  Use("package.pt");
  Edit("m.py", RecordOf("edited/package.pt", "m.py"));
  const WritePlan plan = PlanWriteBack(*journal_, SameExterns());
  ASSERT_FALSE(plan.records.empty());
  EXPECT_EQ(plan.records.back().source, PlannedRecord::Source::kSerializationId);
  const WriteBackResult r = WriteBack(*journal_, SameExterns());
  EXPECT_TRUE(r.written);
  EXPECT_EQ(r.from_journal, 1);
  EXPECT_TRUE(ReadFile(archive_) == ReadFile(Torch2Path("edited/package.pt")));
}

TEST_F(WriteBackTorch2Test, AddedModuleGoesWhereTheExporterPutsIt) {
  Use("package.pt");
  WriteFd(journal_->Create("added.py").get(), RecordOf("added/package.pt", "added.py"));
  WriteBack(*journal_, SameExterns());
  EXPECT_EQ(Names(ZipReader::Open(archive_)),
            Names(ZipReader::Open(Torch2Path("added/package.pt"))));
  EXPECT_TRUE(ReadFile(archive_) == ReadFile(Torch2Path("added/package.pt")));
}

TEST_F(WriteBackTorch2Test, EditedCheckpointsGiveWhatTorchSaveWrites) {
  for (const std::string name : {"save.pt", "save_nobyteorder.pt"}) {
    SCOPED_TRACE(name);
    Use(name);
    Edit("data/0", RecordOf("edited/" + name, "data/0"));
    const WriteBackResult r = WriteBack(*journal_, {});
    EXPECT_TRUE(r.written);
    EXPECT_TRUE(ReadFile(archive_) == ReadFile(Torch2Path("edited/" + name)));
  }
}

TEST_F(WriteBackTorch2Test, UnchangedArchivesAreLeftUntouched) {
  for (const auto& name : testing::kTorch2Archives) {
    SCOPED_TRACE(name);
    Use(name);
    const std::string before = ReadFile(archive_);
    // Rewritten with the same bytes: no change.
    const ZipEntry& first = zip_->entries().front();
    Edit(first.name, zip_->ReadAll(first));
    const WriteBackResult r = WriteBack(*journal_, SameExterns());
    EXPECT_FALSE(r.written);
    EXPECT_TRUE(ReadFile(archive_) == before);
  }
}

// Saved by an earlier tpkgfs, which moved `.data/version` after the id: the
// next save puts torch's order back.
TEST_F(WriteBackTorch2Test, TrailerIsRestoredToTorchsOrder) {
  const ZipReader torch = ZipReader::Open(Torch2Path("package.pt"));
  archive_ = dir_ / "package.pt";
  ZipWriter w = ZipWriter::Create(archive_, torch.prefix());
  for (const ZipEntry& e : torch.entries())
    if (e.name != ".data/version") w.CopyRawRecord(torch, e);
  w.CopyRawRecord(torch, *torch.Find(".data/version"));
  w.Finish();
  OpenArchive();
  Edit("m.py", RecordOf("edited/package.pt", "m.py"));
  WriteBack(*journal_, SameExterns());
  EXPECT_TRUE(ReadFile(archive_) == ReadFile(Torch2Path("edited/package.pt")));
}

TEST_F(WriteBackTorch2Test, RenameAndDeleteRecomputeTheId) {
  Use("package_many.pt");
  journal_->Rename("pkg/mod3.py", "pkg/renamed.py");
  journal_->Unlink("pkg/mod7.py");
  WriteBack(*journal_, SameExterns());
  const ZipReader saved = ZipReader::Open(archive_);
  ASSERT_EQ(saved.entries().back().name, kSerializationIdRecord);
  std::vector<std::string> heads;
  std::vector<RecordDigest> digests;
  for (const ZipEntry& e : saved.entries()) heads.push_back(saved.ReadAll(e).substr(0, 8));
  for (size_t i = 0; i + 1 < saved.entries().size(); ++i) {
    const ZipEntry& e = saved.entries()[i];
    digests.push_back({e.name, e.crc32, e.size, heads[i]});
  }
  const std::string id = saved.ReadAll(saved.entries().back());
  EXPECT_EQ(id, TorchSerializationId(saved.prefix(), digests));
  EXPECT_NE(id, zip_->ReadAll(*zip_->Find(kSerializationIdRecord)));
  const std::vector<std::string> names = Names(saved);
  const std::vector<std::string> tail(names.end() - 3, names.end());
  EXPECT_EQ(tail,
            (std::vector<std::string>{".data/version", "byteorder", ".data/serialization_id"}));
}

// torch's writer always writes the id, whatever its caller did: one deleted
// through the mount comes back, computed for the records before it.
TEST_F(WriteBackTorch2Test, DeletedIdIsWrittenAgain) {
  Use("package.pt");
  journal_->Unlink(kSerializationIdRecord);
  Edit("m.py", RecordOf("edited/package.pt", "m.py"));
  WriteBack(*journal_, SameExterns());
  EXPECT_TRUE(ReadFile(archive_) == ReadFile(Torch2Path("edited/package.pt")));
}

// A folder entry (an empty folder kept by the save) is no record torch's
// writers ever write and PackageImporter ignores it: the id stays the one
// torch wrote for the same files.
TEST_F(WriteBackTorch2Test, FolderEntriesStayOutOfTheId) {
  Use("package.pt");
  journal_->Mkdir("empty");
  EXPECT_TRUE(WriteBack(*journal_, SameExterns()).written);
  const ZipReader saved = ZipReader::Open(archive_);
  const ZipEntry* folder = saved.Find("empty/");
  ASSERT_NE(folder, nullptr);
  EXPECT_TRUE(folder->is_directory());
  std::vector<std::string> files;
  for (const ZipEntry& e : saved.entries())
    if (!e.is_directory()) files.push_back(e.name);
  EXPECT_EQ(files, Names(*zip_));
  EXPECT_EQ(saved.ReadAll(*saved.Find(kSerializationIdRecord)),
            zip_->ReadAll(*zip_->Find(kSerializationIdRecord)));
}

}  // namespace
}  // namespace tpkg
