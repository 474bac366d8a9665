#include "zip/zip_layout.h"

#include <algorithm>

#include "zip/zip_attributes.h"

namespace tpkg {
namespace {

using namespace zipfmt;

constexpr uint16_t kVersionDeflate = 20;
constexpr uint16_t kZip64VersionMadeBy = 0x031e;  // what miniz puts in the ZIP64 EOCD
constexpr uint16_t kZip64VersionNeeded = 0x002d;
constexpr uint64_t kZip64EocdRecordSize = 44;  // the ZIP64 EOCD minus its first 12 bytes

uint16_t Flags(const RecordLayout& r) {
  return r.has_descriptor() ? (kFlagUtf8 | kFlagDataDescriptor) : kFlagUtf8;
}
uint16_t VersionNeeded(const RecordLayout& r) {
  return r.method == kMethodDeflate ? kVersionDeflate : 0;
}

// The local ZIP64 block: [0, 0] for records of 4 GiB or more, then the header offset past
// 4 GiB (non-standard, but what torch writes). The sizes are deferred to the data descriptor
// like the CRC, so they are 0 here, and the 32-bit size slots hold 0xFFFFFFFF, which is what
// makes a reader look at this block (doc/format.md §2.2). torch (miniz) writes [size, 0] behind
// 32-bit zeros instead: Debian 13's libzip 1.11 then refuses the archive as inconsistent
// (ZIP_CHECKCONS), and Debian 12's libzip 1.7 refuses any non-zero local size next to a
// descriptor; this layout opens in both, and in torch and Python's zipfile.
std::string LocalZip64Block(const RecordLayout& r) {
  std::string block;
  if (!r.zip64_sizes() && !r.zip64_offset()) return block;
  const int fields = (r.zip64_sizes() ? 2 : 0) + (r.zip64_offset() ? 1 : 0);
  Append16(block, kZip64ExtraId);
  Append16(block, 8 * fields);
  if (r.zip64_sizes()) Append64(block, 0), Append64(block, 0);
  if (r.zip64_offset()) Append64(block, r.offset);
  return block;
}

// The standard central ZIP64 block: sizes, then offset, as needed.
std::string CentralZip64Block(const RecordLayout& r) {
  std::string block;
  if (!r.zip64_sizes() && !r.zip64_offset()) return block;
  const int fields = (r.zip64_sizes() ? 2 : 0) + (r.zip64_offset() ? 1 : 0);
  Append16(block, kZip64ExtraId);
  Append16(block, 8 * fields);
  if (r.zip64_sizes()) Append64(block, r.size), Append64(block, r.compressed_size);
  if (r.zip64_offset()) Append64(block, r.offset);
  return block;
}

// The UT block (nothing without a time).
std::string TimeBlock(const RecordLayout& r) {
  return r.attrs.mtime ? TimestampBlock(*r.attrs.mtime) : std::string();
}

void AppendDosTime(std::string& out, const RecordLayout& r) {
  const DosDateTime dos = r.attrs.mtime ? ToDosDateTime(*r.attrs.mtime) : DosDateTime{};
  Append16(out, dos.time);
  Append16(out, dos.date);
}

}  // namespace

size_t AlignmentPadding(const RecordLayout& r) {
  uint64_t start = r.offset + kLocalHeaderSize + r.full_name.size() + 4;
  if (r.zip64_sizes() || r.zip64_offset()) {
    start += 4;
    if (r.zip64_sizes()) start += 16;
    if (r.zip64_offset()) start += 8;
  }
  if (r.attrs.mtime) start += kTimestampBlockSize;
  return static_cast<size_t>((kAlignment - start % kAlignment) % kAlignment);
}

void AppendLocalHeader(std::string& out, const RecordLayout& r) {
  const std::string zip64 = LocalZip64Block(r);
  const std::string time = TimeBlock(r);
  const size_t pad = AlignmentPadding(r);
  Append32(out, kLocalHeaderSig);
  Append16(out, VersionNeeded(r));
  Append16(out, Flags(r));
  Append16(out, r.method);
  AppendDosTime(out, r);
  Append32(out, 0);  // CRC-32: in the descriptor
  // Both sizes: in the descriptor; 0xFFFFFFFF points at the ZIP64 block when they need it.
  Append32(out, r.zip64_sizes() ? kMax32 : 0);
  Append32(out, r.zip64_sizes() ? kMax32 : 0);
  Append16(out, r.full_name.size());
  Append16(out, zip64.size() + time.size() + 4 + pad);
  out += r.full_name;
  out += zip64;
  out += time;
  Append16(out, kPaddingExtraId);
  Append16(out, pad);
  out.append(pad, kPaddingByte);
}

void AppendDataDescriptor(std::string& out, const RecordLayout& r) {
  if (!r.has_descriptor()) return;
  Append32(out, kDataDescriptorSig);
  Append32(out, r.crc32);
  if (r.zip64_sizes() || r.zip64_offset()) {
    Append64(out, r.compressed_size);
    Append64(out, r.size);
  } else {
    Append32(out, r.compressed_size);
    Append32(out, r.size);
  }
}

void AppendCentralHeader(std::string& out, const RecordLayout& r) {
  const std::string zip64 = CentralZip64Block(r);
  const std::string time = TimeBlock(r);
  Append32(out, kCentralHeaderSig);
  Append16(out, VersionMadeBy(r.attrs));
  Append16(out, VersionNeeded(r));
  Append16(out, Flags(r));
  Append16(out, r.method);
  AppendDosTime(out, r);
  Append32(out, r.crc32);
  Append32(out, r.zip64_sizes() ? kMax32 : r.compressed_size);
  Append32(out, r.zip64_sizes() ? kMax32 : r.size);
  Append16(out, r.full_name.size());
  Append16(out, zip64.size() + time.size());
  Append16(out, 0);  // comment length
  Append16(out, 0);  // disk start
  Append16(out, 0);  // internal attributes
  Append32(out, ExternalAttributes(r.attrs, r.directory));
  Append32(out, std::min(r.offset, kMax32));
  out += r.full_name;
  out += zip64;
  out += time;
}

void AppendEndRecords(std::string& out, uint64_t count, uint64_t cd_offset, uint64_t cd_size) {
  const uint64_t zip64_eocd = cd_offset + cd_size;
  Append32(out, kZip64EocdSig);
  Append64(out, kZip64EocdRecordSize);
  Append16(out, kZip64VersionMadeBy);
  Append16(out, kZip64VersionNeeded);
  Append64(out, 0);  // this disk, disk with the central directory
  Append64(out, count);
  Append64(out, count);
  Append64(out, cd_size);
  Append64(out, cd_offset);
  Append32(out, kZip64LocatorSig);
  Append32(out, 0);
  Append64(out, zip64_eocd);
  Append32(out, 1);  // total disks
  Append32(out, kEocdSig);
  Append32(out, 0);  // this disk, disk with the central directory
  Append16(out, std::min(count, kMax16));
  Append16(out, std::min(count, kMax16));
  Append32(out, std::min(cd_size, kMax32));
  Append32(out, std::min(cd_offset, kMax32));
  Append16(out, 0);  // comment length
}

}  // namespace tpkg
