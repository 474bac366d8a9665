// Unit tests for FindPickleTensors() (tpkg/pickle_tensors.h) and the inert
// object tree behind it, on a pickle real torch 1.13 wrote, on hand-made
// shapes (parameters, modules, cycles) and on malformed input. The
// differential test against torch.load / PackageImporter on every corpus
// file is tests/python/test_tensors_differential.py.
#include "tpkg/pickle_tensors.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tpkg/error.h"

namespace tpkg {
namespace {

using namespace std::string_literals;

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

std::vector<PickleTensor> Find(const std::string& bytes) {
  return FindPickleTensors(std::span<const char>(bytes.data(), bytes.size()));
}

// torch.save({'model': Sequential(l0=Linear(3, 2)).state_dict(), 'step': 7,
//             'views': (torch.arange(6.).view(2, 3)[:, 1:],)}): its data.pkl.
const std::string kCheckpoint = FromHex(
    "80027d71002858050000006d6f64656c710163636f6c6c656374696f6e730a4f726465726564446963740a7102"
    "295271032858090000006c302e776569676874710463746f7263682e5f7574696c730a5f72656275696c645f74"
    "656e736f725f76320a71052828580700000073746f72616765710663746f7263680a466c6f617453746f726167"
    "650a71075801000000307108580300000063707571094b0674710a514b004b024b0386710b4b034b0186710c89"
    "68022952710d74710e52710f58070000006c302e6269617371106805282868066807580100000031711168094b"
    "02747112514b004b028571134b0185711489680229527115747116527117757d711858090000005f6d65746164"
    "617461711968022952711a285800000000711b7d711c580700000076657273696f6e711d4b017358020000006c"
    "30711e7d711f681d4b017375736258040000007374657071204b075805000000766965777371216805282868066"
    "807580100000032712268094b06747123514b014b024b028671244b034b0186712589680229527126747127527"
    "128857129752e");

TEST(PickleTensors, CheckpointDictGivesStateDictKeysUnderItsKey) {
  const std::vector<PickleTensor> t = Find(kCheckpoint);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].path, "model.l0.weight");
  EXPECT_EQ(t[0].dtype, "float32");
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t[0].stride, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(t[0].storage_offset, 0);
  EXPECT_EQ(t[0].storage.key, "0");
  EXPECT_FALSE(t[0].storage.key_is_int);
  EXPECT_EQ(t[0].storage.location, "cpu");
  EXPECT_EQ(t[0].storage.numel, 6u);
  EXPECT_EQ(t[0].storage_bytes, 24u);
  EXPECT_EQ(t[1].path, "model.l0.bias");
  EXPECT_EQ(t[1].shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(t[2].path, "views.0");
  EXPECT_EQ(t[2].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t[2].stride, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(t[2].storage_offset, 1);
  EXPECT_EQ(t[2].storage.key, "2");
}

// torch 2.6: torch.save({'f8': torch.ones(4).to(torch.float8_e4m3fn),
//   'u16': torch.arange(6, dtype=torch.int32).to(torch.uint16).view(2, 3)[:, 1:],
//   'c32': torch.zeros(2, dtype=torch.complex32), 'f': torch.ones(1)}): its
// data.pkl. The first three dtypes have no legacy storage class, so torch
// pickles them with _rebuild_tensor_v3 on an untyped storage (numel = bytes).
const std::string kNewDtypes = FromHex(
    "80027d71002858020000006638710163746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76"
    "330a71022828580700000073746f72616765710363746f7263682e73746f726167650a556e747970656453746f72"
    "6167650a71045801000000307105580300000063707571064b04747107514b004b048571084b018571098963636f"
    "6c6c656374696f6e730a4f726465726564446963740a710a2952710b63746f7263680a666c6f6174385f65346d33"
    "666e0a710c74710d52710e5803000000753136710f6802282868036804580100000031711068064b0c747111514b"
    "014b024b028671124b034b0186711389680a2952711463746f7263680a75696e7431360a71157471165271175803"
    "00000063333271186802282868036804580100000032711968064b0874711a514b004b0285711b4b0185711c8968"
    "0a2952711d63746f7263680a636f6d706c657833320a711e74711f527120580100000066712163746f7263682e5f"
    "7574696c730a5f72656275696c645f74656e736f725f76320a71222828680363746f7263680a466c6f617453746f"
    "726167650a7123580100000033712468064b01747125514b004b018571264b0185712789680a2952712874712952"
    "712a752e");

TEST(PickleTensors, DtypesWithoutAStorageClassAreNamedByTheirRebuild) {
  const std::vector<PickleTensor> t = Find(kNewDtypes);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].path, "f8");
  EXPECT_EQ(t[0].dtype, "float8_e4m3fn");
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(t[0].storage.storage_type.module, "torch.storage");
  EXPECT_EQ(t[0].storage.storage_type.name, "UntypedStorage");
  EXPECT_EQ(t[0].storage_bytes, 4u);
  EXPECT_EQ(t[1].path, "u16");
  EXPECT_EQ(t[1].dtype, "uint16");
  EXPECT_EQ(t[1].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t[1].stride, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(t[1].storage_offset, 1);
  EXPECT_EQ(t[1].storage_bytes, 12u);
  EXPECT_EQ(t[2].path, "c32");
  EXPECT_EQ(t[2].dtype, "complex32");
  EXPECT_EQ(t[2].storage_bytes, 8u);
  EXPECT_EQ(t[3].path, "f");
  EXPECT_EQ(t[3].dtype, "float32");
  EXPECT_EQ(ElementSizeOfDtype("uint16"), 2u);
  EXPECT_EQ(ElementSizeOfDtype("float64"), 8u);
  EXPECT_EQ(ElementSizeOfDtype("no_such_dtype"), std::nullopt);
}

// A tiny assembler for the hand-made shapes.
std::string U8(int v) { return std::string(1, static_cast<char>(v)); }
std::string Str(const std::string& s) {
  return "X"s + U8(static_cast<int>(s.size())) + "\0\0\0"s + s;
}
std::string Global(const std::string& m, const std::string& n) { return "c" + m + "\n" + n + "\n"; }
std::string Int(int v) { return "K"s + U8(v); }
// _rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, (n,), (1,), False, None)
std::string Tensor(const std::string& cls, int key, int numel, int offset, int n) {
  return Global("torch._utils", "_rebuild_tensor_v2") + "((" + Str("storage") +
         Global("torch", cls) + Int(key) + Str("cpu") + Int(numel) + "tQ" + Int(offset) + Int(n) +
         "\x85"s + Int(1) + "\x85"s + "\x89N" + "tR";
}

TEST(PickleTensors, ModuleAttributesHideParametersBuffersAndModules) {
  // Net.__new__ with state {'_parameters': {'w': Parameter}, '_modules': {'sub': Sub(state
  // {'_buffers': {'b': tensor}})}, 'plain': tensor}
  const std::string param = Global("torch._utils", "_rebuild_parameter") + "(" +
                            Tensor("DoubleStorage", 0, 4, 0, 4) + "\x88N" + "tR";
  const std::string sub = Global("m", "Sub") + ")\x81}(" + Str("_buffers") + "}(" + Str("b") +
                          Tensor("LongStorage", 1, 2, 1, 1) + "u" + "ub";
  const std::string pickle = "\x80\x02"s + Global("m", "Net") + ")\x81}(" + Str("_parameters") +
                             "}(" + Str("w") + param + "u" + Str("_modules") + "}(" + Str("sub") +
                             sub + "u" + Str("plain") + Tensor("BoolStorage", 2, 3, 0, 3) + "ub.";
  const std::vector<PickleTensor> t = Find(pickle);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].path, "w");
  EXPECT_TRUE(t[0].is_parameter);
  EXPECT_TRUE(t[0].requires_grad);
  EXPECT_EQ(t[0].dtype, "float64");
  EXPECT_EQ(t[0].storage_bytes, 32u);
  EXPECT_TRUE(t[0].storage.key_is_int);
  EXPECT_EQ(t[1].path, "sub.b");
  EXPECT_EQ(t[1].dtype, "int64");
  EXPECT_EQ(t[1].storage_offset, 1);
  EXPECT_FALSE(t[1].is_parameter);
  EXPECT_EQ(t[2].path, "plain");
  EXPECT_EQ(t[2].dtype, "bool");
}

TEST(PickleTensors, SharedTensorIsReportedOnceAtItsFirstPlace) {
  // (t, [t]) where the second is a memo GET of the first.
  const std::string pickle =
      "\x80\x02("s + Tensor("FloatStorage", 0, 1, 0, 1) + "q\x00"s + "]h\x00"s + "at.";
  const std::vector<PickleTensor> t = Find(pickle);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].path, "0");
}

TEST(PickleTensors, CyclesAndRootTensorTerminate) {
  // l = []; l.append(l); (tensor, l)
  const std::string cycle = "\x80\x02("s + Tensor("HalfStorage", 0, 2, 0, 2) +
                            "]q\x01h\x01"
                            "at.";
  const std::vector<PickleTensor> t = Find(cycle);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].dtype, "float16");
  const std::string root = "\x80\x02"s + Tensor("IntStorage", 0, 2, 0, 2) + ".";
  ASSERT_EQ(Find(root).size(), 1u);
  EXPECT_EQ(Find(root)[0].path, "");
}

TEST(PickleTensors, UntypedStorageIsBytes) {
  EXPECT_EQ(DtypeOfStorageClass({"torch.storage", "UntypedStorage"})->name, "uint8");
  EXPECT_EQ(DtypeOfStorageClass({"torch", "ComplexDoubleStorage"})->element_size, 16u);
  EXPECT_FALSE(DtypeOfStorageClass({"numpy", "FloatStorage"}).has_value());
}

TEST(PickleTensors, MalformedPicklesAreErrorsWithOffsets) {
  for (const std::string& bad : {"\x80\x02("s, "\x80\x02t."s, "\x80\x02h\x05."s, "\xff"s}) {
    try {
      Find(bad);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kCorrupt);
      EXPECT_NE(std::string(e.what()).find("at byte"), std::string::npos) << e.what();
    }
  }
}

TEST(PickleTensors, DeepNestingStaysIterative) {
  // 100,000 nested lists: a walk that recursed per level would overflow the stack.
  std::string pickle = "\x80\x02"s;
  for (int i = 0; i < 100000; ++i) pickle += "]";
  for (int i = 0; i < 99999; ++i) pickle += "a";
  pickle += ".";
  EXPECT_TRUE(Find(pickle).empty());
}

}  // namespace
}  // namespace tpkg
