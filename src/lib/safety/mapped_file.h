// mapped_file.h (private): a file mapped read-only for the scanner, so a
// multi-gigabyte legacy checkpoint is read only where its pickles are.
//
// Thread safety: immutable after construction; the mapping is private to the owner.
#pragma once

#include <string>
#include <string_view>

namespace tpkg::safety {

class MappedFile {
 public:
  // Throws Error naming `path` and the reason.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view bytes() const { return {data_, size_}; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
  std::string empty_;  // what data_ points to for an empty file
};

}  // namespace tpkg::safety
