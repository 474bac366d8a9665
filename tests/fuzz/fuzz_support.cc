#include "fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tpkg::fuzz {

namespace {

std::string MakeScratchFolder() {
  namespace fs = std::filesystem;
  // tmpfs when the machine has it: an execution writes its input here.
  const char* env = std::getenv("TMPDIR");
  std::string base = env && *env ? env : (fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp");
  std::string templ = base + "/tpkg-fuzz-XXXXXX";
  if (!mkdtemp(templ.data())) Fail("cannot make a scratch folder under " + base);
  static std::string folder = templ;  // for the atexit handler
  std::atexit([] { RemoveTree(folder); });
  return templ;
}

}  // namespace

const std::string& ScratchFolder() {
  static const std::string folder = MakeScratchFolder();
  return folder;
}

std::string WriteScratchFile(std::string_view name, std::string_view bytes) {
  std::string path = ScratchFolder() + "/" + std::string(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) Fail("cannot write " + path);
  return path;
}

void RemoveTree(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

std::string_view InputCursor::Bytes(size_t max) {
  const size_t n = std::min(max, size_ - std::min(pos_, size_));
  std::string_view out(reinterpret_cast<const char*>(data_) + pos_, n);
  pos_ += n;
  return out;
}

void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz target: %s\n", what.c_str());
  std::abort();
}

}  // namespace tpkg::fuzz
