// scan_context.h (private): what the checks of one file share: the policy,
// the result being filled, and how a torch.package resolves modules.
//
//   archive_scan.cc   ZIP containers: kinds, container findings, records
//   pickle_check.cc   pickle streams: globals, calls, frames, nested pickles
//   source_check.cc   interned Python sources: calls and imports at import time
//   file_scan.cc      files and folders: kinds by content, legacy torch.save
//
// Thread safety: one context per scanned file, used by one thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "tpkg/scan.h"

namespace tpkg::safety {

// Archives and pickles nest at most this deep; deeper ones are unreadable.
constexpr int kMaxNesting = 4;

// The modules a torch.package provides: interned sources (mocked stubs
// included) and the `.data/extern_modules` the importer lets through.
struct PackageModules {
  std::unordered_set<std::string> interned;  // "pkg.mod" for pkg/mod.py and pkg/mod/__init__.py
  std::vector<std::string> extern_modules;
  enum class Resolution { kInterned, kExtern, kMissing };
  Resolution Resolve(std::string_view module) const;
};

struct ScanContext {
  const ScanPolicy& policy;
  ScanFileResult& result;
  int depth = 0;  // archives / pickles around the current one
  // How far the scan of the file itself (depth 0) is; empty when nobody asks.
  ProgressCallback progress = {};

  void Add(Severity severity, std::string rule, std::string record, int64_t offset,
           std::string opcode, std::string message, uint32_t line = 0) {
    if (record.starts_with("!")) record.erase(0, 1);  // a record of the scanned file itself
    result.findings.push_back({severity, std::move(rule), std::move(record), offset,
                               std::move(opcode), line, std::move(message)});
  }
  void Unreadable(std::string where, const std::string& reason) {
    if (where.starts_with("!")) where.erase(0, 1);
    result.unreadable.push_back(where.empty() ? reason : where + ": " + reason);
  }
};

// How the pickles of one record or file follow each other.
enum class StreamShape {
  kRecord,  // one pickle, as torch loads a record; anything after its STOP is trailing data
  kLegacy,  // the legacy torch.save stream: five pickles, then raw storage bytes
  kRaw,     // a pickle file: every pickle in it (a loader may call load() again)
};

// Checks the pickles in `bytes` (the record or file `where`) against the
// policy kind `kind` ("torch.save", "torch.package", "torchscript"); in a
// torch.package `modules` resolves globals. Returns false when the first
// pickle could not be read to its STOP (recorded as unreadable when
// `must_parse`, as an info finding otherwise).
bool CheckPickles(std::span<const char> bytes, const std::string& where, std::string_view kind,
                  const PackageModules* modules, StreamShape shape, bool must_parse,
                  ScanContext& ctx);

// Checks one Python source of a torch.package (record `where`).
void CheckPythonSource(std::string_view source, const std::string& where, ScanContext& ctx);

// Scans a ZIP archive at `path` (shown as `where`) into ctx.
void ScanArchive(const std::string& path, const std::string& where, ScanContext& ctx);
// Scans a folder holding `.data/extern_modules` as one torch.package.
void ScanPackageFolder(const std::string& path, ScanContext& ctx);
// Scans bytes of any kind found inside another file (a record, a bytes operand);
// an archive among them is an info finding unless `note_archive` is false
// (a file kind that nests archives by design).
void ScanNestedBytes(std::string_view bytes, const std::string& where, ScanContext& ctx,
                     bool note_archive = true);

// The torch.package rules shared by archives and folders.
struct PackageRecord {
  std::string name;  // without the prefix folder
  int64_t offset;    // of the record's data in the file, -1 for folders
};
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  virtual const std::vector<PackageRecord>& records() const = 0;
  virtual std::string Read(const PackageRecord& record) const = 0;  // throws Error
};
void ScanPackageRecords(const RecordSource& source, const std::string& where, ScanContext& ctx);

}  // namespace tpkg::safety
