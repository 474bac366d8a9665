// model_input.h: what the inspection commands (info, modules, deps, tree)
// share: opening FILE, the --json option and printing JSON (private to
// src/tools).
//
// Thread safety: single-threaded tool.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.h"
#include "output.h"
#include "tpkg/metadata.h"
#include "tpkg/model_file.h"

namespace tpkg::cli {

// Keys keep the order they are written in: the schemas in doc/tpkg.1 list them so.
using Json = nlohmann::ordered_json;

// A value that does not apply is null (doc/cli.md): "" becomes null (a
// version record that is absent, no prefix folder).
inline Json TextOrNull(const std::string& s) { return s.empty() ? Json() : Json(s); }

// The last-save warning (WarnIfLastSaveFailed), then OpenModelFile().
ModelFile OpenForInspection(const std::string& path);

// Adds `--json` ("print JSON (the schema is in tpkg(1))") to `options`.
void AddJsonOption(po::options_description& options);
bool WantsJson(const ParsedCommand& command);

// `value` as one line of JSON (UTF-8 kept; invalid UTF-8 replaced by U+FFFD).
void WriteJson(Output& out, const Json& value);

// After a report was printed: throws Error(kCorrupt) naming `unreadable`
// (ModelReport::unreadable, Metadata::unreadable) when it is not empty. The
// report shows what could be read; the exit status says the file is damaged.
void ThrowIfUnreadable(const std::string& path, const std::vector<std::string>& unreadable);

// Options for a package's metadata analysis that keep source scans in the
// user's disk cache (tpkg/analysis_cache.h), as the daemon does: a second
// `tpkg deps` of a package, or one after a mount, scans nothing again.
MetadataOptions CachedAnalysis();

// "1,234,567": byte counts read better grouped.
std::string Grouped(uint64_t number);

}  // namespace tpkg::cli
