// Unit tests for DisassemblePickle() (tpkg/pickle_dis.h) and the reprs behind
// it: expected texts are what CPython 3.11's pickletools.dis printed for the
// same bytes. The differential test on every corpus pickle is
// tests/python/test_pickles_cli.py.
#include "tpkg/pickle_dis.h"

#include <gtest/gtest.h>

#include <string>

#include "scan/python_repr.h"

namespace tpkg {
namespace {

using namespace std::string_literals;

PickleDisassembly Dis(const std::string& bytes) {
  return DisassemblePickle(std::span<const char>(bytes.data(), bytes.size()));
}

TEST(PickleDis, Protocol4ScalarsFramesAndMemoize) {
  // pickle.dumps((1, 'a"\'\n\u00e9\u2028', b"x'\x00", 1.5, 1e16, 1e-05, -0.0, 2**70, -2**63,
  //               None, True, [{}]), protocol=4)
  const std::string bytes =
      "\x80\x04\x95X\x00\x00\x00\x00\x00\x00\x00(K\x01\x8c\ta\"'\n\xc3\xa9\xe2\x80\xa8\x94"
      "C\x03x'\x00\x94G?\xf8\x00\x00\x00\x00\x00\x00GCA\xc3y7\xe0\x80\x00G>\xe4\xf8\xb5\x88\xe3h"
      "\xf1G\x80\x00\x00\x00\x00\x00\x00\x00\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@\x8a\x08\x00"
      "\x00\x00\x00\x00\x00\x00\x80N\x88]\x94}\x94"
      "at\x94."s;
  const PickleDisassembly d = Dis(bytes);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.text,
            "    0: \\x80 PROTO      4\n"
            "    2: \\x95 FRAME      88\n"
            "   11: (    MARK\n"
            "   12: K        BININT1    1\n"
            "   14: \\x8c     SHORT_BINUNICODE 'a\"\\'\\n\xc3\xa9\\u2028'\n"
            "   25: \\x94     MEMOIZE    (as 0)\n"
            "   26: C        SHORT_BINBYTES b\"x'\\x00\"\n"
            "   31: \\x94     MEMOIZE    (as 1)\n"
            "   32: G        BINFLOAT   1.5\n"
            "   41: G        BINFLOAT   1e+16\n"
            "   50: G        BINFLOAT   1e-05\n"
            "   59: G        BINFLOAT   -0.0\n"
            "   68: \\x8a     LONG1      1180591620717411303424\n"
            "   79: \\x8a     LONG1      -9223372036854775808\n"
            "   89: N        NONE\n"
            "   90: \\x88     NEWTRUE\n"
            "   91: ]        EMPTY_LIST\n"
            "   92: \\x94     MEMOIZE    (as 2)\n"
            "   93: }        EMPTY_DICT\n"
            "   94: \\x94     MEMOIZE    (as 3)\n"
            "   95: a        APPEND\n"
            "   96: t        TUPLE      (MARK at 11)\n"
            "   97: \\x94 MEMOIZE    (as 4)\n"
            "   98: .    STOP\n"
            "highest protocol among opcodes = 4\n");
}

TEST(PickleDis, Protocol0TextOperands) {
  // pickle.dumps({'k': [1, 2.5, '\u00e9']}, protocol=0)
  const PickleDisassembly d = Dis("(dp0\nVk\np1\n(lp2\nI1\naF2.5\naV\xe9\np3\nas."s);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.text,
            "    0: (    MARK\n"
            "    1: d        DICT       (MARK at 0)\n"
            "    2: p    PUT        0\n"
            "    5: V    UNICODE    'k'\n"
            "    8: p    PUT        1\n"
            "   11: (    MARK\n"
            "   12: l        LIST       (MARK at 11)\n"
            "   13: p    PUT        2\n"
            "   16: I    INT        1\n"
            "   19: a    APPEND\n"
            "   20: F    FLOAT      2.5\n"
            "   25: a    APPEND\n"
            "   26: V    UNICODE    '\xc3\xa9'\n"
            "   29: p    PUT        3\n"
            "   32: a    APPEND\n"
            "   33: s    SETITEM\n"
            "   34: .    STOP\n"
            "highest protocol among opcodes = 0\n");
}

TEST(PickleDis, ErrorsComeAfterTheLinePickletoolsPrints) {
  PickleDisassembly d = Dis("\x80\x02h\x03."s);
  EXPECT_EQ(d.text, "    0: \\x80 PROTO      2\n    2: h    BINGET     3\n");
  EXPECT_EQ(d.error, "memo key 3 has never been stored into");
  d = Dis("\x80\x02K\x01K\x02."s);
  EXPECT_NE(d.text.find("highest protocol among opcodes = 2\n"), std::string::npos);
  EXPECT_EQ(d.error, "stack not empty after STOP");
  d = Dis("\x80\x02\xff"s);
  EXPECT_EQ(d.text, "    0: \\x80 PROTO      2\n");
  EXPECT_EQ(d.error, "at position 2, opcode 0xff unknown");
  d = Dis("\x80\x02t."s);
  EXPECT_EQ(d.error, "no MARK exists on stack");
  d =
      Dis("\x80\x02X\x05\x00\x00\x00"
          "ab"s);
  EXPECT_EQ(d.text, "    0: \\x80 PROTO      2\n");
  EXPECT_FALSE(d.error.empty());
}

TEST(PythonRepr, FloatsAsPythonPrintsThem) {
  EXPECT_EQ(pickle::ReprFloat(0.1), "0.1");
  EXPECT_EQ(pickle::ReprFloat(1e15), "1000000000000000.0");
  EXPECT_EQ(pickle::ReprFloat(1e16), "1e+16");
  EXPECT_EQ(pickle::ReprFloat(0.0001), "0.0001");
  EXPECT_EQ(pickle::ReprFloat(1.5e-7), "1.5e-07");
  EXPECT_EQ(pickle::ReprFloat(-2.0), "-2.0");
  EXPECT_EQ(pickle::ReprFloat(123.456), "123.456");
  EXPECT_EQ(pickle::ReprFloat(1.7976931348623157e308), "1.7976931348623157e+308");
}

TEST(PythonRepr, IntsStringsAndBytes) {
  EXPECT_EQ(pickle::ReprLong(""), "0");
  EXPECT_EQ(pickle::ReprLong("\xff"), "-1");
  EXPECT_EQ(pickle::ReprLong("\x00\x01"s), "256");
  EXPECT_FALSE(pickle::ReprLong(std::string(2000, '\x7f')).has_value());
  EXPECT_EQ(pickle::ReprDecimal(" -007 "), "-7");
  EXPECT_EQ(pickle::ReprDecimal("1_000"), "1000");
  EXPECT_FALSE(pickle::ReprDecimal("1__0").has_value());
  EXPECT_EQ(*pickle::ReprStr("it's"), "\"it's\"");
  EXPECT_EQ(*pickle::ReprStr("\x7f\t"), "'\\x7f\\t'");
  EXPECT_EQ(*pickle::ReprStr("\xc2\xa0\xed\xa0\x80"), "'\\xa0\\ud800'");
  EXPECT_EQ(*pickle::ReprStr("\xc3\xa9", true), "'\\xe9'");
  EXPECT_FALSE(pickle::ReprStr("\xc3").has_value());
  EXPECT_EQ(pickle::ReprBytes("a\"'\\\x80"), "b'a\"\\'\\\\\\x80'");
}

}  // namespace
}  // namespace tpkg
