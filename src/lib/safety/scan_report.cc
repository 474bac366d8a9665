// scan_report.cc: `tpkg scan`'s output formats (tpkg/scan.h): text for
// people, JSON for scripts, SARIF 2.1.0 for code-scanning services, and the
// minimal policy a set of files needs.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>

#include "safety/scan_rules.h"
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

// A file path as a SARIF artifact URI: a relative path stays a relative
// reference (code scanning resolves it against the repository root, so scan
// from there), an absolute one becomes a file: URI; bytes outside RFC 3986's
// path characters are percent-encoded (':' too, which a first segment of a
// relative reference must not hold).
std::string PathUri(std::string_view path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = path.starts_with("/") ? "file://" : "";
  for (char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("-._~/!$&'()*+,;=@").find(ch) != std::string_view::npos;
    if (keep) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The file a finding is in: for a package folder, the record's own file
// (record "pkg/mod.py" of folder -> folder/pkg/mod.py); else the scanned file.
std::string FindingFile(const ScanFileResult& r, const ScanFinding& f) {
  if (r.kind != "directory (torch.package)") return r.path;
  // A nested record or operand ("pkg/w.pkl!data.pkl"): the file holding it.
  const std::string file = f.record.substr(0, f.record.find_first_of("!@"));
  return file.empty() ? r.path : r.path + "/" + file;
}

// Stable identity of a result across runs (SARIF partialFingerprints): FNV-1a
// of what locates it; code scanning matches results of successive uploads by it.
std::string Fingerprint(const std::string& file, const ScanFinding& f) {
  uint64_t hash = 1469598103934665603ULL;
  auto add = [&hash](std::string_view part) {
    for (char c : part) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ULL;
    }
    hash ^= 0xff;  // field separator
    hash *= 1099511628211ULL;
  };
  add(file);
  add(f.rule);
  add(f.record);
  add(std::to_string(f.offset));
  add(std::to_string(f.line));
  add(f.message);
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

nlohmann::json ArtifactLocation(const std::string& path) {
  return {{"uri", PathUri(path)}};
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

std::string FormatScanSarif(const std::vector<ScanFileResult>& results,
                            std::string_view tool_version) {
  // One rule per id, at the worst severity it was reported with.
  std::map<std::string, Severity> rules;
  for (const ScanFileResult& r : results)
    for (const ScanFinding& f : r.findings) {
      auto [it, inserted] = rules.emplace(f.rule, f.severity);
      if (!inserted && f.severity > it->second) it->second = f.severity;
    }
  std::map<std::string, size_t> rule_index;
  nlohmann::json sarif_rules = nlohmann::json::array();
  for (const auto& [id, severity] : rules) {
    rule_index[id] = sarif_rules.size();
    const safety::RuleText text = safety::DescribeRule(id);
    sarif_rules.push_back(
        {{"id", id},
         {"shortDescription", {{"text", std::string(text.brief)}}},
         {"fullDescription", {{"text", std::string(text.help)}}},
         {"help", {{"text", std::string(text.help)}}},
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
      const std::string file = FindingFile(r, f);
      nlohmann::json region = {{"startLine", f.line > 0 ? f.line : 1}};
      nlohmann::json location = {
          {"physicalLocation", {{"artifactLocation", ArtifactLocation(file)}, {"region", region}}}};
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
                               {"partialFingerprints", {{"tpkgScanFinding/v1", Fingerprint(file, f)}}},
                               {"properties", props}});
    }
    for (const std::string& why : r.unreadable)
      notifications.push_back(
          {{"level", "error"},
           {"message", {{"text", r.path + ": could not be read: " + why}}},
           {"locations", {{{"physicalLocation", {{"artifactLocation", ArtifactLocation(r.path)}}}}}}});
  }
  bool complete = notifications.empty();
  nlohmann::json driver = {{"name", "tpkg-scan"},
                           {"informationUri", "https://github.com/tpkgfs/tpkgfs"},
                           {"rules", std::move(sarif_rules)}};
  if (!tool_version.empty()) {
    driver["version"] = std::string(tool_version);
    driver["semanticVersion"] = std::string(tool_version);
  }
  nlohmann::json invocation = {{"executionSuccessful", complete},
                               {"exitCode", ScanExitStatus(results)},
                               {"toolExecutionNotifications", std::move(notifications)}};
  // Where relative URIs start, and what code scanning needs to place absolute file: URIs.
  std::error_code ec;
  const std::string cwd = std::filesystem::current_path(ec).string();
  if (!ec && cwd.starts_with("/"))
    invocation["workingDirectory"] = {{"uri", PathUri(cwd.ends_with("/") ? cwd : cwd + "/")}};
  nlohmann::json run = {{"tool", {{"driver", std::move(driver)}}},
                        {"results", std::move(sarif_results)},
                        {"invocations", {std::move(invocation)}}};
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
