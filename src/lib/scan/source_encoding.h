// source_encoding.h: a Python source's bytes as the text CPython compiles
// (PEP 263), for the import scan and the compile checks (private to libtpkg).
//
// torch's importer compiles a module's bytes, so a coding declaration in its
// first two lines (`# -*- coding: latin-1 -*-`) decides how they decode;
// torch's exporter reads them through linecache, which honours it as well.
// Bytes that are valid UTF-8 are taken as they are (the import statements
// are ASCII whatever the declaration); only bytes that are not are converted
// from the declared encoding, with glibc's iconv (every codec a package's
// author would name: latin-1, cp1252, shift_jis, euc-jp, gbk, koi8-r, ...),
// instead of a table of our own. A name Python knows and iconv does not
// (mac_roman, latin, cp65001: Python has some 300 aliases) reads each byte
// as its latin-1 character, which keeps ASCII, and with it every import, as
// it is. A name the configured interpreter has no text encoding for is
// refused as CPython refuses it ("unknown encoding", also for hex or rot13),
// by that interpreter's own codec names and aliases, looked up as codecs.lookup
// does (scan/configured_codecs.inc, generated at build time). What differs
// from CPython errs towards accepting: valid UTF-8 under a declaration of
// another encoding (CPython decodes it with that one: `café = 1` becomes
// mojibake there, and UTF-16 fails).
//
//   std::string converted;
//   std::string_view text = SourceAsUtf8(bytes, converted);  // throws Error
//
// Thread safety: a pure function (each call opens its own iconv handle).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tpkg {

// The encoding a coding declaration in the first two lines names, as
// written ("latin-1"), or nullopt. The second line counts only after a
// blank or comment-only first line, as CPython's tokenizer reads them.
std::optional<std::string> DeclaredSourceEncoding(std::string_view source);

// `source` when it is valid UTF-8; otherwise its bytes converted from the
// declared encoding into `converted`, which the result then views. Throws
// Error(kInvalidArgument, "line N: ...") for a declaration of an encoding
// Python does not have, bytes that are not UTF-8 and declare no other
// encoding, bytes the declared encoding cannot decode, and a UTF-8 BOM before
// a declaration of another encoding (as CPython does).
std::string_view SourceAsUtf8(std::string_view source, std::string& converted);

}  // namespace tpkg
