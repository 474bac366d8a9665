// zip_layout.h: the bytes PyTorch 1.13's writer (miniz) puts around each record (private).
//
// Pure functions from a RecordLayout to header bytes, following doc/format.md
// §2.2-2.9 (and corpus/check_zip_recipe.py, its executable reference):
//
//   | piece              | torch writes                                              |
//   | ------------------ | --------------------------------------------------------- |
//   | local header       | version 0 (20 deflated), flags 0x0808 (0x0800 if empty),  |
//   |                    | time/date/CRC/sizes 0, then ZIP64 block if needed, then    |
//   |                    | `FB` + pad x 'Z' so the data starts on a 64-byte boundary  |
//   |                    | (ours differs for records >= 4 GiB: sizes 0xFFFFFFFF and   |
//   |                    | a ZIP64 block of [0, 0], see zip_layout.cc)                |
//   | data descriptor    | signed; 16 bytes, 24 when the local header has ZIP64;     |
//   |                    | none for a 0-byte record                                  |
//   | central header     | real CRC/sizes/offset, 0xFFFFFFFF + ZIP64 block if >= 4 GiB|
//   | with attributes    | (not torch's) DOS time/date and a UT block after ZIP64,  |
//   |                    | Unix "made by" and external attributes (zip_attributes.h)|
//   | end records        | ZIP64 EOCD + locator always, then the clamped classic EOCD |
//
//   RecordLayout r{"model/x.txt", offset, 5, 5, crc, kMethodStored};
//   AppendLocalHeader(out, r);   // out.size() + offset is now a multiple of 64
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"
#include "zip/zip_format.h"

namespace tpkg {

struct RecordLayout {
  std::string full_name;         // prefix + "/" + record
  uint64_t offset = 0;           // of the local header
  uint64_t size = 0;             // uncompressed
  uint64_t compressed_size = 0;  // == size when stored
  uint32_t crc32 = 0;
  uint16_t method = kMethodStored;
  RecordAttributes attrs;  // none: torch's zeros (zip_attributes.h)
  bool directory = false;  // a folder entry ("name/")

  // torch tests ">= 0xFFFFFFFF" (doc/format.md §2.2); the compressed size is
  // included so that a (never torch-written) big deflated record stays valid.
  bool zip64_sizes() const { return size >= zipfmt::kMax32 || compressed_size >= zipfmt::kMax32; }
  bool zip64_offset() const { return offset >= zipfmt::kMax32; }
  bool has_descriptor() const { return size > 0; }
};

// Bytes of 'Z' padding in the FB block (doc/format.md §2.2).
size_t AlignmentPadding(const RecordLayout& r);
// Local header, name, ZIP64 block (if any) and FB block; data follows.
void AppendLocalHeader(std::string& out, const RecordLayout& r);
// The signed data descriptor, or nothing for a 0-byte record.
void AppendDataDescriptor(std::string& out, const RecordLayout& r);
void AppendCentralHeader(std::string& out, const RecordLayout& r);
// ZIP64 end record (at cd_offset + cd_size), its locator, the classic EOCD.
void AppendEndRecords(std::string& out, uint64_t count, uint64_t cd_offset, uint64_t cd_size);

}  // namespace tpkg
