// scan_report.cc: `tpkg scan`'s output formats (tpkg/scan.h): text for
// people, JSON for scripts, SARIF 2.1.0 for code-scanning services, and the
// minimal policy a set of files needs.
#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "tpkg/scan.h"

namespace tpkg {
namespace {

std::string Verdict(const ScanFileResult& r) {
  if (!r.unreadable.empty()) return "unreadable";
  return r.HasFindings() ? "findings" : "clean";
}

std::string Where(const ScanFileResult& r, const ScanFinding& f) {
  std::string out = r.path;
  if (!f.record.empty()) out += "!" + f.record;
  if (f.offset >= 0) out += " @" + std::to_string(f.offset);
  if (f.line > 0) out += ":" + std::to_string(f.line);
  return out;
}

const char* SarifLevel(Severity s) {
  switch (s) {
    case Severity::kMalicious: return "error";
    case Severity::kSuspicious: return "warning";
    case Severity::kInfo: return "note";
  }
  return "warning";
}

const char* SecuritySeverity(Severity s) {
  switch (s) {
    case Severity::kMalicious: return "9.8";
    case Severity::kSuspicious: return "6.5";
    case Severity::kInfo: return "2.0";
  }
  return "6.5";
}

}  // namespace

std::string FormatScanText(const std::vector<ScanFileResult>& results) {
  std::string out;
  for (const ScanFileResult& r : results) {
    std::string verdict = Verdict(r);
    out += r.path + ": " + r.kind + ": ";
    if (verdict == "clean")
      out += "no findings";
    else if (verdict == "findings")
      out += "findings";
    else
      out += "could not be read completely (not clean)";
    out += "\n";
    for (const ScanFinding& f : r.findings) {
      out += "  " + std::string(SeverityName(f.severity)) + " " + f.rule + " " + Where(r, f);
      if (!f.opcode.empty()) out += " " + f.opcode;
      out += ": " + f.message + "\n";
    }
    for (const std::string& why : r.unreadable) out += "  unreadable: " + why + "\n";
  }
  return out;
}

std::string FormatScanJson(const std::vector<ScanFileResult>& results) {
  nlohmann::json files = nlohmann::json::array();
  for (const ScanFileResult& r : results) {
    nlohmann::json findings = nlohmann::json::array();
    for (const ScanFinding& f : r.findings) {
      nlohmann::json j = {{"severity", SeverityName(f.severity)},
                          {"rule", f.rule},
                          {"record", f.record},
                          {"message", f.message}};
      j["offset"] = f.offset >= 0 ? nlohmann::json(f.offset) : nlohmann::json(nullptr);
      j["opcode"] = f.opcode.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.opcode);
      j["line"] = f.line > 0 ? nlohmann::json(f.line) : nlohmann::json(nullptr);
      findings.push_back(std::move(j));
    }
    files.push_back({{"path", r.path},
                     {"kind", r.kind},
                     {"verdict", Verdict(r)},
                     {"findings", std::move(findings)},
                     {"unreadable", r.unreadable}});
  }
  nlohmann::json doc = {{"files", std::move(files)}, {"exit_status", ScanExitStatus(results)}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string FormatScanSarif(const std::vector<ScanFileResult>& results) {
  std::map<std::string, Severity> rules;  // id -> worst severity seen
  for (const ScanFileResult& r : results)
    for (const ScanFinding& f : r.findings) {
      auto [it, inserted] = rules.emplace(f.rule, f.severity);
      if (!inserted && f.severity > it->second) it->second = f.severity;
    }
  std::map<std::string, size_t> rule_index;
  nlohmann::json sarif_rules = nlohmann::json::array();
  for (const auto& [id, severity] : rules) {
    rule_index[id] = sarif_rules.size();
    sarif_rules.push_back(
        {{"id", id},
         {"name", id},
         {"shortDescription", {{"text", id}}},
         {"defaultConfiguration", {{"level", SarifLevel(severity)}}},
         {"properties",
          {{"tags", {"security"}}, {"security-severity", SecuritySeverity(severity)}}}});
  }
  nlohmann::json sarif_results = nlohmann::json::array();
  nlohmann::json notifications = nlohmann::json::array();
  for (const ScanFileResult& r : results) {
    for (const ScanFinding& f : r.findings) {
      // Code scanning places results on lines; a pickle's byte offset goes
      // into the message and the properties.
      nlohmann::json region = {{"startLine", f.line > 0 ? f.line : 1}};
      nlohmann::json location = {
          {"physicalLocation", {{"artifactLocation", {{"uri", r.path}}}, {"region", region}}}};
      if (!f.record.empty())
        location["logicalLocations"] = {{{"fullyQualifiedName", f.record}, {"kind", "member"}}};
      std::string text = f.message;
      if (!f.record.empty()) text += " (record " + f.record + ")";
      if (f.offset >= 0) text += " at byte " + std::to_string(f.offset);
      nlohmann::json props = {{"severity", SeverityName(f.severity)}, {"kind", r.kind}};
      if (f.offset >= 0) props["byteOffset"] = f.offset;
      if (!f.opcode.empty()) props["opcode"] = f.opcode;
      sarif_results.push_back({{"ruleId", f.rule},
                               {"ruleIndex", rule_index[f.rule]},
                               {"level", SarifLevel(f.severity)},
                               {"message", {{"text", text}}},
                               {"locations", {location}},
                               {"properties", props}});
    }
    for (const std::string& why : r.unreadable)
      notifications.push_back({{"level", "error"},
                               {"message", {{"text", r.path + ": could not be read: " + why}}},
                               {"locations",
                                {{{"physicalLocation",
                                   {{"artifactLocation", {{"uri", r.path}}}}}}}}});
  }
  bool complete = notifications.empty();
  nlohmann::json run = {
      {"tool",
       {{"driver",
         {{"name", "tpkg-scan"},
          {"informationUri", "https://github.com/tpkgfs/tpkgfs"},
          {"rules", std::move(sarif_rules)}}}}},
      {"results", std::move(sarif_results)},
      {"invocations",
       {{{"executionSuccessful", complete},
         {"exitCode", ScanExitStatus(results)},
         {"toolExecutionNotifications", std::move(notifications)}}}}};
  nlohmann::json doc = {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
                        {"version", "2.1.0"},
                        {"runs", {std::move(run)}}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string FormatMinimalPolicy(const std::vector<ScanFileResult>& results) {
  std::map<std::string, std::set<std::string>> needed;
  for (const ScanFileResult& r : results)
    for (const auto& [kind, globals] : r.globals_by_kind)
      needed[kind].insert(globals.begin(), globals.end());
  nlohmann::json allow = nlohmann::json::object();
  for (const auto& [kind, globals] : needed)
    allow[kind] = nlohmann::json(std::vector<std::string>(globals.begin(), globals.end()));
  nlohmann::json doc = {
      {"about",
       "the globals these files load beyond their interned modules, by file kind "
       "(tpkg scan --print-policy); review before use with --policy"},
      {"allow", std::move(allow)}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace tpkg
