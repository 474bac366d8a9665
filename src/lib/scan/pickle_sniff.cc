#include "scan/pickle_sniff.h"

#include "scan/pickle_observer.h"
#include "scan/pickle_opcodes.h"
#include "tpkg/error.h"

namespace tpkg::pickle {
namespace {

// Opcodes CPython's unpickler accepts on an empty stack with an empty memo:
// those that push a value from their own operand, MARK, and GLOBAL / PERSID
// (which name what they push). FRAME and PROTO are the header forms.
bool StartsHeaderless(uint8_t byte) {
  switch (static_cast<Op>(byte)) {
    case Op::kMark: case Op::kFloat: case Op::kInt: case Op::kBinInt: case Op::kBinInt1:
    case Op::kLong: case Op::kBinInt2: case Op::kNone: case Op::kPersId: case Op::kString:
    case Op::kBinString: case Op::kShortBinString: case Op::kUnicode: case Op::kBinUnicode:
    case Op::kGlobal: case Op::kEmptyDict: case Op::kEmptyList: case Op::kEmptyTuple:
    case Op::kBinFloat: case Op::kNewTrue: case Op::kNewFalse: case Op::kLong1:
    case Op::kLong4: case Op::kBinBytes: case Op::kShortBinBytes: case Op::kShortBinUnicode:
    case Op::kBinUnicode8: case Op::kBinBytes8: case Op::kEmptySet: case Op::kByteArray8:
    case Op::kFrame: case Op::kExt1: case Op::kExt2: case Op::kExt4:
      return true;
    default:
      return false;
  }
}

class Silent : public Observer {
 public:
  void OnGlobal(size_t, uint8_t, std::string_view, std::string_view) override {}
  void OnDynamicGlobal(size_t) override {}
  void OnExtension(size_t, uint8_t, uint64_t) override {}
  void OnFrameAnomaly(size_t, std::string_view) override {}
  void OnData(size_t, std::string_view) override {}
};

}  // namespace

Sniff SniffPickleHead(std::string_view head) {
  if (head.empty()) return Sniff::kNo;
  const auto first = static_cast<uint8_t>(head[0]);
  if (first == static_cast<uint8_t>(Op::kProto))
    return head.size() >= 2 && static_cast<uint8_t>(head[1]) <= kHighestProtocol
               ? Sniff::kProtocolHeader
               : Sniff::kNo;
  return StartsHeaderless(first) ? Sniff::kHeaderless : Sniff::kNo;
}

Sniff SniffPickle(std::string_view bytes) {
  const Sniff head = SniffPickleHead(bytes);
  if (head != Sniff::kHeaderless) return head;
  // A pickle ends with STOP; a one-line text does not even get there.
  if (bytes.find('.') == std::string_view::npos) return Sniff::kNo;
  Silent silent;
  try {
    ScanPickleObserved(std::span<const char>(bytes.data(), bytes.size()), PickleScanLimits{},
                       silent);
    return Sniff::kHeaderless;
  } catch (const Error&) {
    return Sniff::kNo;
  }
}

}  // namespace tpkg::pickle
