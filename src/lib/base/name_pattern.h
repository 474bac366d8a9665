// name_pattern.h (private): name patterns of dotted names, where '*' matches
// any run of characters, dots included ("torch.*Storage"): the scan policy's
// lists and the globals a save refuses (scan/command_globals.h).
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

namespace tpkg {

// Iterative glob match with one backtrack point: linear in practice, never
// exponential, whatever the pattern.
inline bool MatchNamePattern(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace tpkg
