// pickle_check.cc: a pickle stream as CPython would run it, checked against
// the policy (safety/scan_context.h). The symbolic machine
// (scan/pickle_observer.h) reports each global, computed STACK_GLOBAL, EXT
// code, frame anomaly and data operand with its offset; this file turns them
// into findings, resolves torch.package modules, and walks the pickles that
// follow one another in a stream or hide inside a pickle's operands.
#include <string>
#include <utility>

#include "safety/scan_context.h"
#include "scan/pickle_compat.h"
#include "scan/pickle_observer.h"
#include "scan/pickle_sniff.h"
#include "tpkg/error.h"

namespace tpkg::safety {
namespace {

std::string OpcodeName(uint8_t op) {
  switch (op) {
    case 'c': return "GLOBAL";
    case 'i': return "INST";
    case 0x93: return "STACK_GLOBAL";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x95: return "FRAME";
    default: return "";
  }
}

// A bytes operand holding a whole pickle (of any protocol) ends with its STOP;
// one that does not counts only when it calls a global before it breaks
// (scan/pickle_sniff.h: pickle.loads has run that call).
bool LooksLikePickle(std::string_view data) {
  if (data.size() < 2) return false;
  if (data.back() == '.') return pickle::SniffPickle(data) != pickle::Sniff::kNo;
  return pickle::MayNameAGlobal(data) &&
         pickle::SniffPickle(data) == pickle::Sniff::kHeaderlessCallsBeforeBreak;
}

bool LooksLikeZip(std::string_view data) { return data.starts_with("PK\x03\x04"); }

class PickleChecker : public pickle::Observer {
 public:
  PickleChecker(std::string where, std::string_view kind, const PackageModules* modules,
                size_t base, ScanContext& ctx)
      : where_(std::move(where)), kind_(kind), modules_(modules), base_(base), ctx_(ctx) {}

  void OnGlobal(size_t offset, uint8_t opcode, std::string_view raw_module,
                std::string_view name) override {
    int64_t at = static_cast<int64_t>(base_ + offset);
    std::string op = OpcodeName(opcode);
    std::string_view module = raw_module;
    if (DemanglePackageModule(module))
      ctx_.Add(Severity::kSuspicious, "pickle.mangled-name", where_, at, op,
               "global '" + std::string(raw_module) + "." + std::string(name) +
                   "' uses a mangled module name; torch.package loads it as '" +
                   std::string(module) + "'");
    module = Python3Module(module);
    std::string full = std::string(module) + "." + std::string(name);
    if (modules_ != nullptr) {
      switch (modules_->Resolve(module)) {
        case PackageModules::Resolution::kInterned: return;  // its source is checked
        case PackageModules::Resolution::kMissing:
          ctx_.Add(Severity::kSuspicious, "package.module-not-provided", where_, at, op,
                   "global '" + full + "': module '" + std::string(module) +
                       "' is neither interned nor in .data/extern_modules");
          return;
        case PackageModules::Resolution::kExtern: break;
      }
    }
    ctx_.result.globals_by_kind[std::string(kind_)].insert(full);
    if (ctx_.policy.AllowsGlobal(kind_, module, name)) return;
    bool dangerous = ctx_.policy.IsDangerousGlobal(module, name);
    ctx_.Add(dangerous ? Severity::kMalicious : Severity::kSuspicious,
             "pickle.global-not-allowed", where_, at, op,
             op + " '" + full + "' is not allowed for " + std::string(kind_) +
                 (dangerous ? " (it can run code or reach the system)" : ""));
  }

  void OnDynamicGlobal(size_t offset) override {
    ctx_.Add(Severity::kMalicious, "pickle.computed-global", where_,
             static_cast<int64_t>(base_ + offset), "STACK_GLOBAL",
             "STACK_GLOBAL names a global computed while loading: which one only the "
             "running program knows");
  }

  void OnExtension(size_t offset, uint8_t opcode, uint64_t code) override {
    ctx_.Add(Severity::kSuspicious, "pickle.extension-code", where_,
             static_cast<int64_t>(base_ + offset), OpcodeName(opcode),
             "extension code " + std::to_string(code) +
                 " loads whatever global copyreg's registry maps it to in the loading "
                 "program; the file does not name it");
  }

  void OnFrameAnomaly(size_t offset, std::string_view what) override {
    ctx_.Add(Severity::kSuspicious, "pickle.frame-anomaly", where_,
             static_cast<int64_t>(base_ + offset), "FRAME",
             std::string(what) +
                 ": CPython's C unpickler and its Python unpickler (torch.package's) read "
                 "this pickle differently");
  }

  void OnData(size_t offset, std::string_view data) override {
    if (ctx_.depth >= kMaxNesting) return;
    if (!LooksLikePickle(data) && !LooksLikeZip(data)) return;
    ++ctx_.depth;
    ScanNestedBytes(data, where_ + "@" + std::to_string(base_ + offset), ctx_);
    --ctx_.depth;
  }

 private:
  std::string where_;
  std::string_view kind_;
  const PackageModules* modules_;
  size_t base_;
  ScanContext& ctx_;
};

}  // namespace

PackageModules::Resolution PackageModules::Resolve(std::string_view module) const {
  if (interned.count(std::string(module)) != 0) return Resolution::kInterned;
  for (const std::string& e : extern_modules)
    if (module == e || (module.starts_with(e) && module.size() > e.size() &&
                        module[e.size()] == '.'))
      return Resolution::kExtern;
  // torch.package imports these from the environment without a declaration.
  if (module == "numpy" || module == "numpy.core" || module == "numpy.core._multiarray_umath")
    return Resolution::kExtern;
  // An interned package's submodule that is not interned cannot be imported,
  // but a parent interned package may define the attribute: its source runs.
  return Resolution::kMissing;
}

bool CheckPickles(std::span<const char> bytes, const std::string& where, std::string_view kind,
                  const PackageModules* modules, StreamShape shape, bool must_parse,
                  ScanContext& ctx) {
  size_t pos = 0;
  int count = 0;
  if (bytes.empty()) {
    if (must_parse) ctx.Unreadable(where, "empty: no pickle to read");
    return false;
  }
  while (pos < bytes.size()) {
    if (shape == StreamShape::kLegacy && count == 5) break;  // raw storage bytes follow
    if (shape == StreamShape::kRecord && count == 1) {
      ctx.Add(Severity::kInfo, "pickle.trailing-data", where, static_cast<int64_t>(pos), "",
              std::to_string(bytes.size() - pos) +
                  " bytes after the pickle's STOP (torch does not load them)");
      // A second pickle hiding there is still checked.
    }
    PickleChecker checker(where, kind, modules, pos, ctx);
    try {
      pos += pickle::ScanPickleObserved(bytes.subspan(pos), PickleScanLimits{}, checker);
    } catch (const Error& e) {
      std::string reason = e.what();
      if (count == 0 || shape == StreamShape::kLegacy) {
        // "at byte N" is relative to this pickle: say where it is in the record.
        std::string msg = "pickle at byte " + std::to_string(pos) + " cannot be read: " + reason;
        if (must_parse)
          ctx.Unreadable(where, msg);
        else
          ctx.Add(Severity::kInfo, "pickle.unreadable", where, static_cast<int64_t>(pos), "",
                  msg);
        return false;
      }
      if (shape == StreamShape::kRaw && count > 0)
        ctx.Add(Severity::kInfo, "pickle.trailing-data", where, static_cast<int64_t>(pos), "",
                std::to_string(bytes.size() - pos) +
                    " bytes after the last complete pickle are not a pickle (" + reason + ")");
      return true;
    }
    ++count;
    if (shape == StreamShape::kRaw && count == 2)
      ctx.Add(Severity::kInfo, "pickle.several-pickles", where, static_cast<int64_t>(pos), "",
              "more than one pickle in the stream: a loader calling load() again runs the next");
  }
  if (shape == StreamShape::kLegacy && count < 5)
    ctx.Unreadable(where, "legacy torch.save stream ends after " + std::to_string(count) +
                              " of its 5 pickles");
  return true;
}

}  // namespace tpkg::safety
