#include "tpkg/error.h"

#include <cerrno>
#include <cstring>

namespace tpkg {

int ToErrno(const Error& e) noexcept {
  if (e.sys_errno() != 0) return e.sys_errno();
  switch (e.code()) {
    case Errc::kNotFound: return ENOENT;
    case Errc::kExists: return EEXIST;
    case Errc::kNotDir: return ENOTDIR;
    case Errc::kIsDir: return EISDIR;
    case Errc::kNotEmpty: return ENOTEMPTY;
    case Errc::kInvalidArgument: return EINVAL;
    case Errc::kNameTooLong: return ENAMETOOLONG;
    case Errc::kPermission: return EPERM;
    case Errc::kNoSpace: return ENOSPC;
    case Errc::kReadOnly: return EROFS;
    case Errc::kCorrupt: return EIO;
    case Errc::kUnsupported: return ENOTSUP;
    case Errc::kPolicy: return EPERM;
    case Errc::kIo: return EIO;
  }
  return EIO;
}

Errc ErrcFromErrno(int err) noexcept {
  switch (err) {
    case ENOENT: return Errc::kNotFound;
    case EEXIST: return Errc::kExists;
    case ENOTDIR: return Errc::kNotDir;
    case EISDIR: return Errc::kIsDir;
    case ENOTEMPTY: return Errc::kNotEmpty;
    case EINVAL: return Errc::kInvalidArgument;
    case ENAMETOOLONG: return Errc::kNameTooLong;
    case EPERM:
    case EACCES: return Errc::kPermission;
    case ENOSPC:
    case EDQUOT: return Errc::kNoSpace;
    case EROFS: return Errc::kReadOnly;
    case ENOTSUP: return Errc::kUnsupported;
    default: return Errc::kIo;
  }
}

void ThrowSystemError(const std::string& what, int err) {
  throw Error(ErrcFromErrno(err), what + ": " + std::strerror(err), err);
}

}  // namespace tpkg
