// pickle_text.h: decoders for the text operands of protocol 0 opcodes.
//
// Hand-written because they are a few lines each and must follow CPython's
// pickle module exactly (codecs.escape_decode, raw-unicode-escape, int()).
//
// Thread safety: pure functions over their arguments; nothing is shared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tpkg::pickle {

struct ParsedInt {
  bool valid = false;
  bool big = false;  // valid, but outside int64
  int64_t value = 0;
};

// An int as INT/LONG/GET/PUT write it: optional sign, decimal digits, or a
// 0x/0o/0b prefix when `allow_prefix`; a trailing 'L' when `allow_l_suffix`.
ParsedInt ParseTextInt(std::string_view text, bool allow_prefix, bool allow_l_suffix);

// STRING's operand: strips the quotes and undoes backslash escapes
// (codecs.escape_decode). nullopt when the quotes are missing.
std::optional<std::string> DecodeQuotedString(std::string_view text);

// UNICODE's operand ('raw-unicode-escape'): \uXXXX and \UXXXXXXXX escapes,
// every other byte is a Latin-1 code point. Returns UTF-8; nullopt on a
// malformed escape.
std::optional<std::string> DecodeRawUnicodeEscape(std::string_view text);

}  // namespace tpkg::pickle
