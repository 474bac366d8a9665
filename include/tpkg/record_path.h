// record_path.h: the one rule book for record names and record paths.
//
// The ZIP reader and writer (full names, prefix folder included), the
// journal (paths in a read/write mount) and the daemon's tree (paths in a
// read-only mount) all ask CheckRecordPath; each says which of the optional
// rules apply to it.
//
//   | path                 | verdict                                          |
//   | -------------------- | ------------------------------------------------ |
//   | `model/a/b.py`       | ok                                               |
//   | ``                   | empty name                                       |
//   | `/model/a.py`        | absolute name                                    |
//   | `model//a.py`        | empty path component                             |
//   | `model/../a.py`      | '..' path component                              |
//   | `model/./a.py`       | '.' path component                               |
//   | `model/a\0.py`       | name contains a NUL byte                         |
//   | `./a.py`             | ok with `dot_prefix_folder`, else '.' component  |
//   | `model/a/`           | ok with `directory_entry`, else empty component  |
//   | 256-byte component   | too long with `name_max` (NAME_MAX)              |
//   | 4096-byte path       | too long with `path_max` (PATH_MAX)              |
//   | `model/a\xff.py`     | not valid UTF-8 with `utf8`                      |
//
// The first problem met wins: empty name, path length, absolute name, then
// each component in order (form, NUL byte, UTF-8, length).
//
//   if (tpkg::RecordPathProblem p = tpkg::CheckRecordPath(name); p) refuse(p.why);
//
// Thread safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tpkg {

inline constexpr size_t kRecordNameMax = 255;   // NAME_MAX: one component
inline constexpr size_t kRecordPathMax = 4095;  // PATH_MAX without its NUL
inline constexpr size_t kZipNameMax = 65535;    // a ZIP header's 16-bit name length

struct RecordPathRules {
  // The first component may be "." (a ZIP full name whose prefix folder is ".").
  bool dot_prefix_folder = false;
  // One trailing '/' is accepted (a ZIP directory entry).
  bool directory_entry = false;
  // A component longer than kRecordNameMax bytes is refused: the kernel
  // cannot show it in a mount.
  bool name_max = false;
  // A path longer than kRecordPathMax bytes is refused.
  bool path_max = false;
  // A component that is not valid UTF-8 is refused: the writer flags every
  // name UTF-8 (as torch does), and Python's zipfile and torch cannot open
  // an archive whose flagged name does not decode.
  bool utf8 = false;
};

struct RecordPathProblem {
  std::string_view why;   // "" when the path is fine; a static string otherwise
  bool too_long = false;  // a length rule (ENAMETOOLONG) rather than the form (EINVAL)
  bool not_utf8 = false;  // the `utf8` rule (EILSEQ)
  explicit operator bool() const { return !why.empty(); }
};

RecordPathProblem CheckRecordPath(std::string_view path, const RecordPathRules& rules = {});

// `name` in single quotes, bytes outside printable ASCII escaped as \xNN, cut
// after 200 bytes: safe to put into a one-line message, whatever the name.
std::string QuoteName(std::string_view name);

}  // namespace tpkg
