// scratch_dir.h: test helpers for tests that need real files: a temporary
// directory removed with its contents, small file readers/writers, and an
// archive builder on top of ZipWriter, and an immutable-flag holder.
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/zip_writer.h"

namespace tpkg::testing {

class ScratchDir {
 public:
  ScratchDir() {
    std::string templ =
        (getenv("TMPDIR") ? std::string(getenv("TMPDIR")) : "/tmp") + "/tpkg-test-XXXXXX";
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~ScratchDir() { RemoveTree(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  static void RemoveTree(const std::string& path) {
    nftw(
        path.c_str(),
        [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// Everything a descriptor's file holds.
inline std::string ReadFd(int fd) {
  std::string out;
  char buf[65536];
  for (off_t off = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

inline void WriteFd(int fd, const std::string& bytes, off_t offset = 0) {
  if (::pwrite(fd, bytes.data(), bytes.size(), offset) != static_cast<ssize_t>(bytes.size()))
    throw std::runtime_error("pwrite failed");
}

using Records = std::vector<std::pair<std::string, std::string>>;

// A torch-style archive holding `records` in order (stored, 64-byte aligned).
inline void MakeArchive(const std::string& path, const Records& records) {
  ZipWriter writer = ZipWriter::Create(path, PrefixForPath(path), /*overwrite=*/true);
  for (const auto& [name, bytes] : records)
    writer.AddRecord(name, std::span<const char>(bytes.data(), bytes.size()));
  writer.Finish();
}

// A small package shaped like PackageExporter's output.
// Makes a file or directory immutable (chattr +i) for its lifetime, so the
// flag is cleared even when an assertion returns early. Needs CAP_LINUX_IMMUTABLE
// and a filesystem with inode flags: check set() and skip otherwise.
class ScopedImmutable {
 public:
  explicit ScopedImmutable(const std::string& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0 || ::ioctl(fd_, FS_IOC_GETFLAGS, &flags_) != 0) {
      error_ = "no inode flags here";
      return;
    }
    int immutable = flags_ | FS_IMMUTABLE_FL;
    if (::ioctl(fd_, FS_IOC_SETFLAGS, &immutable) != 0) {
      error_ = std::string("cannot make ") + path + " immutable: " + std::strerror(errno);
      return;
    }
    set_ = true;
  }
  ~ScopedImmutable() {
    if (set_) ::ioctl(fd_, FS_IOC_SETFLAGS, &flags_);
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedImmutable(const ScopedImmutable&) = delete;
  ScopedImmutable& operator=(const ScopedImmutable&) = delete;

  bool set() const { return set_; }
  const std::string& error() const { return error_; }

 private:
  int fd_;
  int flags_ = 0;
  bool set_ = false;
  std::string error_;
};

// What `op` threw while `path` was immutable: `skipped` (with the reason)
// when the flag cannot be set here, else the errno and message of the Error
// (0 and "" when it threw none).
//
//   const ImmutableOutcome out = WhileImmutable(dir, [&] { Open(); });
//   if (out.skipped) GTEST_SKIP() << out.message;
struct ImmutableOutcome {
  bool skipped = false;
  int err = 0;
  std::string message;
};

inline ImmutableOutcome WhileImmutable(const std::string& path, const std::function<void()>& op) {
  ScopedImmutable immutable(path);
  if (!immutable.set()) return {true, 0, immutable.error()};
  try {
    op();
  } catch (const Error& e) {
    return {false, ToErrno(e), e.what()};
  }
  return {};
}

inline Records SamplePackage() {
  return {
      {".data/0.storage", std::string(200, '\x01')},
      {"model/model.pkl", "\x80\x03pickle-bytes."},
      {"pkg/__init__.py", ""},
      {"pkg/code.py", "x = 1\n"},
      {"pkg/sub/deep.py", "import pkg.code\n"},
      {"notes/readme.txt", "hello\n"},
      {".data/extern_modules", "\n"},
      {".data/python_version", "3.11"},
      {".data/version", "6\n"},
  };
}

}  // namespace tpkg::testing
