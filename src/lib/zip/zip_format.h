// zip_format.h: the on-disk vocabulary of the ZIP container (private to libtpkg).
//
// Signatures, fixed sizes and field offsets of the headers that torch's
// writer (miniz) produces and that the reader parses, plus little-endian
// load/store helpers. The numbers come from APPNOTE.TXT and doc/format.md §2.2.
//
//   if (zipfmt::Load32(p) != zipfmt::kLocalHeaderSig) ...;
//   zipfmt::Append16(out, zipfmt::kFlagsDescriptorUtf8);
//
// Thread safety: constants and pure functions only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace tpkg::zipfmt {

inline constexpr uint32_t kLocalHeaderSig = 0x04034b50;     // "PK\3\4"
inline constexpr uint32_t kCentralHeaderSig = 0x02014b50;   // "PK\1\2"
inline constexpr uint32_t kDataDescriptorSig = 0x08074b50;  // "PK\7\8"
inline constexpr uint32_t kEocdSig = 0x06054b50;            // "PK\5\6"
inline constexpr uint32_t kZip64EocdSig = 0x06064b50;       // "PK\6\6"
inline constexpr uint32_t kZip64LocatorSig = 0x07064b50;    // "PK\6\7"

inline constexpr size_t kLocalHeaderSize = 30;
inline constexpr size_t kCentralHeaderSize = 46;
inline constexpr size_t kEocdSize = 22;
inline constexpr size_t kZip64EocdSize = 56;
inline constexpr size_t kZip64LocatorSize = 20;
inline constexpr size_t kMaxCommentSize = 0xffff;
// How far from the end torch's reader (miniz's mz_zip_reader_locate_header_sig)
// looks for the end record: 4 KiB blocks, each 3 bytes over the one after it,
// until one starts 64 KiB + 22 bytes or more from the end: 4096 + 16 x 4093.
inline constexpr size_t kTorchEocdSearchWindow = 4096 + 16 * 4093;

inline constexpr uint16_t kZip64ExtraId = 0x0001;
inline constexpr uint16_t kPaddingExtraId = 0x4246;  // "FB": torch's alignment block
inline constexpr uint16_t kTimestampExtraId = 0x5455;  // "UT": Info-ZIP's extended timestamp
inline constexpr uint8_t kTimestampHasMtime = 0x01;     // its flags byte: mtime follows
inline constexpr size_t kTimestampBlockSize = 9;        // header 4 + flags 1 + mtime 4
inline constexpr uint16_t kHostUnix = 3;                // "version made by" high byte
inline constexpr uint32_t kDosDirectoryAttribute = 0x10;
inline constexpr char kPaddingByte = 'Z';
inline constexpr uint64_t kAlignment = 64;

// 32- and 16-bit fields at their maximum mean "the real value is in ZIP64".
inline constexpr uint64_t kMax32 = 0xffffffff;
inline constexpr uint64_t kMax16 = 0xffff;

// General-purpose flag bits.
inline constexpr uint16_t kFlagEncrypted = 0x0001;
inline constexpr uint16_t kFlagDataDescriptor = 0x0008;
inline constexpr uint16_t kFlagStrongEncryption = 0x0040;
inline constexpr uint16_t kFlagUtf8 = 0x0800;

// Field offsets inside the fixed part of a local file header.
namespace local {
inline constexpr size_t kDosTime = 10, kDosDate = 12;
inline constexpr size_t kVersionNeeded = 4, kFlags = 6, kMethod = 8, kCrc = 14,
                        kCompressedSize = 18, kSize = 22, kNameLength = 26, kExtraLength = 28;
}
// Field offsets inside the fixed part of a central directory header.
namespace central {
inline constexpr size_t kVersionMadeBy = 4, kDosTime = 12, kDosDate = 14, kExternalAttributes = 38;
inline constexpr size_t kVersionNeeded = 6, kFlags = 8, kMethod = 10, kCrc = 16,
                        kCompressedSize = 20, kSize = 24, kNameLength = 28, kExtraLength = 30,
                        kCommentLength = 32, kDiskStart = 34, kLocalHeaderOffset = 42;
}

inline uint16_t Load16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(b[0] | (b[1] << 8));
}
inline uint32_t Load32(const char* p) {
  return Load16(p) | (static_cast<uint32_t>(Load16(p + 2)) << 16);
}
inline uint64_t Load64(const char* p) {
  return Load32(p) | (static_cast<uint64_t>(Load32(p + 4)) << 32);
}

inline void Append16(std::string& out, uint64_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
}
inline void Append32(std::string& out, uint64_t v) {
  Append16(out, v & 0xffff);
  Append16(out, (v >> 16) & 0xffff);
}
inline void Append64(std::string& out, uint64_t v) {
  Append32(out, v & 0xffffffff);
  Append32(out, v >> 32);
}

// The data of the first extra-field block with header `id`, or nullopt.
// Clears `well_formed` when a block's declared length runs past the field
// (trailing bytes shorter than a block header are tolerated, as zip tools do).
inline std::optional<std::string_view> FindExtraBlock(std::string_view extra, uint16_t id,
                                                      bool& well_formed) {
  while (extra.size() >= 4) {
    const uint16_t block_id = Load16(extra.data());
    const size_t len = Load16(extra.data() + 2);
    if (len > extra.size() - 4) {
      well_formed = false;
      return std::nullopt;
    }
    if (block_id == id) return extra.substr(4, len);
    extra.remove_prefix(4 + len);
  }
  return std::nullopt;
}

// Why the blocks of an extra field do not fit in it, or "" when they do: a
// block whose declared length runs past the field. Torch's reader walks the
// field only when it needs ZIP64 values; strict mode refuses a malformed one
// anyway, since the bytes it claims belong to whatever follows. (1-3 stray
// bytes after the last block are tolerated, as in FindExtraBlock.)
inline std::string ExtraFieldProblem(std::string_view extra) {
  for (size_t at = 0; extra.size() - at >= 4;) {
    const size_t len = Load16(extra.data() + at + 2);
    const size_t remain = extra.size() - at - 4;
    if (len > remain) {
      char id[8];
      std::snprintf(id, sizeof(id), "0x%04x", Load16(extra.data() + at));
      return "extra block " + std::string(id) + " at byte " + std::to_string(at) + " declares " +
             std::to_string(len) + " bytes, and only " + std::to_string(remain) +
             " remain in the extra field";
    }
    at += 4 + len;
  }
  return {};
}

}  // namespace tpkg::zipfmt
