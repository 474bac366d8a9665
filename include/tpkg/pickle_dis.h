// pickle_dis.h: a pickle's disassembly, the text Python's
// `pickletools.dis(data)` prints, byte for byte (default arguments: indent 4,
// no annotations), without Python and without executing anything.
//
//   tpkg::PickleDisassembly d = tpkg::DisassemblePickle(bytes);
//   std::cout << d.text;                 // "    0: \x80 PROTO      2\n..."
//   if (!d.error.empty()) ...            // where pickletools.dis raises
//
// Where pickletools raises (an unknown opcode, a truncated argument, a memo
// or MARK misuse, items left after STOP), `text` holds what it printed before
// raising and `error` says why (the wording is ours). Reprs follow CPython's
// rules, with one approximation: non-ASCII code points Unicode leaves
// unassigned print as themselves, where CPython escapes them.
//
// Thread safety: a pure function.
#pragma once

#include <span>
#include <string>

namespace tpkg {

struct PickleDisassembly {
  std::string text;
  std::string error;  // "" when pickletools.dis returns normally
};

struct PickleDisOptions {
  // pickletools changed in Python 3.13: STRING / BINSTRING / SHORT_BINSTRING
  // arguments print with ascii() instead of repr(), and the text operands of
  // STRING and PERSID/GLOBAL decode as Latin-1 / UTF-8 instead of ASCII.
  int python_minor = 11;
};

PickleDisassembly DisassemblePickle(std::span<const char> bytes,
                                    const PickleDisOptions& options = {});

}  // namespace tpkg
