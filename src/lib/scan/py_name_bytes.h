// py_name_bytes.h: which bytes of UTF-8 Python source may start or continue
// a name (private).
//
// ASCII letters, `_` and, after the first byte, digits; every byte of a
// non-ASCII character counts as a letter. Python's own rule (Unicode XID)
// is narrower for non-ASCII text, which only makes a scan that uses this one
// accept a little more: the tokenizer, torch's dotted record names and the
// save's word search agree by sharing it.
//
// Thread safety: constexpr functions; nothing is shared.
#pragma once

namespace tpkg::py {

constexpr bool IsNameStartByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

constexpr bool IsNameByte(unsigned char c) { return IsNameStartByte(c) || (c >= '0' && c <= '9'); }

}  // namespace tpkg::py
