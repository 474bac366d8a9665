// atomic_file.h: replace a file atomically (temp file beside it + rename) (private).
//
//   tpkg::AtomicFile out("model.pt");               // ".model.pt.tpkg-1a2b3c" beside it
//   tpkg::ZipWriter w = tpkg::ZipWriter::ToFd(out.fd(), "model");
//   ... w.Finish();
//   out.Commit();   // fsync, rename over model.pt, fsync the directory
//
// Readers of `path` see the old file or the complete new one, never a
// partial write. If Commit() is not reached (an exception, a full disk) the
// destructor removes the temporary file and `path` is untouched; so does a
// signal that ends the process, where the program asked for it
// (tpkg/temp_file_cleanup.h). The new
// file gets the permission bits of the file it replaces, else 0666 & ~umask.
// Only a regular file is replaced: anything else at `path` (a device, a
// FIFO, a socket, a folder, a symbolic link) is refused before anything is
// written.
//
// Thread safety: one thread owns an AtomicFile; distinct ones are independent.
#pragma once

#include <cstddef>
#include <string>

#include "base/scoped_fd.h"
#include "tpkg/temp_file_cleanup.h"

namespace tpkg {

class AtomicFile {
 public:
  // Throws Error naming the directory, or kExists when `path` is not a
  // regular file.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_.get(); }
  const std::string& temp_path() const { return temp_path_; }

  // Makes the new content durable and visible under `path`.
  void Commit();

 private:
  std::string path_;
  std::string temp_path_;
  ScopedFd fd_;
  size_t cleanup_slot_ = kNoTempFileSlot;  // tpkg/temp_file_cleanup.h
  bool committed_ = false;
};

}  // namespace tpkg
