// Helpers for the daemon's unit tests: ZIP archives written by libzip (an
// independent writer) under the prefix folder "pkg/", and test data.
#pragma once

#include <fcntl.h>
#include <unistd.h>
#include <zip.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>

namespace tpkg::fs::testing {

struct Record {
  std::string data;
  bool deflate = false;
};

// An archive in a fresh temporary folder, removed on destruction.
class TestArchive {
 public:
  explicit TestArchive(const std::map<std::string, Record>& records) {
    char dir[] = "/tmp/tpkgfs_test_XXXXXX";
    if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
    path_ = dir_ + "/pkg.pt";
    int err = 0;
    zip_t* za = zip_open(path_.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!za) throw std::runtime_error("zip_open failed");
    for (const auto& [name, rec] : records) {
      zip_source_t* src = zip_source_buffer(za, rec.data.data(), rec.data.size(), 0);
      const zip_int64_t idx = zip_file_add(za, ("pkg/" + name).c_str(), src, ZIP_FL_ENC_UTF_8);
      if (idx < 0) throw std::runtime_error("zip_file_add failed");
      zip_set_file_compression(za, idx, rec.deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 9);
    }
    if (zip_close(za) != 0) throw std::runtime_error("zip_close failed");
  }
  ~TestArchive() {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  TestArchive(const TestArchive&) = delete;
  TestArchive& operator=(const TestArchive&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

// Deterministic bytes that compress somewhat (not all-equal, not random).
inline std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>('a' + ((x >> 16) % 16));
  }
  return s;
}

}  // namespace tpkg::fs::testing
