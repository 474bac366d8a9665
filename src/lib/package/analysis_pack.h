// analysis_pack.h (private): the file format of an analysis pack, the unit
// the disk layer of the analysis cache (analysis_store.h) reads and writes:
// for each source record, the SHA-256 of its bytes and what the analysis
// learnt from them (torch's mock stub or not, the import scan or its error).
//
//   std::string bytes = EncodeAnalysisPack(pack);
//   std::string why;
//   std::optional<AnalysisPack> back = DecodeAnalysisPack(bytes, &why);
//
// Layout (integers little-endian, strings as a u32 length then the bytes):
//   "tpkg-analysis-pack\n" (19 bytes), u32 format version (1),
//   string build id (base/build_id.h: of the build that wrote it),
//   u32 entry count, then per entry:
//     string record name, 32-byte SHA-256 of the record's bytes,
//     u8 flags (1: mock stub, 2: scan error),
//     [string scan error], u32 import count, per import:
//       string module, u8 has_name, [string name]
//   then the SHA-256 of every byte before it.
// A pack is read whole and trusted whole or not at all: a short, damaged or
// foreign file decodes to nullopt with the reason, never to part of a pack.
//
// Thread safety: stateless functions.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/sha256.h"
#include "tpkg/module_env.h"

namespace tpkg {

// What one source record's analysis kept (package_layout.h's ArchiveModule
// without what its name gives: the module and whether it is a package).
struct StoredSource {
  bool is_stub = false;
  ScannedImports imports;
  friend bool operator==(const StoredSource&, const StoredSource&) = default;
};

// `source` is shared (never null): a store writing a pack hands over what
// it holds without copying every import list.
struct AnalysisPackEntry {
  std::string record;
  Sha256Digest digest{};
  std::shared_ptr<const StoredSource> source;
  friend bool operator==(const AnalysisPackEntry& a, const AnalysisPackEntry& b) {
    return a.record == b.record && a.digest == b.digest && *a.source == *b.source;
  }
};

struct AnalysisPack {
  std::string build_id;
  std::vector<AnalysisPackEntry> entries;
};

// An entry as a store writes it: the same, with the name borrowed (a
// store's names outlive its writes), so that writing a pack of 5,000
// sources copies no name.
struct AnalysisPackEntryView {
  std::string_view record;
  Sha256Digest digest{};
  std::shared_ptr<const StoredSource> source;
};

std::string EncodeAnalysisPack(const AnalysisPack& pack);
std::string EncodeAnalysisPack(std::string_view build_id,
                               std::span<const AnalysisPackEntryView> entries);
std::optional<AnalysisPack> DecodeAnalysisPack(std::string_view bytes, std::string* why);

}  // namespace tpkg
