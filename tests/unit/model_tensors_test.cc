// Unit tests for the model-file layer (tpkg/model_tensors.h, model_diff.h,
// record_attributes.h) on the corpus torch wrote at build time. The
// differential tests against torch's loaders are in
// tests/integration/test_tpkg_inspect.py.
#include <gtest/gtest.h>

#include <string>

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
      EXPECT_FALSE(p.int_keys_add_suffix);
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
