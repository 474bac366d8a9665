// line_escape.h: keep a value on one line of a text file (the save log, the
// daemon's mount records): a backslash becomes "\\" and a newline "\n"; and
// a path as one word of a shell command in a message.
//
//   out << "archive=" << tpkg::EscapeLine(path) << "\n";
//   std::string path = tpkg::UnescapeLine(value);   // the exact bytes again
//   "run `tpkg edits --discard " + tpkg::ShellWord(path) + "`"
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace tpkg {

std::string EscapeLine(std::string_view value);
std::string UnescapeLine(std::string_view text);
// `path` as one word of a shell command the user may paste: as it is when it
// holds only characters no shell treats specially, else single-quoted.
std::string ShellWord(const std::string& path);

}  // namespace tpkg
