// Unit tests for ScanPickle(): hand-assembled pickles for each opcode family,
// torch's module-derivation quirks, malformed input and hostile sizes.
// (Differential tests against CPython's unpickler and torch's exporter live in
// tests/python/test_pickle_scan_differential.py.)
#include "tpkg/pickle_scan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "slow_tier.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

using namespace std::string_literals;

// Tiny assembler for readable pickles.
std::string U8(int v) { return std::string(1, static_cast<char>(v)); }
std::string LE(uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}
std::string Proto(int p) { return "\x80"s + U8(p); }
std::string ShortUnicode(const std::string& s) {
  return "\x8c"s + U8(static_cast<int>(s.size())) + s;
}
std::string BinUnicode(const std::string& s) { return "X"s + LE(s.size(), 4) + s; }
std::string Global(const std::string& m, const std::string& n) { return "c" + m + "\n" + n + "\n"; }
const std::string kMemoize = "\x94";
const std::string kStackGlobal = "\x93";
std::string BinGet(int i) { return "h"s + U8(i); }
std::string LongBinGet(uint32_t i) { return "j"s + LE(i, 4); }
std::string BinPut(int i) { return "q"s + U8(i); }
std::string BinInt1(int i) { return "K"s + U8(i); }

PickleScan Scan(const std::string& bytes, const PickleScanLimits& limits = {}) {
  return ScanPickle(std::span<const char>(bytes.data(), bytes.size()), limits);
}

std::vector<std::string> GlobalNames(const PickleScan& s) {
  std::vector<std::string> out;
  for (const auto& g : s.globals) out.push_back(g.module + "." + g.name);
  return out;
}

// ('storage', torch.FloatStorage, key, 'cpu', numel) as torch.package writes it.
std::string StoragePid(const std::string& key_ops, int numel) {
  return "(" + BinUnicode("storage") + Global("torch", "FloatStorage") + key_ops +
         BinUnicode("cpu") + BinInt1(numel) + "tQ";
}

TEST(PickleScanTest, ReportsProtocolAndGlobalsInFirstUseOrderWithoutDuplicates) {
  std::string p = Proto(2) + Global("collections", "OrderedDict") + BinPut(0) + ")R" +
                  Global("builtins", "set") + BinPut(1) + BinGet(0) + ")R" + "\x86" + "0" +
                  Global("collections", "OrderedDict") + ")R.";
  PickleScan s = Scan(p);
  EXPECT_EQ(s.protocol, 2);
  EXPECT_EQ(GlobalNames(s), (std::vector<std::string>{"collections.OrderedDict", "builtins.set"}));
  EXPECT_EQ(s.modules, (std::vector<std::string>{"collections", "builtins"}));
}

TEST(PickleScanTest, ProtocolIsZeroWithoutProtoOpcode) { EXPECT_EQ(Scan("N.").protocol, 0); }

TEST(PickleScanTest, DecodesStackGlobalOperandsThroughTheMemo) {
  std::string p = Proto(4) + ShortUnicode("torch") + kMemoize + ShortUnicode("Tensor") + kMemoize +
                  kStackGlobal + kMemoize + "0" + BinGet(0) + ShortUnicode("Size") + kMemoize +
                  kStackGlobal + ".";
  PickleScan s = Scan(p);
  EXPECT_EQ(GlobalNames(s), (std::vector<std::string>{"torch.Tensor", "torch.Size"}));
  EXPECT_EQ(s.modules, (std::vector<std::string>{"torch"}));
}

TEST(PickleScanTest, InstCountsAsGlobalButNotAsTorchModule) {
  std::string p = "(" + "imy.mod\nKlass\n"s + "p0\n.";
  PickleScan s = Scan(p);
  EXPECT_EQ(GlobalNames(s), (std::vector<std::string>{"my.mod.Klass"}));
  EXPECT_TRUE(s.modules.empty());  // torch's loop only looks at GLOBAL
}

TEST(PickleScanTest, ObjPopsClassAndArgumentsAboveMark) {
  std::string p = Proto(1) + "(" + Global("a", "B") + BinInt1(1) + "o.";
  EXPECT_EQ(GlobalNames(Scan(p)), (std::vector<std::string>{"a.B"}));
}

TEST(PickleScanTest, DecodesStoragePersistentIdsInLoadOrder) {
  std::string p = Proto(3) + "(" + StoragePid(BinInt1(0), 6) + StoragePid(BinInt1(0), 6) + "(" +
                  BinUnicode("storage") + Global("torch", "LongStorage") + BinUnicode("0.storage") +
                  BinUnicode("cuda:0") + "\x8a\x02\x00\x01"s + "tQ" + "l.";
  PickleScan s = Scan(p);
  ASSERT_EQ(s.storages.size(), 3u);
  EXPECT_EQ(s.storages[0], (StorageRef{{"torch", "FloatStorage"}, "0", true, "cpu", 6}));
  EXPECT_EQ(s.storages[1], s.storages[0]);  // not deduplicated
  EXPECT_EQ(s.storages[2],
            (StorageRef{{"torch", "LongStorage"}, "0.storage", false, "cuda:0", 256}));
}

// _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks):
// offset + sum((size - 1) * stride) + 1 elements, 0 for an empty tensor;
// nothing when an operand is no literal (here a float offset).
TEST(PickleScanTest, RecordsTheExtentOfEachTensorOnAStorage) {
  auto tensor = [](const std::string& offset, const std::string& size,
                   const std::string& stride) {
    return Global("torch._utils", "_rebuild_tensor_v2") + "(" + StoragePid(BinInt1(0), 30) +
           offset + size + stride + "\x89" + Global("collections", "OrderedDict") + ")Rt" + "R";
  };
  const std::string p = Proto(2) + "(" +
                        tensor(BinInt1(2), "(K\x04K\x06t", "(K\x06K\x01t") +  // 2+18+5+1
                        tensor(BinInt1(0), "(K\x00K\x06t"s, "(K\x06K\x01t") +  // empty
                        tensor("G?\xf0\x00\x00\x00\x00\x00\x00"s, ")", ")") +  // 1.0
                        "l.";
  const PickleScan s = Scan(p);
  ASSERT_EQ(s.storages.size(), 3u);
  EXPECT_EQ(s.tensors, (std::vector<TensorExtent>{{0, 26}, {1, 0}}));
}

// _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks,
// dtype): its storage is untyped, so the extent counts bytes, elements times
// the size of the dtype the call names; nothing for a dtype torch does not name.
TEST(PickleScanTest, RecordsTheExtentInBytesOfATensorThatNamesItsDtype) {
  auto tensor = [](const std::string& dtype) {
    return Global("torch._utils", "_rebuild_tensor_v3") + "(" + StoragePid(BinInt1(0), 30) +
           BinInt1(1) + "(K\x02K\x03t" + "(K\x03K\x01t" + "\x89" +
           Global("collections", "OrderedDict") + ")R" + Global("torch", dtype) + "t" + "R";
  };
  const std::string p =
      Proto(2) + "(" + tensor("uint32") + tensor("float8_e5m2") + tensor("float128") + "l.";
  const PickleScan s = Scan(p);
  ASSERT_EQ(s.storages.size(), 3u);
  // offset 1 + (2-1)*3 + (3-1)*1 + 1 = 7 elements
  EXPECT_EQ(s.tensors, (std::vector<TensorExtent>{{0, 28}, {1, 7}}));
}

TEST(PickleScanTest, DecodesPersistentIdsBuiltFromMemoizedParts) {
  std::string p = Proto(2) + "(" + BinUnicode("storage") + BinPut(0) +
                  Global("torch", "FloatStorage") + BinPut(1) + BinUnicode("7") +
                  BinUnicode("cpu") + BinPut(2) + BinInt1(3) + "tQ" + "(" + BinGet(0) + BinGet(1) +
                  BinUnicode("8") + BinGet(2) + BinInt1(4) + "tQ" + "\x86.";
  PickleScan s = Scan(p);
  ASSERT_EQ(s.storages.size(), 2u);
  EXPECT_EQ(s.storages[1], (StorageRef{{"torch", "FloatStorage"}, "8", false, "cpu", 4}));
}

TEST(PickleScanTest, DecodesReducePackageIdsOfBothArities) {
  std::string four = "(" + BinUnicode("reduce_package") + "\x8a\x05\x10\x32\x54\x76\x01" +
                     Global("pkg.vocab", "load") + "(" + BinUnicode("0") + BinInt1(3) + "t" + "tQ";
  std::string three = "(" + BinUnicode("reduce_package") + Global("pkg.vocab", "old") + ")" + "tQ";
  // An argument that is no str is not kept (a script module's id is one).
  std::string int_arg = "(" + BinUnicode("reduce_package") + BinInt1(7) +
                        Global("pkg.vocab", "load") + "(" + BinInt1(3) + "t" + "tQ";
  PickleScan s = Scan(Proto(3) + four + three + int_arg + "\x87.");
  ASSERT_EQ(s.reduce_packages.size(), 3u);
  EXPECT_EQ(s.reduce_packages[0], (ReducePackageRef{{"pkg.vocab", "load"}, true, ""}));
  EXPECT_EQ(s.reduce_packages[1], (ReducePackageRef{{"pkg.vocab", "old"}, false, ""}));
  EXPECT_EQ(s.reduce_packages[2], (ReducePackageRef{{"pkg.vocab", "load"}, true, ""}));
}

TEST(PickleScanTest, KeepsTheIdOfAPackagedScriptModuleOnly) {
  // unpackage_script_module's str argument names `.data/ts_code/<id>/`; any
  // other call's argument is not kept, and a long one is no error (a custom
  // __reduce_package__ may pass a whole vocabulary).
  const auto call = [](const std::string& module, const std::string& name, const std::string& arg) {
    return "(" + BinUnicode("reduce_package") + BinInt1(1) + Global(module, name) + "(" +
           BinUnicode(arg) + "t" + "tQ";
  };
  const std::string long_text(5000, 'w');
  PickleScan s = Scan(Proto(3) + call("torch.jit._script", "unpackage_script_module", "0") +
                      call("pkg.vocab", "load", long_text) +
                      call("torch.jit._script", "unpackage_script_module", long_text) + "\x87.");
  ASSERT_EQ(s.reduce_packages.size(), 3u);
  EXPECT_EQ(s.reduce_packages[0].first_arg, "0");
  EXPECT_EQ(s.reduce_packages[1].first_arg, "");
  EXPECT_EQ(s.reduce_packages[2].first_arg, "");
}

TEST(PickleScanTest, IgnoresPersistentIdsTorchDoesNotDecode) {
  std::string p = Proto(0) + "Pplain string id\n" + "(" + BinUnicode("other") + BinInt1(1) + "tQ" +
                  BinUnicode("not a tuple") + "Q" + "\x87.";
  PickleScan s = Scan(p);
  EXPECT_TRUE(s.storages.empty());
  EXPECT_TRUE(s.reduce_packages.empty());
}

TEST(PickleScanTest, Protocol0TextOperandsAreDecoded) {
  // STRING with escapes and UNICODE with \u escapes both give str values.
  std::string p = "(S'storage'\nctorch\nFloatStorage\nV\\u0030\nS'c\\x70u'\nI12\ntQ.";
  PickleScan s = Scan(p);
  ASSERT_EQ(s.storages.size(), 1u);
  EXPECT_EQ(s.storages[0], (StorageRef{{"torch", "FloatStorage"}, "0", false, "cpu", 12}));
}

// Torch's save_pickle loop (doc/format.md §6.2) has quirks the module list keeps.
struct TorchModuleCase {
  const char* name;
  std::string pickle;
  std::vector<std::string> modules;
  std::vector<std::string> globals;
};

class TorchModuleQuirkTest : public testing::TestWithParam<TorchModuleCase> {};

TEST_P(TorchModuleQuirkTest, ModulesMatchTorchsGenopsLoop) {
  PickleScan s = Scan(GetParam().pickle);
  EXPECT_EQ(s.modules, GetParam().modules);
  EXPECT_EQ(GlobalNames(s), GetParam().globals);
}

INSTANTIATE_TEST_SUITE_P(
    Quirks, TorchModuleQuirkTest,
    testing::Values(
        // LONG_BINGET is invisible to torch: its "module" is the string
        // before the fetched one.
        TorchModuleCase{"LongBinGetIsNotTracked",
                        Proto(4) + ShortUnicode("a.b") + kMemoize + ShortUnicode("X") + kMemoize +
                            kStackGlobal + "0" + ShortUnicode("c.d") + kMemoize + LongBinGet(0) +
                            ShortUnicode("Y") + kMemoize + kStackGlobal + ".",
                        {"a.b", "c.d"},
                        {"a.b.X", "a.b.Y"}},
        // BINUNICODE (4-byte length) is not tracked either.
        TorchModuleCase{"BinUnicodeIsNotTracked",
                        Proto(4) + ShortUnicode("m1") + kMemoize + BinUnicode("m2") + kMemoize +
                            ShortUnicode("Z") + kMemoize + kStackGlobal + ".",
                        {"m1"},
                        {"m2.Z"}},
        // Protocol 3: only GLOBAL counts; a STACK_GLOBAL is ignored.
        TorchModuleCase{"Protocol3IgnoresStackGlobal",
                        Proto(3) + Global("g", "A") + "0" + BinUnicode("s") + BinUnicode("B") +
                            kStackGlobal + ".",
                        {"g"},
                        {"g.A", "s.B"}},
        // Protocol 4: GLOBAL is ignored by torch.
        TorchModuleCase{"Protocol4IgnoresGlobal", Proto(4) + Global("g", "A") + ".", {}, {"g.A"}},
        // Torch's tracked module is None here (its memo never saw a string
        // at index 5): torch asserts; we fall back to the real module.
        TorchModuleCase{"UntrackedModuleFallsBackToRealModule",
                        Proto(4) + BinUnicode("real") + "r" + LE(5, 4) + "0" + LongBinGet(5) +
                            ShortUnicode("N") + kStackGlobal + ".",
                        {"real"},
                        {"real.N"}},
        // A space breaks torch's `arg.split(" ")`: real module used.
        TorchModuleCase{"SpaceInGlobalFallsBackToRealModule",
                        Proto(3) + Global("my mod", "K") + ".",
                        {"my mod"},
                        {"my mod.K"}}),
    [](const testing::TestParamInfo<TorchModuleCase>& info) { return info.param.name; });

// The same loop feeds torch's check for objects of mocked modules (doc/format.md
// §6.6): every (module, field) pair it holds at a global, repeats kept, and
// what its `module` variable is left with.
struct MockCheckCase {
  const char* name;
  std::string pickle;
  std::vector<std::string> pairs;  // "module:field"
  std::string last_module;
};

class MockCheckInputsTest : public testing::TestWithParam<MockCheckCase> {};

TEST_P(MockCheckInputsTest, MatchTorchsGenopsLoop) {
  const MockCheckInputs m = Scan(GetParam().pickle).mock_check;
  std::vector<std::string> pairs;
  for (const auto& [module, field] : m.globals)
    pairs.push_back(m.names[module] + ":" + m.names[field]);
  EXPECT_EQ(pairs, GetParam().pairs);
  EXPECT_EQ(m.last_module, GetParam().last_module);
}

INSTANTIATE_TEST_SUITE_P(
    Quirks, MockCheckInputsTest,
    testing::Values(
        // Strings after the last global move torch's `module` on.
        MockCheckCase{"Protocol4TrailingStringsMoveTheLastModule",
                      Proto(4) + ShortUnicode("torch") + kMemoize + ShortUnicode("Tensor") +
                          kMemoize + kStackGlobal + kMemoize + "0" + BinGet(0) +
                          ShortUnicode("Size") + kMemoize + kStackGlobal + "0" +
                          ShortUnicode("key") + "0" + "N.",
                      {"torch:Tensor", "torch:Size"},
                      "Size"},
        // LONG_BINGET is invisible: the pair is the two strings before it.
        MockCheckCase{"LongBinGetIsNotTracked",
                      Proto(4) + ShortUnicode("a.b") + kMemoize + ShortUnicode("X") + kMemoize +
                          kStackGlobal + "0" + ShortUnicode("c.d") + kMemoize + LongBinGet(0) +
                          ShortUnicode("Y") + kMemoize + kStackGlobal + ".",
                      {"a.b:X", "c.d:Y"},
                      "c.d"},
        // torch's module is None at the STACK_GLOBAL: no pair, no last module.
        MockCheckCase{"UntrackedModuleGivesNoPair",
                      Proto(4) + BinUnicode("real") + "r" + LE(5, 4) + "0" + LongBinGet(5) +
                          ShortUnicode("N") + kStackGlobal + ".",
                      {},
                      ""},
        // A GET of a slot torch's memo never filled leaves None as the field.
        MockCheckCase{"GetOfUnknownSlotIsNone",
                      Proto(4) + ShortUnicode("m") + "r" + LE(0, 4) + ShortUnicode("F") + "r" +
                          LE(7, 4) + "0" + "0" + "j" + LE(0, 4) + "j" + LE(7, 4) + "g7\n" + "0" +
                          kStackGlobal + ".",
                      {},
                      "F"},
        // Protocol 3: every GLOBAL, repeats kept; STACK_GLOBAL ignored.
        MockCheckCase{"Protocol3SeesEveryGlobal",
                      Proto(3) + Global("g", "A") + "0" + Global("h", "B") + "0" +
                          Global("g", "A") + "0" + BinUnicode("s") + BinUnicode("C") +
                          kStackGlobal + ".",
                      {"g:A", "h:B", "g:A"},
                      "g"},
        MockCheckCase{"NoGlobalsNoLastModule", Proto(3) + "N.", {}, ""}),
    [](const testing::TestParamInfo<MockCheckCase>& info) { return info.param.name; });

// Malformed input: always an Error(kCorrupt) naming the byte offset.
struct BadPickle {
  const char* name;
  std::string bytes;
  std::string message_part;
};

class MalformedPickleTest : public testing::TestWithParam<BadPickle> {};

TEST_P(MalformedPickleTest, IsRejectedWithOffset) {
  try {
    Scan(GetParam().bytes);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kCorrupt);
    EXPECT_NE(std::string(e.what()).find(GetParam().message_part), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(" at byte "), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Errors, MalformedPickleTest,
    testing::Values(
        BadPickle{"Empty", "", "no STOP"}, BadPickle{"NoStop", Proto(2) + "N", "no STOP"},
        BadPickle{"InvalidOpcode", Proto(2) + "\xff", "invalid opcode 0xff"},
        BadPickle{"UnsupportedProtocol", Proto(6) + "N.", "unsupported pickle protocol 6"},
        BadPickle{"LyingBinUnicode8Length", Proto(4) + "\x8d" + LE(uint64_t{1} << 62, 8) + "ab.",
                  "truncated"},
        BadPickle{"LyingBinBytesLength", Proto(3) + "B" + LE(0xffffffff, 4) + "ab.", "truncated"},
        BadPickle{"LyingFrameLength", Proto(4) + "\x95" + LE(1000, 8) + "N.", "FRAME longer"},
        BadPickle{"TruncatedOperand", Proto(2) + "J\x01\x02", "truncated"},
        BadPickle{"GlobalWithoutNewline", "cmodule", "no newline"},
        BadPickle{"NegativeBinString", "T" + LE(0xfffffffe, 4) + ".", "negative"},
        BadPickle{"StopOnEmptyStack", ".", "underflow"},
        BadPickle{"AppendOnEmptyStack", "Na0.", "underflow"},
        BadPickle{"ReduceBelowMark", "N(NR.", "underflow"},
        BadPickle{"TupleWithoutMark", "Nt.", "MARK not found"},
        BadPickle{"MissingMemoEntry", Proto(2) + BinGet(3) + ".",
                  "memo value not found at index 3"},
        BadPickle{"PutOnEmptyStack", Proto(2) + BinPut(0) + "N.", "underflow"},
        BadPickle{"BadTextMemoIndex", "Np-1\n.", "invalid memo index"},
        BadPickle{"ExtensionCode", Proto(2) + "\x82\x01.", "unregistered extension code"},
        BadPickle{"StackGlobalOfNonStrings", Proto(4) + "NN" + kStackGlobal + ".",
                  "not literal strings"},
        BadPickle{"UnquotedString", "Sabc\n.", "must be quoted"},
        BadPickle{"BadInt", "I12x\n.", "invalid literal"},
        BadPickle{"StorageIdWithFourFields",
                  Proto(2) + "(" + BinUnicode("storage") + Global("torch", "FloatStorage") +
                      BinInt1(0) + BinUnicode("cpu") + "tQ.",
                  "4 fields"},
        BadPickle{"StorageTypeNotAGlobal",
                  Proto(2) + "(" + BinUnicode("storage") + "N" + BinInt1(0) + BinUnicode("cpu") +
                      BinInt1(1) + "tQ.",
                  "not a global"},
        BadPickle{"NegativeNumel",
                  Proto(2) + "(" + BinUnicode("storage") + Global("t", "S") + BinInt1(0) +
                      BinUnicode("cpu") + "J" + LE(0xffffffff, 4) + "tQ.",
                  "numel"}),
    [](const testing::TestParamInfo<BadPickle>& info) { return info.param.name; });

TEST(PickleScanTest, EveryTruncationOfAValidPickleIsAnErrorNotACrash) {
  std::string p = Proto(4) + "\x95" + LE(40, 8) + ShortUnicode("torch") + kMemoize +
                  ShortUnicode("Tensor") + kMemoize + kStackGlobal + kMemoize + "(" +
                  StoragePid(BinInt1(1), 2) + "l" + "\x86.";
  ASSERT_NO_THROW(Scan(p));
  for (size_t n = 0; n < p.size(); ++n) EXPECT_THROW(Scan(p.substr(0, n)), Error) << "prefix " << n;
}

TEST(PickleScanTest, EverySingleByteMutationGivesErrorOrResult) {
  const std::string p = Proto(4) + "\x95" + LE(40, 8) + ShortUnicode("torch") + kMemoize +
                        ShortUnicode("Tensor") + kMemoize + kStackGlobal + kMemoize + "(" +
                        StoragePid(BinInt1(1), 2) + BinGet(0) + BinGet(1) + kStackGlobal + "l" +
                        "\x86.";
  for (size_t i = 0; i < p.size(); ++i) {
    for (int b : {0x00, 0x28, 0x2e, 0x30, 0x51, 0x68, 0x74, 0x8c, 0x8d, 0x93, 0x94, 0xff}) {
      std::string mutated = p;
      mutated[i] = static_cast<char>(b);
      try {
        Scan(mutated);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::kCorrupt);
      }
    }
  }
}

TEST(PickleScanTest, TrailingBytesAfterStopAreIgnored) {
  EXPECT_NO_THROW(Scan("N.\xff\xff garbage"));
}

// Stress cases: a scaled-down run here, the full size in the slow tier.
void CheckNestedMarksHitTheLimit(size_t marks, const PickleScanLimits& limits) {
  std::string p(marks, '(');
  p += ".";
  EXPECT_THROW(Scan(p, limits), Error);
}

void CheckNestedMarksWithinARaisedLimit(size_t n) {
  std::string p(n, '(');
  p += "N";
  for (size_t i = 0; i < n; ++i) p += "t";  // each tuple wraps the last
  p += ".";
  PickleScanLimits limits;
  limits.max_stack_depth = n + 8;
  EXPECT_NO_THROW(Scan(p, limits));  // nesting past the tracked depth turns opaque
}

// Billion laughs: every tuple holds its predecessor three times.
void CheckMemoExpansionOf(uint32_t tuples) {
  std::string p = Proto(2) + BinUnicode(std::string(1 << 16, 'x')) + "r" + LE(0, 4);
  for (uint32_t i = 0; i < tuples; ++i) {
    p += '0';
    p += LongBinGet(i) + LongBinGet(i) + LongBinGet(i);
    p += '\x87';
    p += 'r';
    p += LE(i + 1, 4);
  }
  p += ".";
  EXPECT_NO_THROW(Scan(p));
}

// `uses` STACK_GLOBALs naming the same 1 MB module through the memo: linear
// only if a string object is hashed once, not once per use.
void CheckReusedLongStrings(int uses) {
  std::string p = Proto(4) + "\x8d" + LE(1 << 20, 8) + std::string(1 << 20, 'm') + kMemoize +
                  "\x8d" + LE(1 << 20, 8) + std::string(1 << 20, 'n') + kMemoize;
  for (int i = 0; i < uses; ++i) p += BinGet(0) + BinGet(1) + kStackGlobal + "0";
  p += "N.";
  PickleScan s = Scan(p);
  EXPECT_EQ(s.globals.size(), 1u);
  EXPECT_EQ(s.modules.size(), 1u);
  // The mocked-object check sees every repeat, but each string only once.
  EXPECT_EQ(s.mock_check.names.size(), 2u);
  EXPECT_EQ(s.mock_check.globals.size(), static_cast<size_t>(uses));
}

TEST(PickleScanTest, NestedMarksHitTheStackLimit) {
  PickleScanLimits limits;
  limits.max_stack_depth = 1 << 16;
  CheckNestedMarksHitTheLimit(size_t{2} << 16, limits);
}

TEST(PickleScanSlowTest, MillionsOfNestedMarksHitTheDefaultStackLimit) {
  TPKG_SLOW_TIER_ONLY();
  CheckNestedMarksHitTheLimit(size_t{2} << 20, PickleScanLimits{});
}

TEST(PickleScanTest, NestedMarksCompleteWithinARaisedLimit) {
  CheckNestedMarksWithinARaisedLimit(size_t{1} << 16);
}

TEST(PickleScanSlowTest, MillionNestedMarksCompleteWithinARaisedLimit) {
  TPKG_SLOW_TIER_ONLY();
  CheckNestedMarksWithinARaisedLimit(size_t{1} << 20);
}

TEST(PickleScanTest, MillionMarksPoppedOneByOneComplete) {
  std::string p;
  for (int i = 0; i < 1000000; ++i) p += "(0";  // POP removes a MARK on top
  p += "N.";
  EXPECT_NO_THROW(Scan(p));
}

TEST(PickleScanTest, MemoExpansionStaysLinear) { CheckMemoExpansionOf(20000); }

TEST(PickleScanSlowTest, MemoExpansionOf200000TuplesStaysLinear) {
  TPKG_SLOW_TIER_ONLY();
  CheckMemoExpansionOf(200000);
}

TEST(PickleScanTest, ReusedLongStringsAreHashedOncePerObject) { CheckReusedLongStrings(100000); }

TEST(PickleScanSlowTest, MillionReusesOfLongStringsAreHashedOncePerObject) {
  TPKG_SLOW_TIER_ONLY();
  CheckReusedLongStrings(1000000);
}

TEST(PickleScanTest, HugeMemoIndicesUseNoMemoryForTheGap) {
  std::string p = "N" + "r"s + LE(0xfffffff0, 4) + "p99999999999999\n" + "j" + LE(0xfffffff0, 4) +
                  "g99999999999999\n" + "\x86\x86.";
  EXPECT_NO_THROW(Scan(p));
}

TEST(PickleScanTest, MemoLimitIsEnforced) {
  std::string p = "N";
  for (int i = 0; i < 100; ++i) p += BinPut(i);
  p += ".";
  PickleScanLimits limits;
  limits.max_memo_entries = 50;
  EXPECT_THROW(Scan(p, limits), Error);
  limits.max_memo_entries = 100;
  EXPECT_NO_THROW(Scan(p, limits));
}

TEST(PickleScanTest, LongPersistentIdStringsAreRefused) {
  std::string p = Proto(2) + "(" + BinUnicode("storage") + Global("torch", "FloatStorage") +
                  BinInt1(0) + BinUnicode(std::string(5000, 'c')) + BinInt1(1) + "tQ.";
  EXPECT_THROW(Scan(p), Error);
  PickleScanLimits limits;
  limits.max_persistent_id_string = 5000;
  EXPECT_EQ(Scan(p, limits).storages.size(), 1u);
}

}  // namespace
}  // namespace tpkg
