// The analysis pack format (rules in analysis_pack.h).
#include "package/analysis_pack.h"

#include <algorithm>
#include <stdexcept>

#include "package/cache_file_format.h"

namespace tpkg {
namespace {

constexpr std::string_view kMagic = "tpkg-analysis-pack\n";
constexpr uint32_t kVersion = 1;
constexpr uint8_t kStub = 1, kScanError = 2;

// The bytes EncodeEntry appends for `e`: the pack is sized once, never grown.
template <typename Entry>
size_t EncodedSize(const Entry& e) {
  const ScannedImports& imports = e.source->imports;
  size_t size = 4 + e.record.size() + Sha256Digest().size() + 1 + 4;
  if (imports.error) size += 4 + imports.error->size();
  for (const ImportRef& ref : imports.refs)
    size += 4 + ref.module.size() + 1 + (ref.name ? 4 + ref.name->size() : 0);
  return size;
}

template <typename Entry>
void EncodeEntry(std::string& out, const Entry& e) {
  PutString(out, e.record);
  PutDigest(out, e.digest);
  const ScannedImports& imports = e.source->imports;
  out.push_back(
      static_cast<char>((e.source->is_stub ? kStub : 0) | (imports.error ? kScanError : 0)));
  if (imports.error) PutString(out, *imports.error);
  PutU32(out, static_cast<uint32_t>(imports.refs.size()));
  for (const ImportRef& ref : imports.refs) {
    PutString(out, ref.module);
    out.push_back(ref.name ? 1 : 0);
    if (ref.name) PutString(out, *ref.name);
  }
}

template <typename Entry>
std::string Encode(std::string_view build_id, std::span<const Entry> entries) {
  size_t size = kMagic.size() + 4 + 4 + build_id.size() + 4 + Sha256Digest().size();
  for (const Entry& e : entries) size += EncodedSize(e);
  std::string out;
  out.reserve(size);
  out.append(kMagic);
  PutU32(out, kVersion);
  PutString(out, build_id);
  PutU32(out, static_cast<uint32_t>(entries.size()));
  for (const Entry& e : entries) EncodeEntry(out, e);
  SealWithChecksum(out);
  return out;
}

}  // namespace

std::string EncodeAnalysisPack(const AnalysisPack& pack) {
  return Encode(pack.build_id, std::span<const AnalysisPackEntry>(pack.entries));
}

std::string EncodeAnalysisPack(std::string_view build_id,
                               std::span<const AnalysisPackEntryView> entries) {
  return Encode(build_id, entries);
}

std::optional<AnalysisPack> DecodeAnalysisPack(std::string_view bytes, std::string* why) {
  const std::optional<std::string_view> body =
      Unseal(bytes, kMagic, kVersion, "an analysis pack", why);
  if (!body) return std::nullopt;
  try {
    CacheFileReader in(*body);
    AnalysisPack pack;
    pack.build_id = in.String();
    const uint32_t count = in.U32();
    // An entry takes at least 41 bytes, a reference 5: a count no pack could
    // hold reserves no more than the bytes left could hold.
    pack.entries.reserve(std::min<size_t>(count, in.left() / 41));
    for (uint32_t i = 0; i < count; ++i) {
      AnalysisPackEntry& e = pack.entries.emplace_back();
      e.record = in.String();
      e.digest = in.Digest();
      const uint8_t flags = in.U8();
      auto source = std::make_shared<StoredSource>();
      source->is_stub = (flags & kStub) != 0;
      if (flags & kScanError) source->imports.error = in.String();
      const uint32_t refs = in.U32();
      source->imports.refs.reserve(std::min<size_t>(refs, in.left() / 5));
      for (uint32_t r = 0; r < refs; ++r) {
        ImportRef& ref = source->imports.refs.emplace_back();
        ref.module = in.String();
        if (in.U8() != 0) ref.name = in.String();
      }
      e.source = std::move(source);
    }
    if (!in.AtEnd()) {
      *why = "bytes after the last entry";
      return std::nullopt;
    }
    return pack;
  } catch (const std::out_of_range& e) {
    *why = e.what();
    return std::nullopt;
  }
}

}  // namespace tpkg
