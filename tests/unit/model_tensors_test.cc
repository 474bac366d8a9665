// Unit tests for the model-file layer (tpkg/model_tensors.h, model_diff.h,
// record_attributes.h) on the corpus torch wrote at build time. The
// differential tests against torch's loaders are in
// tests/integration/test_tpkg_inspect.py.
#include <gtest/gtest.h>

#include <string>

#include "scratch_dir.h"
#include "tpkg/error.h"
#include "tpkg/model_diff.h"
#include "tpkg/model_tensors.h"
#include "tpkg/record_attributes.h"

namespace tpkg {
namespace {

std::string Corpus(const std::string& name) { return std::string(TPKG_CORPUS_DIR) + "/" + name; }

std::string Value(const RecordXattrs::List& list, const std::string& name) {
  for (const auto& [n, v] : list) {
    if (n == name) return v;
  }
  return "<none>";
}

TEST(ModelFile, KindsAndPickles) {
  const ZipReader package = ZipReader::Open(Corpus("pkg_torchscript.pt"));
  EXPECT_EQ(DetectFileKind(package), FileKind::kTorchPackage);
  const std::vector<ModelPickle> pickles = ModelPickles(package, FileKind::kTorchPackage);
  ASSERT_FALSE(pickles.empty());
  bool saw_script = false;
  for (const ModelPickle& p : pickles) {
    EXPECT_EQ(p.storage_folder, ".data/");
    if (p.record.starts_with(".data/ts_code/")) {
      saw_script = true;
      EXPECT_FALSE(p.keys_add_suffix);
    }
  }
  EXPECT_TRUE(saw_script);
  const ZipReader saved = ZipReader::Open(Corpus("torch_save_checkpoint.pth"));
  EXPECT_EQ(DetectFileKind(saved), FileKind::kTorchSave);
  EXPECT_EQ(FileKindName(DetectFileKind(saved)), "torch.save");
}

TEST(ModelFile, TensorsNameTheirStorageRecords) {
  const ZipReader zip = ZipReader::Open(Corpus("pkg_shared_views.pt"));
  const std::vector<ModelTensor> tensors = ModelTensors(zip);
  ASSERT_EQ(tensors.size(), 8u);
  for (const ModelTensor& t : tensors) {
    EXPECT_EQ(t.storage_record, &t == &tensors.back() ? ".data/1.storage" : ".data/0.storage");
    EXPECT_TRUE(t.record_found);
    EXPECT_EQ(t.record_size, t.tensor.storage_bytes);
  }
  EXPECT_EQ(tensors.back().tensor.dtype, "int16");
  EXPECT_EQ(tensors[1].tensor.path, "row2");
  EXPECT_EQ(tensors[1].tensor.storage_offset, 12);
}

// PackageImporter reads `.data/{key}.storage` whatever the key's type: its
// exporter writes int keys, a hand-made pickle may hold a str one.
TEST(ModelFile, AStrStorageKeyOfAPackagePickleNamesTheSameRecord) {
  const ModelPickle pickle{"model/model.pkl", ".data/", true};
  StorageRef ref;
  ref.key = "0";
  ref.key_is_int = false;
  EXPECT_EQ(StorageRecordName(pickle, ref), ".data/0.storage");
  ref.key_is_int = true;
  EXPECT_EQ(StorageRecordName(pickle, ref), ".data/0.storage");
  // A TorchScript pickle in a package, a torch.save: the key as it is.
  EXPECT_EQ(StorageRecordName(ModelPickle{".data/ts_code/0/data.pkl", ".data/", false}, ref),
            ".data/0");
  EXPECT_EQ(StorageRecordName(ModelPickle{"data.pkl", "data/", false}, ref), "data/0");
}

TEST(ModelFile, LegacyTorchSaveIsRecognized) {
  EXPECT_TRUE(IsLegacyTorchSave(
      std::string_view("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15)));
  EXPECT_FALSE(IsLegacyTorchSave("PK\x03\x04"));
}

TEST(ModelDiff, SameFileHasNoChanges) {
  const ZipReader a = ZipReader::Open(Corpus("pkg_model_numpy.pt"));
  const ZipReader b = ZipReader::Open(Corpus("pkg_model_numpy.pt"));
  EXPECT_TRUE(DiffModels(a, b).empty());
}

TEST(ModelDiff, DifferentPackagesDiffer) {
  const ZipReader a = ZipReader::Open(Corpus("pkg_mocked.pt"));
  const ZipReader b = ZipReader::Open(Corpus("pkg_model_numpy.pt"));
  const ModelDiff d = DiffModels(a, b);
  EXPECT_FALSE(d.records.empty());
  EXPECT_FALSE(d.tensors.empty());
  bool lin_removed = false;
  for (const TensorChange& t : d.tensors)
    lin_removed |= t.kind == ChangeKind::kRemoved && t.path == "lin.weight" && t.before && !t.after;
  EXPECT_TRUE(lin_removed);
}

// Modules are listed by name, added and removed ones mixed (doc/cli.md):
// pkg_mocked.pt adds corpus_mock.* and drops corpus_models.*.
TEST(ModelDiff, ModulesAreListedByName) {
  const ZipReader a = ZipReader::Open(Corpus("pkg_model_numpy.pt"));
  const ZipReader b = ZipReader::Open(Corpus("pkg_mocked.pt"));
  const ModelDiff d = DiffModels(a, b);
  ASSERT_GE(d.modules.size(), 2u);
  for (size_t i = 1; i < d.modules.size(); ++i)
    EXPECT_LT(d.modules[i - 1].module, d.modules[i].module);
  EXPECT_TRUE(d.modules.front().before.empty())
      << "an added module first: " << d.modules.front().module;
}

// A copy of pkg_model_numpy.pt whose first storage has one data byte
// flipped: same size, same central directory, data no longer matching its
// CRC-32 (what `tpkg check` reports and torch 1.13 still loads).
void WriteDamagedStorage(const std::string& path) {
  std::string bytes = testing::ReadFile(Corpus("pkg_model_numpy.pt"));
  const ZipReader zip = ZipReader::Open(Corpus("pkg_model_numpy.pt"));
  bytes[zip.DataOffset(*zip.Find(".data/0.storage"))] ^= 1;
  testing::WriteFile(path, bytes);
}

// The CRC-32s agree, so without reading the data both files would look
// identical: the diff must fail, naming the damaged file and record, in
// either order.
TEST(ModelDiff, ADamagedRecordFailsTheDiffInsteadOfPassingForUnchanged) {
  const testing::ScratchDir dir;
  const std::string damaged = dir / "damaged.pt";
  WriteDamagedStorage(damaged);
  const ZipReader good = ZipReader::Open(Corpus("pkg_model_numpy.pt"));
  const ZipReader bad = ZipReader::Open(damaged);
  for (const bool damaged_first : {false, true}) {
    try {
      (void)(damaged_first ? DiffModels(bad, good) : DiffModels(good, bad));
      ADD_FAILURE() << "a record that does not match its CRC-32 passed, damaged_first "
                    << damaged_first;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kCorrupt);
      const std::string what = e.what();
      EXPECT_TRUE(what.starts_with(damaged + ": record 'pkg_model_numpy/.data/0.storage': "))
          << what;
      EXPECT_NE(what.find("CRC-32 mismatch"), std::string::npos) << what;
    }
  }
}

// The progress covers the verification and the tensor walks, ends at its total.
TEST(ModelDiff, ProgressCountsTheVerifiedDataAndTheTensorWalks) {
  const ZipReader a = ZipReader::Open(Corpus("pkg_mocked.pt"));
  const ZipReader b = ZipReader::Open(Corpus("pkg_model_numpy.pt"));
  const uint64_t want =
      RecordDataWork(a) + RecordDataWork(b) + ModelTensorsWork(a) + ModelTensorsWork(b);
  uint64_t last = 0;
  uint64_t total = 0;
  (void)DiffModels(a, b, [&](uint64_t done, uint64_t t) {
    EXPECT_GE(done, last);
    EXPECT_LE(done, t);
    last = done;
    total = t;
  });
  EXPECT_EQ(total, want);
  EXPECT_EQ(last, want);
}

TEST(RecordXattrs, SourcesPicklesAndStorages) {
  const ZipReader zip = ZipReader::Open(Corpus("pkg_shared_views.pt"));
  const RecordXattrs a = RecordXattrs::Compute(ZipRecordSource(zip));
  const auto& storage = a.Of(".data/0.storage");
  EXPECT_EQ(Value(storage, "user.tpkg.dtype"), "float32");
  EXPECT_EQ(Value(storage, "user.tpkg.numel"), "24");
  EXPECT_EQ(Value(storage, "user.tpkg.shape"), "[4, 6]");
  EXPECT_NE(Value(storage, "user.tpkg.tensors").find("views/a.pkl row2 float32[6]\n"),
            std::string::npos);
  const auto& pickle = a.Of("views/a.pkl");
  EXPECT_EQ(Value(pickle, "user.tpkg.protocol"), "3");
  EXPECT_NE(Value(pickle, "user.tpkg.globals").find("torch._utils._rebuild_tensor_v2\n"),
            std::string::npos);
  EXPECT_TRUE(a.Of(".data/version").empty());

  const ZipReader mocked = ZipReader::Open(Corpus("pkg_mocked.pt"));
  const RecordXattrs m = RecordXattrs::Compute(ZipRecordSource(mocked));
  bool saw_mock = false;
  bool saw_intern = false;
  for (const ZipEntry& e : mocked.entries()) {
    const std::string action = Value(m.Of(e.name), "user.tpkg.action");
    saw_mock |= action == "mock";
    saw_intern |= action == "intern";
  }
  EXPECT_TRUE(saw_mock);
  EXPECT_TRUE(saw_intern);
}

}  // namespace
}  // namespace tpkg
