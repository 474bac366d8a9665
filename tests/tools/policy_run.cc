// policy_run: test-only driver for tests/python/test_policy_differential.py.
//
// Reads a JSON spec on stdin:
//   {"roots": ["/tmp/x"],               // module roots searched before sys.path
//    "torch": "2.6.0",                  // optional: the torch whose exporter to
//                                       // reproduce (tpkg/torch_release.h; default 1.13)
//    "steps": [["extern", include, exclude, allow_empty],
//              ["intern", include, exclude, allow_empty],
//              ["mock", include, exclude, allow_empty], ["deny", include, exclude],
//              ["save_module", name, dependencies],
//              ["save_source_string", name, source, is_package, dependencies],
//              ["add_dependency", name],
//              ["save_pickle", package, resource, hex_bytes, dependencies],
//              ["hook", "intern"|"extern"|"mock", label], ["remove_hook", label],
//              ["close"]]}
// where include/exclude are a string or a list (lists marked as tuples when
// given as {"tuple": [...]}), and prints the resulting facts as JSON (the
// same shape the Python side builds from real torch):
//   {"nodes": [[name, action, provided, is_package, is_pickle, error, context]...],
//    "dot": ..., "externed": [...], "interned": [...], "mocked": [...], "denied": [...],
//    "writes": [records], "extern_modules": text|null, "hooks": [[label, module]...],
//    "error": [type, message] | null}
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../unit/json_lite.h"
#include "json_text.h"
#include "tpkg/error.h"
#include "tpkg/pickle_scan.h"
#include "tpkg/policy.h"

namespace {

using tpkg::test::JsonList;
using tpkg::test::JsonString;
using tpkg::testing::Json;

tpkg::GlobPattern Pattern(const Json& j) {
  if (j.kind == Json::Kind::kString) return tpkg::GlobPattern(j.string);
  if (j.kind == Json::Kind::kObject) return tpkg::GlobPattern::Tuple(j["tuple"].Strings());
  return tpkg::GlobPattern(j.Strings());
}

class Runner {
 public:
  explicit Runner(const Json& spec)
      : env_(spec["roots"].Strings()),
        policy_(env_, spec.Has("torch") ? tpkg::TorchReleaseOf(spec["torch"].string)
                                        : tpkg::TorchRelease::kTorch1_13) {}

  void Run(const Json& steps) {
    try {
      for (const Json& step : steps.array) Step(step.array);
    } catch (const tpkg::EmptyMatchError& e) {
      error_ = {"EmptyMatchError", e.what()};
    } catch (const tpkg::PackagingError& e) {
      error_ = {"PackagingError", e.what()};
    } catch (const tpkg::Error& e) {
      error_ = {e.code() == tpkg::Errc::kNotFound ? "ModuleNotFoundError" : "Error", e.what()};
    }
  }

  std::string Report() const;

 private:
  void Step(const std::vector<Json>& s) {
    const std::string& op = s[0].string;
    if (op == "intern")
      policy_.Intern(Group(s), s[3].boolean);
    else if (op == "extern")
      policy_.Extern(Group(s), s[3].boolean);
    else if (op == "mock")
      policy_.Mock(Group(s), s[3].boolean);
    else if (op == "deny")
      policy_.Deny(Group(s));
    else if (op == "save_module")
      policy_.SaveModule(s[1].string, s[2].boolean);
    else if (op == "save_source_string")
      policy_.SaveSourceString(s[1].string, s[2].string, s[3].boolean, s[4].boolean);
    else if (op == "add_dependency")
      policy_.AddDependency(s[1].string);
    else if (op == "save_pickle")
      SavePickle(s[1].string, s[2].string, s[3].string, s[4].boolean);
    else if (op == "hook")
      AddHook(s[1].string, s[2].string);
    else if (op == "remove_hook")
      handles_.at(s[1].string).Remove();
    else if (op == "close")
      Close();
    else
      throw std::runtime_error("unknown step " + op);
  }
  static tpkg::GlobGroup Group(const std::vector<Json>& s) {
    return tpkg::GlobGroup(Pattern(s[1]), Pattern(s[2]));
  }
  // The dependency facts come from our pickle scanner, with the policy's
  // torch's loop (1.13's mocked-object quirk included): what the tpkg exporter passes.
  void SavePickle(const std::string& package, const std::string& resource, const std::string& hex,
                  bool dependencies) {
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    const tpkg::PickleScan scan =
        tpkg::ScanPickle(std::span<const char>(bytes.data(), bytes.size()));
    policy_.SavePickle(package, resource, tpkg::TorchPickleDependencies(scan, policy_.release()),
                       dependencies);
  }
  void AddHook(const std::string& kind, const std::string& label) {
    auto hook = [this, label](std::string_view module) {
      hooks_.push_back({label, std::string(module)});
    };
    if (kind == "intern")
      handles_.emplace(label, policy_.RegisterInternHook(hook));
    else if (kind == "extern")
      handles_.emplace(label, policy_.RegisterExternHook(hook));
    else
      handles_.emplace(label, policy_.RegisterMockHook(hook));
  }
  void Close() {
    const tpkg::ClosePlan plan = policy_.Close();
    for (const auto& w : plan.writes) writes_.push_back(w.record);
    extern_modules_ = plan.extern_modules_text;
    closed_ = true;
  }

  tpkg::FileSystemEnvironment env_;
  tpkg::ExportPolicy policy_;
  std::map<std::string, tpkg::HookHandle> handles_;
  std::vector<std::pair<std::string, std::string>> hooks_;
  std::vector<std::string> writes_;
  std::string extern_modules_;
  bool closed_ = false;
  std::optional<std::pair<std::string, std::string>> error_;
};

std::string Runner::Report() const {
  const tpkg::DepGraph& g = policy_.graph();
  std::ostringstream out;
  out << "{\"nodes\": [";
  for (tpkg::DepGraph::NodeId id = 0; id < g.size(); ++id) {
    const auto& a = g.attrs(id);
    out << (id ? ", " : "") << "[" << JsonString(g.name(id)) << ", "
        << (a.action ? JsonString(std::string(tpkg::ActionName(*a.action))) : "null") << ", "
        << (a.provided ? "true" : "false") << ", "
        << (a.is_package ? (*a.is_package ? "true" : "false") : "null") << ", "
        << (a.is_pickle ? "true" : "false") << ", "
        << (a.error ? JsonString(std::string(tpkg::ReasonText(*a.error))) : "null") << ", "
        << (a.error_context ? JsonString(*a.error_context) : "null") << "]";
  }
  out << "], \"dot\": " << JsonString(g.ToDot())
      << ", \"externed\": " << JsonList(policy_.ExternedModules())
      << ", \"interned\": " << JsonList(policy_.InternedModules())
      << ", \"mocked\": " << JsonList(policy_.MockedModules())
      << ", \"denied\": " << JsonList(policy_.DeniedModules())
      << ", \"writes\": " << JsonList(writes_)
      << ", \"extern_modules\": " << (closed_ ? JsonString(extern_modules_) : "null")
      << ", \"hooks\": [";
  for (size_t i = 0; i < hooks_.size(); ++i) {
    out << (i ? ", " : "") << "[" << JsonString(hooks_[i].first) << ", "
        << JsonString(hooks_[i].second) << "]";
  }
  out << "], \"error\": ";
  if (error_)
    out << "[" << JsonString(error_->first) << ", " << JsonString(error_->second) << "]";
  else
    out << "null";
  out << "}\n";
  return out.str();
}

}  // namespace

int main() {
  std::stringstream in;
  in << std::cin.rdbuf();
  const Json spec = tpkg::testing::JsonParser(in.str()).Parse();
  Runner runner(spec);
  runner.Run(spec["steps"]);
  std::cout << runner.Report();
  return 0;
}
