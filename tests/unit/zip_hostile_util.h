// zip_hostile_util.h: the small valid archives hostile cases start from, and
// byte-level helpers that find and patch their headers.
//
//   std::string b = BaseArchive();
//   Rename(b, "p/dup2", "p/dup1");           // same length, local and central
//   Put32(b, CentralAt(b, "p/dup1") + 42, 0); // a central-directory field
//
// Thread safety: test code, single-threaded.
#pragma once

#include <numeric>
#include <string>

#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"
#include "zip_test_util.h"

namespace tpkg::testing {

// The base archive every hostile case starts from. Names are chosen so that
// a same-length patch turns one into the case under test.
inline std::string BaseArchive() {
  std::string data(100, '\0');
  std::iota(data.begin(), data.end(), 0);
  return BuildArchive("p", {{"first.txt", "first\n"},
                            {"data.bin", data},
                            {"dup1", "one"},
                            {"dup2", "two"},
                            {"sub", "file"},
                            {"sux/f", "in folder"},
                            {"abs", "a"},
                            {"d/xx/e", "deep"},
                            {"outx", "out"},
                            {"empty", ""},
                            {".data/version", "6\n"}});
}

// An archive holding one deflated record copied from the zip-tool corpus file.
inline std::string DeflatedArchive() {
  const ZipReader src = ZipReader::Open(CorpusPath("pkg_deflated_by_zip_tool.pt"));
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), "p");
  w.CopyRawRecord(src, *src.Find("corpus_models/model.py"), "model.py");
  w.AddRecord(".data/version", "6\n");
  w.Finish();
  return out;
}

inline size_t LocalAt(const std::string& b, const std::string& full) { return b.find(full) - 30; }
inline size_t CentralAt(const std::string& b, const std::string& full) { return b.rfind(full) - 46; }
inline size_t DataAt(const std::string& b, const std::string& full) {
  const size_t local = LocalAt(b, full);
  return local + 30 + Get16(b, local + 26) + Get16(b, local + 28);
}
// The data descriptor after a record's data (signature, CRC, sizes).
inline size_t DescriptorAt(const std::string& b, const std::string& full) {
  return DataAt(b, full) + Get32(b, CentralAt(b, full) + 20);
}
inline size_t EocdAt(const std::string& b) { return b.size() - 22; }
inline size_t Zip64EocdAt(const std::string& b) { return b.size() - 22 - 20 - 56; }
inline size_t LocatorAt(const std::string& b) { return b.size() - 22 - 20; }

// Removes a record's central header (its local header and data stay).
inline void Unlist(std::string& b, const std::string& full) {
  const size_t at = CentralAt(b, full);
  const size_t length = 46 + Get16(b, at + 28) + Get16(b, at + 30) + Get16(b, at + 32);
  b.erase(at, length);
  for (size_t field : {EocdAt(b) + 8, EocdAt(b) + 10}) Put16(b, field, Get16(b, field) - 1);
  for (size_t field : {Zip64EocdAt(b) + 24, Zip64EocdAt(b) + 32})
    Put64(b, field, Get32(b, field) - 1);
  Put32(b, EocdAt(b) + 12, Get32(b, EocdAt(b) + 12) - length);
  Put64(b, Zip64EocdAt(b) + 40, Get32(b, Zip64EocdAt(b) + 40) - length);
  Put64(b, LocatorAt(b) + 8, Get32(b, LocatorAt(b) + 8) - length);
}

// Renames a record in both its local and its central header (same length).
inline void Rename(std::string& b, const std::string& from, const std::string& to) {
  b.replace(b.find(from), to.size(), to);
  b.replace(b.rfind(from), to.size(), to);
}

}  // namespace tpkg::testing
