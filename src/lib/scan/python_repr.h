// python_repr.h (private): Python's repr() of the values pickletools.dis
// prints (str, bytes, int of any size, float), for the disassembler
// (tpkg/pickle_dis.h), so its text equals CPython's byte for byte.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tpkg::pickle {

// repr(str) of UTF-8 text (lone surrogates allowed, as 'surrogatepass'
// decodes them); ascii(str) when `ascii_only`. nullopt for bytes that are not
// (surrogate-tolerant) UTF-8.
std::optional<std::string> ReprStr(std::string_view utf8, bool ascii_only = false);

// repr(bytes); bytearray(...) adds its own wrapper.
std::string ReprBytes(std::string_view bytes);

// repr(s.decode("latin-1")) (or ascii()).
std::string ReprLatin1(std::string_view bytes, bool ascii_only);

// repr(float).
std::string ReprFloat(double value);

// repr(int) of a little-endian two's complement number (pickle.decode_long).
// nullopt beyond Python's default limit of 4300 digits for int-to-str.
std::optional<std::string> ReprLong(std::string_view little_endian);

// repr(int(text)) for decimal text as INT/LONG/GET/PUT carry it (sign, digits,
// Python's optional underscores between digits, surrounding whitespace);
// nullopt when int() would refuse it.
std::optional<std::string> ReprDecimal(std::string_view text);

}  // namespace tpkg::pickle
