// pickle_sniff.h (private): the one rule for "is this a pickle?" when nothing
// but the bytes can say (a torch.package resource, a record of a plain ZIP, a
// bytes operand inside a pickle): pickle.load reads any of them.
//
//   if (pickle::SniffPickle(bytes) != pickle::Sniff::kNo) CheckPickles(bytes, ...);
//
// A pickle of protocol 2 to 5 starts with PROTO and its protocol: the header
// says so. Protocols 0 and 1 have no header (and an unpickler accepts any
// opcode without one): such bytes are a pickle when their first byte is an
// opcode an empty stack accepts and either
//   - the symbolic machine reads them to a STOP (kHeaderless), or
//   - they break before any STOP, but only after a call opcode (REDUCE, INST,
//     OBJ, NEWOBJ, a reduce_package persistent id) was applied to a global
//     whose module and name are dotted Python identifiers
//     (kHeaderlessCallsBeforeBreak). CPython's unpickler runs each opcode as
//     it reads it: `cos\nsystem\n(S'id'\ntR` followed by garbage, or cut
//     there, has run os.system('id') before the load fails.
// Text rarely gets that far: a line of prose, CSV, JSON or Python source
// fails within a few opcodes, and a GLOBAL needs two lines that are
// identifiers followed by opcodes that build arguments and call it.
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

namespace tpkg::pickle {

enum class Sniff {
  kNo,
  kProtocolHeader,  // PROTO 2..5 (also PROTO 0/1, which Python never writes but accepts)
  kHeaderless,      // protocol 0/1 style, read to its STOP
  kHeaderlessCallsBeforeBreak,  // protocol 0/1 style, calls a global, then breaks
};

// From the first bytes only: kProtocolHeader, kHeaderless when the first byte
// may start a headerless pickle (the whole bytes must then be sniffed), kNo.
Sniff SniffPickleHead(std::string_view head);

// From all the bytes.
Sniff SniffPickle(std::string_view bytes);

// False when the bytes cannot name a global (no line for GLOBAL / INST, no
// STACK_GLOBAL byte), so cannot call one: a cheap test that rules out
// kHeaderlessCallsBeforeBreak without running the machine (state dicts hold
// many short strings that are checked for pickles inside them).
bool MayNameAGlobal(std::string_view bytes);

}  // namespace tpkg::pickle
