// The analysis pack format (rules in analysis_pack.h).
#include "package/analysis_pack.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace tpkg {
namespace {

constexpr std::string_view kMagic = "tpkg-analysis-pack\n";
constexpr uint32_t kVersion = 1;
constexpr uint8_t kStub = 1, kScanError = 2;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Reads what PutU32/PutString wrote; throws std::out_of_range past the end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  std::string_view Take(size_t n) {
    if (n > bytes_.size() - at_) throw std::out_of_range("the pack ends inside an entry");
    const std::string_view out = bytes_.substr(at_, n);
    at_ += n;
    return out;
  }
  uint8_t U8() { return static_cast<uint8_t>(Take(1)[0]); }
  uint32_t U32() {
    const std::string_view b = Take(4);
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
    return v;
  }
  std::string String() { return std::string(Take(U32())); }
  bool AtEnd() const { return at_ == bytes_.size(); }
  size_t left() const { return bytes_.size() - at_; }

 private:
  std::string_view bytes_;
  size_t at_ = 0;
};

}  // namespace

namespace {

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
  out.append(reinterpret_cast<const char*>(e.digest.data()), e.digest.size());
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
  const Sha256Digest sum = Sha256(out);
  out.append(reinterpret_cast<const char*>(sum.data()), sum.size());
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
  const size_t sum_size = Sha256Digest().size();
  if (bytes.size() < kMagic.size() + sum_size || !bytes.starts_with(kMagic)) {
    *why = "not an analysis pack";
    return std::nullopt;
  }
  const std::string_view body = bytes.substr(0, bytes.size() - sum_size);
  const Sha256Digest sum = Sha256(body);
  if (std::memcmp(sum.data(), bytes.data() + body.size(), sum_size) != 0) {
    *why = "its checksum does not match (damaged or cut short)";
    return std::nullopt;
  }
  try {
    Reader in(body.substr(kMagic.size()));
    if (const uint32_t version = in.U32(); version != kVersion) {
      *why = "format version " + std::to_string(version) + ", not " + std::to_string(kVersion);
      return std::nullopt;
    }
    AnalysisPack pack;
    pack.build_id = in.String();
    const uint32_t count = in.U32();
    // An entry takes at least 41 bytes, a reference 5: a count no pack could
    // hold reserves no more than the bytes left could hold.
    pack.entries.reserve(std::min<size_t>(count, in.left() / 41));
    for (uint32_t i = 0; i < count; ++i) {
      AnalysisPackEntry& e = pack.entries.emplace_back();
      e.record = in.String();
      std::memcpy(e.digest.data(), in.Take(e.digest.size()).data(), e.digest.size());
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
