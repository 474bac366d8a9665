// zip_test_util.h: helpers shared by the ZIP reader and writer tests.
//
//   TempDir dir;                                   // removed with its contents
//   std::string bytes = BuildArchive("p", {{"a.txt", "alpha"}});
//   std::string path = dir.Write("x.pt", bytes);
//
// Thread safety: test code, single-threaded.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zip.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"

namespace tpkg::testing {

inline const std::string kCorpus = TPKG_CORPUS_DIR;

// The torch-written corpus archives (check_zip_recipe.py DEFAULT).
inline const std::vector<std::string> kTorchWritten = {
    "pkg_model_numpy.pt",  "pkg_mocked.pt",          "pkg_resources.pt",
    "pkg_shared_views.pt", "pkg_reduce_package.pt",  "pkg_dtypes.pt",
    "pkg_torchscript.pt",  "pkg_fx_graph_module.pt", "pkg_minimal_text_only.pt",
    "pkg_protocol4.pt",    "pkg_repackaged.pt",      "torch_save_checkpoint.pth",
};

inline std::vector<std::string> ValidCorpus() {
  auto all = kTorchWritten;
  all.push_back("pkg_deflated_by_zip_tool.pt");
  return all;
}

inline std::string CorpusPath(const std::string& name) { return kCorpus + "/" + name; }

// A reader that defers its per-record checks to each record's first read.
inline constexpr ZipReaderOptions kDeferred{.defer_record_checks = true};

// The message of the tpkg::Error `f` throws, "" when it throws none.
inline std::string What(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Read system calls of this process so far (/proc/self/io): what a reader's
// windows save is counted, not timed.
inline uint64_t ReadCalls() {
  std::ifstream io("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value)
    if (key == "syscr:") return value;
  ADD_FAILURE() << "no syscr in /proc/self/io";
  return 0;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A ZipSink collecting the archive in memory.
class StringSink : public ZipSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  void Write(std::span<const char> bytes) override { out_->append(bytes.data(), bytes.size()); }

 private:
  std::string* out_;
};

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tpkg-zip-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string Path(const std::string& name) const { return path_ + "/" + name; }
  std::string Write(const std::string& name, const std::string& bytes) const {
    std::ofstream(Path(name), std::ios::binary) << bytes;
    return Path(name);
  }

 private:
  std::string path_;
};

struct Record {
  std::string name;
  std::string data;
};

inline std::string BuildArchive(const std::string& prefix, const std::vector<Record>& records) {
  std::string out;
  ZipWriter w = ZipWriter::ToSink(std::make_unique<StringSink>(&out), prefix);
  for (const auto& r : records) w.AddRecord(r.name, r.data);
  w.Finish();
  return out;
}

// What libzip, an independent reader, sees: (name, size, compressed, crc, method, data).
struct LibzipEntry {
  std::string name;
  uint64_t size, compressed_size;
  uint32_t crc;
  uint16_t method;
  std::string data;
};

inline std::vector<LibzipEntry> ReadWithLibzip(const std::string& path, bool read_data = true) {
  int err = 0;
  std::unique_ptr<zip_t, decltype(&zip_discard)> z(
      zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err), &zip_discard);
  if (!z) throw std::runtime_error("libzip cannot open " + path + ": error " + std::to_string(err));
  std::vector<LibzipEntry> out;
  for (zip_int64_t i = 0; i < zip_get_num_entries(z.get(), 0); ++i) {
    zip_stat_t st;
    zip_stat_index(z.get(), i, 0, &st);
    LibzipEntry e{st.name, st.size, st.comp_size, st.crc, st.comp_method, {}};
    if (read_data) {
      e.data.resize(st.size);
      std::unique_ptr<zip_file_t, decltype(&zip_fclose)> f(zip_fopen_index(z.get(), i, 0),
                                                           &zip_fclose);
      if (!f || zip_fread(f.get(), e.data.data(), st.size) != static_cast<zip_int64_t>(st.size)) {
        throw std::runtime_error("libzip cannot read " + e.name);
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

inline uint16_t Get16(const std::string& b, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[at]) |
                               (static_cast<unsigned char>(b[at + 1]) << 8));
}
inline uint32_t Get32(const std::string& b, size_t at) {
  return Get16(b, at) | (static_cast<uint32_t>(Get16(b, at + 2)) << 16);
}
inline uint64_t Get64(const std::string& b, size_t at) {
  return Get32(b, at) | (static_cast<uint64_t>(Get32(b, at + 4)) << 32);
}
inline void Put16(std::string& b, size_t at, uint16_t v) {
  b[at] = static_cast<char>(v & 0xff);
  b[at + 1] = static_cast<char>(v >> 8);
}
inline void Put32(std::string& b, size_t at, uint32_t v) {
  Put16(b, at, v & 0xffff);
  Put16(b, at + 2, v >> 16);
}
inline void Put64(std::string& b, size_t at, uint64_t v) {
  Put32(b, at, v & 0xffffffff);
  Put32(b, at + 4, v >> 32);
}

}  // namespace tpkg::testing
