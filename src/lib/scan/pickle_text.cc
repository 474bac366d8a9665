// pickle_text.cc: protocol 0 text operand decoders.
#include "scan/pickle_text.h"

#include "base/utf8.h"
#include "scan/backslash_escapes.h"

namespace tpkg::pickle {
namespace {

int DigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

int BaseFromPrefix(std::string_view& digits) {
  if (digits.size() < 2 || digits[0] != '0') return 10;
  char p = static_cast<char>(digits[1] | 0x20);
  int base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 10;
  if (base != 10) digits.remove_prefix(2);
  return base;
}

}  // namespace

ParsedInt ParseTextInt(std::string_view text, bool allow_prefix, bool allow_l_suffix) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  if (allow_l_suffix && !text.empty() && text.back() == 'L') text.remove_suffix(1);
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  int base = allow_prefix ? BaseFromPrefix(text) : 10;
  ParsedInt out;
  if (text.empty()) return out;
  uint64_t magnitude = 0;
  for (char c : text) {
    int d = DigitValue(c);
    if (d >= base) return out;
    if (magnitude > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base))
      out.big = true;
    magnitude = magnitude * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  out.valid = true;
  if (out.big || magnitude > static_cast<uint64_t>(INT64_MAX) + (negative ? 1 : 0)) {
    out.big = true;
    return out;
  }
  out.value = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return out;
}

// clang-format off
std::optional<std::string> DecodeQuotedString(std::string_view text) {
  if (text.size() < 2 || text.front() != text.back() || (text.front() != '\'' && text.front() != '"'))
    return std::nullopt;
  text = text.substr(1, text.size() - 2);
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '\\' || i + 1 == text.size()) {
      out += c;
      continue;
    }
    char e = text[++i];
    if (auto simple = SimpleEscape(e)) {
      out += *simple;
      continue;
    }
    switch (e) {
      case '\n': break;
      case 'x': {
        int64_t v = ReadHexDigits(text, i + 1, 2);
        if (v < 0) return std::nullopt;  // escape_decode: "invalid \x escape"
        out += static_cast<char>(v);
        i += 2;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0';
          for (int k = 0; k < 2 && i + 1 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '7'; ++k)
            v = v * 8 + (text[++i] - '0');
          out += static_cast<char>(v & 0xFF);
        } else {
          out += '\\';  // unknown escapes are kept verbatim
          out += e;
        }
    }
  }
  return out;
}
// clang-format on

std::optional<std::string> DecodeRawUnicodeEscape(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<uint8_t>(text[i]);
    if (c != '\\') {
      AppendUtf8(c, out);
      ++i;
      continue;
    }
    // Like CPython: a run of backslashes is literal, except that an odd run
    // followed by 'u'/'U' turns its last backslash into an escape.
    size_t run = 0;
    while (i < text.size() && text[i] == '\\') ++run, ++i;
    out.append(run, '\\');
    if (run % 2 == 0 || i >= text.size() || (text[i] != 'u' && text[i] != 'U')) continue;
    out.pop_back();
    int digits = text[i] == 'u' ? 4 : 8;
    int64_t cp = ReadHexDigits(text, i + 1, digits);
    if (cp < 0 || !AppendUtf8(static_cast<uint32_t>(cp), out)) return std::nullopt;
    i += 1 + static_cast<size_t>(digits);
  }
  return out;
}

}  // namespace tpkg::pickle
