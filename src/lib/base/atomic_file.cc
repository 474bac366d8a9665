#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

#include "base/file_util.h"
#include "tpkg/error.h"
#include "tpkg/temp_file_cleanup.h"

namespace tpkg {
namespace {

constexpr int kCreateAttempts = 100;

std::string RandomSuffix() {
  uint32_t value = 0;
  if (::getrandom(&value, sizeof(value), 0) != sizeof(value))
    value = static_cast<uint32_t>(::getpid());
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", value);
  return buf;
}

// O_EXCL with our own random name (not mkstemp) so that the kernel applies
// the umask to 0666, without the thread-unsafe umask() dance.
// Registered for the signal handler before it exists, armed once created
// (tpkg/temp_file_cleanup.h); `slot` is kept registered only on success.
ScopedFd CreateTemp(const std::string& path, std::string& temp_path, size_t& slot) {
  const std::string stem = DirName(path) + "/." + BaseName(path) + ".tpkg-";
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    temp_path = stem + RandomSuffix();
    slot = RegisterTempFile(temp_path);
    int err = 0;
    ScopedFd fd;
    {
      const TempFileSignalsHeld held;  // created and armed, or neither, for the handler
      fd = ScopedFd(::open(temp_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
      err = errno;
      if (fd.valid()) ArmTempFile(slot);
    }
    if (fd.valid()) return fd;
    UnregisterTempFile(std::exchange(slot, kNoTempFileSlot));
    if (err != EEXIST) ThrowSystemError("cannot create a temporary file in " + DirName(path), err);
  }
  throw Error(Errc::kExists, "cannot create a temporary file beside " + path);
}

void ThrowIfFailed(int rc, const std::string& what) {
  if (rc != 0) {
    const int err = errno;
    ThrowSystemError(what, err);
  }
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  // Only a regular file is replaced: a rename over a device node, a FIFO or
  // a symbolic link would put a file where that stood (as root, over
  // /dev/null), and over a folder it fails late, after the whole write.
  struct stat there {};
  if (::lstat(path_.c_str(), &there) == 0 && !S_ISREG(there.st_mode)) {
    throw Error(Errc::kExists,
                "'" + path_ + "' is " + std::string(FileTypeName(there.st_mode)) +
                    ": only a regular file is replaced",
                EEXIST);
  }
  fd_ = CreateTemp(path_, temp_path_, cleanup_slot_);
  struct stat old {};
  if (::stat(path_.c_str(), &old) == 0 && S_ISREG(old.st_mode)) {
    ::fchmod(fd_.get(), old.st_mode & 07777);  // best effort: keep the old permissions
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) ::unlink(temp_path_.c_str());
  UnregisterTempFile(cleanup_slot_);
}

void AtomicFile::Commit() {
  ThrowIfFailed(::fsync(fd_.get()), "cannot sync " + temp_path_);
  fd_.Close(temp_path_);
  ThrowIfFailed(::rename(temp_path_.c_str(), path_.c_str()),
                "cannot rename " + temp_path_ + " to " + path_);
  committed_ = true;
  UnregisterTempFile(cleanup_slot_);
  cleanup_slot_ = kNoTempFileSlot;
  const std::string dir = DirName(path_);
  ScopedFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.valid()) ThrowIfFailed(::fsync(dir_fd.get()), "cannot sync directory " + dir);
}

}  // namespace tpkg
