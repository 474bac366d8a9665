// utf8.h: the two UTF-8 helpers libtpkg needs (encoding one code point,
// validating a buffer). Too small to justify a library dependency.
//
// Thread safety: pure functions over their arguments; nothing is shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tpkg {

// Appends the UTF-8 encoding of `code_point`; false if above U+10FFFF.
// Surrogates are encoded as-is (CPython str may hold them).
bool AppendUtf8(uint32_t code_point, std::string& out);

// Offset of the first byte that does not start a valid UTF-8 sequence
// (overlong forms and surrogates are invalid, as for CPython's decoder),
// or npos when `text` is valid.
size_t FindInvalidUtf8(std::string_view text);

}  // namespace tpkg
