// error.h: the only error vocabulary of libtpkg.
//
// Every failure in the library is a tpkg::Error carrying a category (Errc),
// a message that names the offending path/record and the reason, and the OS
// errno when one caused it. Errors cross each boundary exactly once:
// ToErrno() at the FUSE boundary, an exit code in main(), a Python exception
// in the bindings (switching on code(), never on message text).
//
//   try { auto r = tpkg::ZipReader::Open("model.pt"); }
//   catch (const tpkg::Error& e) { std::cerr << e.what() << "\n"; return 1; }
//
// Thread safety: Error is an immutable value type.
#pragma once

#include <stdexcept>
#include <string>

namespace tpkg {

enum class Errc {
  kNotFound,         // ENOENT
  kExists,           // EEXIST
  kNotDir,           // ENOTDIR
  kIsDir,            // EISDIR
  kNotEmpty,         // ENOTEMPTY
  kInvalidArgument,  // EINVAL
  kNameTooLong,      // ENAMETOOLONG
  kPermission,       // EPERM / EACCES (see sys_errno)
  kNoSpace,          // ENOSPC / EDQUOT
  kReadOnly,         // EROFS
  kCorrupt,          // EIO: the archive's bytes are not what they claim
  kUnsupported,      // ENOTSUP: valid ZIP feature torch cannot read
  kPolicy,           // a packaging rule refused the content (not an OS error)
  kIo,               // any other OS error; sys_errno says which
};

class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message, int sys_errno = 0)
      : std::runtime_error(message), code_(code), sys_errno_(sys_errno) {}

  Errc code() const noexcept { return code_; }
  // The errno that caused this error, or 0 when none did.
  int sys_errno() const noexcept { return sys_errno_; }

 private:
  Errc code_;
  int sys_errno_;
};

// The single Errc -> errno table. Prefers sys_errno() when it is set.
int ToErrno(const Error& e) noexcept;

// The category that best describes an OS errno (ENOENT -> kNotFound, ...).
Errc ErrcFromErrno(int err) noexcept;

// Throws Error(ErrcFromErrno(err), what + ": " + strerror(err), err).
// Capture errno before any cleanup call: `const int err = errno;`.
[[noreturn]] void ThrowSystemError(const std::string& what, int err);

}  // namespace tpkg
