#include "scan/pickle_sniff.h"

#include "base/utf8.h"
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

// True for "a", "a.b_2", "ns.Cls.method": what __import__ and getattr can
// resolve. Non-ASCII letters count when the text is valid UTF-8 (CPython
// decodes GLOBAL's lines as UTF-8; str.isidentifier's Unicode classes are
// not reproduced, which can only make more streams count as pickles).
bool IsDottedIdentifier(std::string_view text) {
  if (text.empty() || FindInvalidUtf8(text) != std::string_view::npos) return false;
  bool at_start = true;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
    const bool digit = c >= '0' && c <= '9';
    if (c == '.') {
      if (at_start) return false;  // "..", ".a", "a..b"
      at_start = true;
    } else if (letter || (digit && !at_start)) {
      at_start = false;
    } else {
      return false;
    }
  }
  return !at_start;  // "a."
}

// Hears only of calls: did the stream call a global an importer can find?
class CallWatch : public Observer {
 public:
  void OnGlobal(size_t, uint8_t, std::string_view, std::string_view) override {}
  void OnDynamicGlobal(size_t) override {}
  void OnExtension(size_t, uint8_t, uint64_t) override {}
  void OnFrameAnomaly(size_t, std::string_view) override {}
  void OnData(size_t, std::string_view) override {}
  void OnCall(size_t, uint8_t, std::string_view module, std::string_view name) override {
    called_ |= IsDottedIdentifier(module) && IsDottedIdentifier(name);
  }
  bool called() const { return called_; }

 private:
  bool called_ = false;
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
  // No STOP to reach, no global to call.
  if (bytes.find('.') == std::string_view::npos && !MayNameAGlobal(bytes)) return Sniff::kNo;
  CallWatch watch;
  try {
    ScanPickleObserved(std::span<const char>(bytes.data(), bytes.size()), PickleScanLimits{},
                       watch);
    return Sniff::kHeaderless;
  } catch (const Error&) {
    // What ran before the break has run: a call makes it a pickle.
    return watch.called() ? Sniff::kHeaderlessCallsBeforeBreak : Sniff::kNo;
  }
}

bool MayNameAGlobal(std::string_view bytes) {
  return bytes.find('\n') != std::string_view::npos ||
         bytes.find(static_cast<char>(Op::kStackGlobal)) != std::string_view::npos;
}

}  // namespace tpkg::pickle
