// pickle_sniff.h (private): the one rule for "is this a pickle?" when nothing
// but the bytes can say (a torch.package resource, a record of a plain ZIP, a
// bytes operand inside a pickle): pickle.load reads any of them.
//
//   if (pickle::SniffPickle(bytes) != pickle::Sniff::kNo) CheckPickles(bytes, ...);
//
// A pickle of protocol 2 to 5 starts with PROTO and its protocol: the header
// says so. Protocols 0 and 1 have no header (and an unpickler accepts any
// opcode without one): such bytes are a pickle when their first byte is an
// opcode an empty stack accepts and the symbolic machine reads them to a
// STOP. Text rarely gets that far: a line of prose fails within a few
// opcodes. Not caught: a headerless stream that fails before its STOP,
// although CPython runs what came before the failure.
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

namespace tpkg::pickle {

enum class Sniff {
  kNo,
  kProtocolHeader,  // PROTO 2..5 (also PROTO 0/1, which Python never writes but accepts)
  kHeaderless,      // protocol 0/1 style, read to its STOP
};

// From the first bytes only: kProtocolHeader, kHeaderless when the first byte
// may start a headerless pickle (the whole bytes must then be sniffed), kNo.
Sniff SniffPickleHead(std::string_view head);

// From all the bytes.
Sniff SniffPickle(std::string_view bytes);

}  // namespace tpkg::pickle
