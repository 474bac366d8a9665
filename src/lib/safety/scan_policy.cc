// scan_policy.cc: ScanPolicy (tpkg/scan.h), the allowlists of `tpkg scan`,
// read from JSON: the compiled-in default_policy.json plus --policy files.
#include <nlohmann/json.hpp>

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/name_pattern.h"
#include "tpkg/error.h"
#include "tpkg/scan.h"

namespace tpkg {
namespace {

constexpr char kDefaultPolicy[] =
#include "safety/default_policy.inc"
    ;

std::vector<std::string> StringList(const nlohmann::json& j, const std::string& where,
                                    const std::string& origin) {
  if (!j.is_array())
    throw Error(Errc::kInvalidArgument, origin + ": " + where + " is not a list of strings");
  std::vector<std::string> out;
  for (const auto& item : j) {
    if (!item.is_string())
      throw Error(Errc::kInvalidArgument, origin + ": " + where + " holds a non-string");
    out.push_back(item.get<std::string>());
  }
  return out;
}

// The file kinds whose pickles a policy's "allow" lists judge: what the scans
// pass as their kind (package_scan.cc, archive_scan.cc, file_scan.cc). A kind
// outside them would allow nothing, so a misspelled one is refused.
constexpr std::string_view kPolicyKinds[] = {"torch.package", "torch.save", "torchscript"};

void CheckPolicyKind(std::string_view kind, const std::string& where, const std::string& origin) {
  for (std::string_view known : kPolicyKinds)
    if (kind == known) return;
  std::string names;
  for (std::string_view known : kPolicyKinds)
    names += (names.empty() ? "" : ", ") + std::string(known);
  throw Error(Errc::kInvalidArgument, origin + ": unknown file kind \"" + std::string(kind) +
                                          "\" in " + where + " (known: " + names + ")");
}

}  // namespace

struct ScanPolicy::Impl {
  // kind -> patterns; "@kind" entries include another kind's list.
  std::unordered_map<std::string, std::vector<std::string>> allow;
  std::vector<std::string> dangerous_modules;
  std::vector<std::string> dangerous_names;
  std::vector<std::string> source_calls;
  std::vector<std::string> source_imports;

  // `exact_only`: only patterns without '*' count (see AllowsGlobal).
  bool Allows(const std::string& kind, std::string_view full, bool exact_only, int depth) const {
    auto it = allow.find(kind);
    if (it == allow.end() || depth > 8) return false;
    for (const std::string& pattern : it->second) {
      if (pattern.starts_with("@")) {
        if (Allows(pattern.substr(1), full, exact_only, depth + 1)) return true;
      } else if (exact_only ? pattern == full : MatchNamePattern(pattern, full)) {
        return true;
      }
    }
    return false;
  }
};

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kInfo: return "info";
    case Severity::kSuspicious: return "suspicious";
    case Severity::kMalicious: return "malicious";
  }
  return "suspicious";
}

std::string_view DefaultScanPolicyText() { return kDefaultPolicy; }

ScanPolicy::ScanPolicy() : impl_(std::make_unique<Impl>()) {}
ScanPolicy::ScanPolicy(const ScanPolicy& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
ScanPolicy& ScanPolicy::operator=(const ScanPolicy& other) {
  impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
ScanPolicy::ScanPolicy(ScanPolicy&&) noexcept = default;
ScanPolicy& ScanPolicy::operator=(ScanPolicy&&) noexcept = default;
ScanPolicy::~ScanPolicy() = default;

ScanPolicy ScanPolicy::Default() {
  ScanPolicy policy;
  policy.Extend(kDefaultPolicy, "the default policy");
  return policy;
}

void ScanPolicy::Extend(std::string_view json_text, const std::string& origin) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error(Errc::kInvalidArgument, origin + ": not a JSON object");
  auto append = [](std::vector<std::string>& to, std::vector<std::string> more) {
    to.insert(to.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  };
  for (const auto& [key, value] : j.items()) {
    if (key == "about") continue;
    if (key == "allow") {
      if (!value.is_object())
        throw Error(Errc::kInvalidArgument, origin + ": \"allow\" is not an object of kinds");
      for (const auto& [kind, list] : value.items()) {
        CheckPolicyKind(kind, "\"allow\"", origin);
        std::vector<std::string> patterns = StringList(list, "allow." + kind, origin);
        for (const std::string& pattern : patterns)
          if (pattern.starts_with("@")) CheckPolicyKind(pattern.substr(1), "allow." + kind, origin);
        append(impl_->allow[kind], std::move(patterns));
      }
    } else if (key == "dangerous" || key == "source") {
      if (!value.is_object())
        throw Error(Errc::kInvalidArgument, origin + ": \"" + key + "\" is not an object");
      for (const auto& [sub, list] : value.items()) {
        std::vector<std::string>* to = key == "dangerous"
                                           ? (sub == "modules" ? &impl_->dangerous_modules
                                              : sub == "names" ? &impl_->dangerous_names
                                                               : nullptr)
                                           : (sub == "calls"     ? &impl_->source_calls
                                              : sub == "imports" ? &impl_->source_imports
                                                                 : nullptr);
        if (to == nullptr)
          throw Error(Errc::kInvalidArgument, origin + ": unknown list " + key + "." + sub);
        append(*to, StringList(list, key + "." + sub, origin));
      }
    } else {
      throw Error(Errc::kInvalidArgument, origin + ": unknown key \"" + key + "\"");
    }
  }
}

bool ScanPolicy::AllowsGlobal(std::string_view kind, std::string_view module,
                              std::string_view name) const {
  std::string full = std::string(module) + "." + std::string(name);
  // A dotted name is an attribute path the unpickler walks from the module
  // (protocol 4's STACK_GLOBAL, pickle's _getattribute): "torch.nn.modules.linear"
  // + "torch.serialization.os.system" is os.system. A wildcard meant for
  // classes under a module must not let such a path through.
  bool attribute_path = name.find('.') != std::string_view::npos;
  return impl_->Allows(std::string(kind), full, attribute_path, 0);
}

bool ScanPolicy::IsDangerousModule(std::string_view module) const {
  for (const std::string& m : impl_->dangerous_modules)
    if (module == m || (module.starts_with(m) && module.size() > m.size() &&
                        module[m.size()] == '.'))
      return true;
  return false;
}

bool ScanPolicy::IsDangerousGlobal(std::string_view module, std::string_view name) const {
  if (IsDangerousModule(module)) return true;
  std::string full = std::string(module) + "." + std::string(name);
  for (const std::string& pattern : impl_->dangerous_names)
    if (MatchNamePattern(pattern, full)) return true;
  return false;
}

bool ScanPolicy::IsDangerousCall(std::string_view dotted) const {
  for (const std::string& pattern : impl_->source_calls)
    if (MatchNamePattern(pattern, dotted)) return true;
  return false;
}

bool ScanPolicy::IsDangerousImport(std::string_view module) const {
  for (const std::string& m : impl_->source_imports)
    if (module == m) return true;
  return false;
}

}  // namespace tpkg
