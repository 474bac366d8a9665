// pickle_tree.h (private): a pickle decoded into an inert object tree.
//
// The tensor finder (tpkg/pickle_tensors.h) needs more than ScanPickle's
// symbolic stack: dict keys, object states and the arguments of every
// REDUCE. BuildPickleTree() follows the unpickler's stack discipline
// (_pickle.c) but never imports or calls anything: a call (REDUCE, NEWOBJ,
// OBJ, INST) becomes a kCall node holding the callable and its arguments,
// BUILD stores the state on that node, and APPEND/SETITEM on a call node
// (an OrderedDict, a list subclass) are kept on it too.
//
// Nodes live in one arena and refer to each other by index, so a memo GET
// shares a node instead of copying it, a pickle that makes a cycle (a list
// appended to itself) needs no special case here, and memory stays linear in
// the input: every opcode adds at most one node and one reference.
//
// Thread safety: a PickleTree is a plain value.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tpkg/pickle_scan.h"

namespace tpkg::pickle {

inline constexpr uint32_t kNoNode = UINT32_MAX;

enum class NodeKind : uint8_t {
  kOther,  // floats, bytes, buffers, extension codes: nothing the finder reads
  kNone,
  kBool,
  kInt,
  kBigInt,  // outside int64
  kStr,
  kTuple,
  kList,
  kDict,
  kSet,
  kGlobal,  // text = module, name = name
  kCall,    // callable(args...), with state and items added afterwards
  kPersId,  // persistent id: items[0] is the id object
};

struct Node {
  NodeKind kind = NodeKind::kOther;
  int64_t int_value = 0;
  std::string text;             // kStr: the text; kGlobal: the module
  std::string name;             // kGlobal: the attribute
  uint32_t callable = kNoNode;  // kCall
  uint32_t args = kNoNode;      // kCall: a kTuple (or kOther when unknown)
  uint32_t state = kNoNode;     // kCall: what BUILD gave it
  // kTuple/kList/kSet: the elements; kDict: key, value, key, value...;
  // kCall: appended elements; kPersId: the id.
  std::vector<uint32_t> items;
  std::vector<uint32_t> dict_items;  // kCall: SETITEM(S) key, value pairs
};

struct PickleTree {
  int protocol = 0;
  std::vector<Node> nodes;
  uint32_t root = kNoNode;

  const Node& at(uint32_t index) const { return nodes.at(index); }
  // Whether node `index` is the global module.name.
  bool IsGlobal(uint32_t index, std::string_view module, std::string_view name) const;
};

// Decodes one pickle up to its first STOP. Throws Error(kCorrupt, "<reason>
// at byte <offset>") on malformed input or beyond `limits` (stack depth and
// memo size as for ScanPickle).
PickleTree BuildPickleTree(std::span<const char> bytes, const PickleScanLimits& limits = {});

}  // namespace tpkg::pickle
