// scan.h: is it safe to load? `tpkg scan`'s verdict on model files, without
// running a pickle or importing a module.
//
//   tpkg::ScanPolicy policy = tpkg::ScanPolicy::Default();
//   auto results = tpkg::ScanPaths({"model.pt"}, policy);
//   std::cout << tpkg::FormatScanText(results);
//   return tpkg::ScanExitStatus(results);  // 0 clean, 1 findings, 2 unreadable
//
// Every file kind torch loads is recognised by content: raw pickles, the
// legacy torch.save stream, ZIP archives (torch.save, torch.package,
// TorchScript, .pt2, any ZIP), archives inside archives and pickles inside
// pickles; a folder holding `.data/extern_modules` (a mounted or unpacked
// torch.package) is one package, other folders are walked.
//
// The policy allows, it does not deny: a global a pickle loads is a finding
// unless the policy of the file kind allows it (kinds "torch.save",
// "torch.package", "torchscript"), or, in a torch.package, it resolves to an
// interned module, whose source is then scanned (calls and imports that run
// code: os.system, subprocess, eval, exec, importlib, ...). The default
// policy is data (src/lib/safety/default_policy.json, compiled in);
// Extend() adds a file of the same shape.
//
// A file that cannot be read completely is never clean: its reasons are in
// `unreadable`, and the exit status is 2 whatever else was found.
//
// Thread safety: ScanPolicy is immutable after construction and Extend();
// the functions are pure apart from reading the files named.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/progress.h"

namespace tpkg {

enum class Severity { kInfo, kSuspicious, kMalicious };
std::string_view SeverityName(Severity severity);  // "info", "suspicious", "malicious"

struct ScanFinding {
  Severity severity = Severity::kSuspicious;
  std::string rule;     // stable id, e.g. "pickle.global-not-allowed"
  std::string record;   // record inside the file, "outer!inner" when nested; "" for the file
  int64_t offset = -1;  // byte offset of the opcode (pickles) or of the record; -1 if none
  std::string opcode;   // pickle opcode name ("STACK_GLOBAL"), "" for others
  uint32_t line = 0;    // 1-based source line (Python findings), 0 if none
  std::string message;
};

struct ScanFileResult {
  std::string path;
  std::string kind;  // "torch.package", "torch.save", "torch.save (legacy)", "torchscript",
                     // "torch.export", "zip", "pickle", "directory (torch.package)"
  std::vector<ScanFinding> findings;
  std::vector<std::string> unreadable;  // why the scan is incomplete; empty when complete
  // Every global the file's pickles load that no interned module provides,
  // by policy kind: the minimal allowlist this file needs (--print-policy).
  std::map<std::string, std::set<std::string>> globals_by_kind;

  bool HasFindings() const;  // a suspicious or malicious finding
};

class ScanPolicy {
 public:
  // The policy in src/lib/safety/default_policy.json.
  static ScanPolicy Default();
  // Adds the lists of a policy file (JSON, the shape of the default one).
  // Throws Error(kInvalidArgument) naming `origin` and the problem.
  void Extend(std::string_view json_text, const std::string& origin);

  // A dotted `name` (an attribute path walked from the module) is allowed
  // only by a pattern without '*' naming it exactly.
  bool AllowsGlobal(std::string_view kind, std::string_view module, std::string_view name) const;
  // True for globals that run code or reach the system (os.system, builtins.eval, ...):
  // a finding about one is malicious, not only suspicious.
  bool IsDangerousGlobal(std::string_view module, std::string_view name) const;
  // A module (or a submodule of one) of the policy's dangerous list.
  bool IsDangerousModule(std::string_view module) const;
  // A Python call (dotted, aliases resolved) or import that a packaged module must not make.
  bool IsDangerousCall(std::string_view dotted) const;
  bool IsDangerousImport(std::string_view module) const;

  ScanPolicy(const ScanPolicy&);
  ScanPolicy& operator=(const ScanPolicy&);
  ScanPolicy(ScanPolicy&&) noexcept;
  ScanPolicy& operator=(ScanPolicy&&) noexcept;
  ~ScanPolicy();

 private:
  ScanPolicy();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The default policy's text, as compiled in.
std::string_view DefaultScanPolicyText();

// Scans one file or folder. Never throws for problems of the input (they
// become `unreadable` or findings); throws only std::bad_alloc. `progress`
// (tpkg/progress.h) follows the bytes of an archive read to check it (the
// bulk of the work: every record's CRC-32), scaled to the file's size.
ScanFileResult ScanFile(const std::string& path, const ScanPolicy& policy,
                        const ProgressCallback& progress = {});
// Scans each path; folders without `.data/extern_modules` are walked and
// give one result per model file found inside. `progress` follows the bytes
// of all the files, as ScanFile's does for one.
std::vector<ScanFileResult> ScanPaths(const std::vector<std::string>& paths,
                                      const ScanPolicy& policy,
                                      const ProgressCallback& progress = {});

// 2 if any file could not be read completely, else 1 if any has findings, else 0.
int ScanExitStatus(const std::vector<ScanFileResult>& results);

std::string FormatScanText(const std::vector<ScanFileResult>& results);
std::string FormatScanJson(const std::vector<ScanFileResult>& results);
// SARIF 2.1.0 as code scanning services take it (tool `tpkg-scan`, of version
// `tool_version` when given): one rule per finding id with its texts, one
// result per finding located in the scanned file (relative paths stay
// relative references, absolute ones are file: URIs) with the record as a
// logical location, unreadable files as error notifications.
std::string FormatScanSarif(const std::vector<ScanFileResult>& results,
                            std::string_view tool_version = {});
// A policy file (the shape Extend() reads) allowing exactly the globals the
// files need beyond interned modules.
std::string FormatMinimalPolicy(const std::vector<ScanFileResult>& results);

}  // namespace tpkg
