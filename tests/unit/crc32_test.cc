// tpkg::Crc32 and Crc32Combine: the ZIP/zlib CRC-32, checked against its
// published check value and against zlib, an independent implementation.
#include "tpkg/crc32.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace tpkg {
namespace {

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 2654435761u) >> 13);
  return s;
}

uint32_t ZlibCrc(const std::string& s) {
  return static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

TEST(Crc32Test, GivesTheCheckValueOfTheZipPolynomial) {
  EXPECT_EQ(Crc32(0, std::string("123456789")), 0xCBF43926u);
  EXPECT_EQ(Crc32(0, std::string()), 0u);
}

TEST(Crc32Test, AgreesWithZlibAtEveryLengthAndAlignment) {
  const std::string data = Pattern((1 << 20) + 300);
  for (size_t start : {0, 1, 3, 7, 64}) {
    for (size_t length : {0, 1, 15, 16, 63, 64, 65, 255, 4096, 100000, 1 << 20}) {
      const std::string piece = data.substr(start, length);
      EXPECT_EQ(Crc32(0, piece), ZlibCrc(piece)) << start << "+" << length;
    }
  }
}

TEST(Crc32Test, ContinuingFromAPreviousCrcIsTheCrcOfTheWhole) {
  const std::string data = Pattern(10000);
  uint32_t crc = 0;
  for (size_t at = 0; at < data.size(); at += 777) crc = Crc32(crc, data.substr(at, 777));
  EXPECT_EQ(crc, Crc32(0, data));
}

TEST(Crc32Test, CombineJoinsTwoCrcsWithoutTheBytes) {
  const std::string data = Pattern(5000);
  for (size_t split : {size_t{0}, size_t{1}, size_t{2500}, data.size()}) {
    const std::string a = data.substr(0, split), b = data.substr(split);
    EXPECT_EQ(Crc32Combine(Crc32(0, a), Crc32(0, b), b.size()), Crc32(0, data)) << split;
  }
}

// The CRC-32 of `n` zero bytes by binary doubling with `combine`.
template <class Combine>
uint32_t CrcOfZeros(uint64_t n, Combine combine) {
  uint32_t crc = 0, block = Crc32(0, std::string(1, '\0'));
  for (uint64_t len = 1; n; n >>= 1, block = combine(block, block, len), len *= 2) {
    if (n & 1) crc = combine(crc, block, len);
  }
  return crc;
}

TEST(Crc32Test, CombineTakesLengthsPast4GiB) {
  const auto zlib = [](uint32_t a, uint32_t b, uint64_t len) {
    return static_cast<uint32_t>(crc32_combine64(a, b, static_cast<z_off64_t>(len)));
  };
  const uint64_t n = (uint64_t{5} << 30) + 3;
  EXPECT_EQ(CrcOfZeros(n, Crc32Combine), CrcOfZeros(n, zlib));
  EXPECT_NE(CrcOfZeros(n, Crc32Combine), CrcOfZeros(n & 0xffffffff, Crc32Combine))
      << "the length was cut to 32 bits";
}

}  // namespace
}  // namespace tpkg
