// json_text.h: minimal JSON string quoting for the test-only dump tools.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace tpkg::test {

// Quotes `s` as a JSON string. Bytes >= 0x80 pass through unchanged (the
// inputs are UTF-8); control characters are \u-escaped.
inline std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A JSON array of strings: ["a", "b"].
inline std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + JsonString(items[i]);
  return out + "]";
}

}  // namespace tpkg::test
