// line_escape.h: keep a value on one line of a text file (the save log, the
// daemon's mount records): a backslash becomes "\\" and a newline "\n".
//
//   out << "archive=" << tpkg::EscapeLine(path) << "\n";
//   std::string path = tpkg::UnescapeLine(value);   // the exact bytes again
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace tpkg {

std::string EscapeLine(std::string_view value);
std::string UnescapeLine(std::string_view text);

}  // namespace tpkg
