// `tpkg scan PATH...`: is it safe to load? The scanner is libtpkg's
// (tpkg/scan.h); this file reads the options and prints the chosen format.
// Exit status: 0 nothing found, 1 findings, 2 unreadable input or bad arguments.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "output.h"
#include "progress_line.h"
#include "tpkg/error.h"
#include "tpkg/scan.h"

#ifndef TPKG_VERSION
#define TPKG_VERSION "unknown"
#endif

namespace tpkg::cli {
namespace {

constexpr int kExitUnreadable = 2;

std::string ReadPolicyFile(const std::string& path, std::string_view synopsis) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read the policy file '" + path + "'", synopsis);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Whether some result is `folder` itself (a package folder, or one that could
// not be walked) or a file found under it.
bool HasResultIn(const std::string& folder, const std::vector<ScanFileResult>& results) {
  const std::string under = folder.ends_with('/') ? folder : folder + "/";
  return std::any_of(results.begin(), results.end(), [&](const ScanFileResult& r) {
    return r.path == folder || r.path.starts_with(under);
  });
}

// A folder walked without finding a model file would otherwise pass silently
// (exit 0, no line): a mistyped or wrong folder must not read as "clean".
void NoteFoldersWithoutModelFiles(const std::vector<std::string>& operands,
                                  const std::vector<ScanFileResult>& results) {
  for (const std::string& operand : operands) {
    std::error_code ec;
    if (!std::filesystem::is_directory(operand, ec) || HasResultIn(operand, results)) continue;
    std::cerr << "tpkg: scan: " << operand
              << ": no model file in this folder (nothing was scanned)\n";
  }
}

}  // namespace

int RunScan(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("format", po::value<std::string>()->default_value("text"),
                        "output format: text, json or sarif (SARIF 2.1.0)")(
      "policy", po::value<std::vector<std::string>>(), "add the allowlists of this JSON file")(
      "print-policy", "print the minimal allowlist the files need (JSON), not the findings")(
      "print-default-policy", "print the built-in policy and exit")(
      "json", "the same as --format json");
  ParsedCommand cmd = ParseCommand(self, args, options, {}, true);
  if (cmd.help_shown) return kExitOk;
  Output out;
  if (cmd.options.count("print-default-policy")) {
    // Alone: a PATH or another option beside it would be dropped unread.
    if (!cmd.operands.empty())
      throw UsageError("unexpected argument '" + cmd.operands[0] + "' with --print-default-policy",
                       self.synopsis);
    for (const char* other : {"policy", "print-policy", "json"}) {
      if (cmd.options.count(other))
        throw UsageError(std::string("--") + other + " with --print-default-policy", self.synopsis);
    }
    if (!cmd.options["format"].defaulted())
      throw UsageError("--format with --print-default-policy", self.synopsis);
    out.Write(DefaultScanPolicyText());
    out.Flush();
    return kExitOk;
  }
  if (cmd.operands.empty()) throw UsageError("missing PATH", self.synopsis);
  const std::string format =
      cmd.options.count("json") ? "json" : cmd.options["format"].as<std::string>();
  if (format != "text" && format != "json" && format != "sarif")
    throw UsageError("unknown format '" + format + "' (text, json or sarif)", self.synopsis);

  ScanPolicy policy = ScanPolicy::Default();
  if (cmd.options.count("policy")) {
    for (const std::string& file : cmd.options["policy"].as<std::vector<std::string>>()) {
      try {
        policy.Extend(ReadPolicyFile(file, self.synopsis), file);
      } catch (const Error& e) {
        throw UsageError(e.what(), self.synopsis);
      }
    }
  }
  ProgressLine progress("scan", cmd.operands.size() == 1 ? cmd.operands[0] : "");
  const std::vector<ScanFileResult> results =
      ScanPaths(cmd.operands, policy, progress.callback());
  progress.Clear();
  if (cmd.options.count("print-policy"))
    out.Write(FormatMinimalPolicy(results));
  else if (format == "json")
    out.Write(FormatScanJson(results));
  else if (format == "sarif")
    out.Write(FormatScanSarif(results, TPKG_VERSION));
  else
    out.Write(FormatScanText(results));
  out.Flush();
  NoteFoldersWithoutModelFiles(cmd.operands, results);
  const int status = ScanExitStatus(results);
  return status == 2 ? kExitUnreadable : status;
}

}  // namespace tpkg::cli
