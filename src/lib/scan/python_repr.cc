// python_repr.cc: CPython's repr() rules for the disassembler (scan/python_repr.h).
#include "scan/python_repr.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "base/utf8.h"

namespace tpkg::pickle {
namespace {

// CPython refuses int <-> str conversions longer than this by default
// (sys.get_int_max_str_digits()).
constexpr size_t kMaxIntDigits = 4300;

// str.isprintable() for code points outside ASCII: the separators, format
// and control characters, surrogates and private use areas CPython's
// database marks non-printable. Unassigned code points (also non-printable
// there) are not known here and print as themselves.
bool IsPrintableNonAscii(uint32_t cp) {
  if (cp <= 0xA0 || cp == 0xAD || cp == 0x61C || cp == 0x6DD || cp == 0x70F || cp == 0x180E ||
      cp == 0x1680 || cp == 0x3000 || cp == 0xFEFF || cp == 0xE0001)
    return false;
  if ((cp >= 0x600 && cp <= 0x605) || (cp >= 0x2000 && cp <= 0x200F) ||
      (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) ||
      (cp >= 0xD800 && cp <= 0xF8FF) || (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp & 0xFFFE) == 0xFFFE)
    return false;
  if (cp >= 0xE0020 && cp <= 0xE007F) return false;
  return cp < 0xF0000;
}

void AppendHex(std::string& out, const char* prefix, uint32_t value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s%0*x", prefix, digits, value);
  out += buf;
}

// UTF-8 with 'surrogatepass': encoded surrogates are code points too.
std::optional<std::vector<uint32_t>> DecodeUtf8(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    int extra = b < 0x80             ? 0
                : (b & 0xE0) == 0xC0 ? 1
                : (b & 0xF0) == 0xE0 ? 2
                : (b & 0xF8) == 0xF0 ? 3
                                     : -1;
    if (extra < 0 || i + static_cast<size_t>(extra) >= s.size() + (extra == 0 ? 1 : 0))
      return std::nullopt;
    uint32_t cp = extra == 0 ? b : b & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      const auto c = static_cast<uint8_t>(s[i + static_cast<size_t>(k)]);
      if ((c & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF) return std::nullopt;
    out.push_back(cp);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

std::string ReprCodePoints(const std::vector<uint32_t>& cps, bool ascii_only) {
  bool has_single = false;
  bool has_double = false;
  for (uint32_t cp : cps) {
    has_single |= cp == '\'';
    has_double |= cp == '"';
  }
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (uint32_t cp : cps) {
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7F) {
      AppendHex(out, "\\x", cp, 2);
    } else if (cp < 0x7F) {
      out += static_cast<char>(cp);
    } else if (!ascii_only && IsPrintableNonAscii(cp)) {
      AppendUtf8(cp, out);  // base/utf8.h: surrogates as-is, as CPython's str holds them
    } else if (cp < 0x100) {
      AppendHex(out, "\\x", cp, 2);
    } else if (cp < 0x10000) {
      AppendHex(out, "\\u", cp, 4);
    } else {
      AppendHex(out, "\\U", cp, 8);
    }
  }
  return out + quote;
}

// Decimal digits of a magnitude held in base-2^32 limbs (least significant first).
std::string LimbsToDecimal(std::vector<uint32_t> limbs) {
  std::string digits;
  while (!limbs.empty()) {
    uint64_t rem = 0;
    for (size_t i = limbs.size(); i-- > 0;) {
      const uint64_t cur = (rem << 32) | limbs[i];
      limbs[i] = static_cast<uint32_t>(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
    for (int k = 0; k < 9; ++k) {
      digits += static_cast<char>('0' + rem % 10);
      rem /= 10;
      if (limbs.empty() && rem == 0) break;
    }
  }
  if (digits.empty()) digits.push_back('0');
  return std::string(digits.rbegin(), digits.rend());
}

}  // namespace

std::optional<std::string> ReprStr(std::string_view utf8, bool ascii_only) {
  std::optional<std::vector<uint32_t>> cps = DecodeUtf8(utf8);
  if (!cps) return std::nullopt;
  return ReprCodePoints(*cps, ascii_only);
}

std::string ReprLatin1(std::string_view bytes, bool ascii_only) {
  std::vector<uint32_t> cps(bytes.begin(), bytes.end());
  for (uint32_t& cp : cps) cp &= 0xFF;
  return ReprCodePoints(cps, ascii_only);
}

std::string ReprBytes(std::string_view bytes) {
  const bool has_single = bytes.find('\'') != std::string_view::npos;
  const bool has_double = bytes.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out = "b";
  out += quote;
  for (char ch : bytes) {
    const auto c = static_cast<uint8_t>(ch);
    if (c == static_cast<uint8_t>(quote) || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c >= 0x7F) {
      AppendHex(out, "\\x", c, 2);
    } else {
      out += ch;
    }
  }
  return out + quote;
}

std::string ReprFloat(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  // The shortest digits that round-trip, as "d.ddde+XX".
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, result.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  const int exponent = std::atoi(sci.c_str() + e + 1);
  std::string digits = sci.substr(0, e);
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  const int decpt = exponent + 1;             // digits[0:decpt] is the integer part
  std::string out;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out = "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out = digits + std::string(static_cast<size_t>(decpt) - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(decpt)) + "." +
            digits.substr(static_cast<size_t>(decpt));
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    const int exp = decpt - 1;
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += exp_buf;
  }
  return sign + out;
}

std::optional<std::string> ReprLong(std::string_view le) {
  if (le.empty()) return "0";
  const bool negative = (static_cast<uint8_t>(le.back()) & 0x80) != 0;
  std::vector<uint8_t> bytes(le.begin(), le.end());
  if (negative) {  // magnitude = two's complement negation
    bool carry = true;
    for (uint8_t& b : bytes) {
      b = static_cast<uint8_t>(~b);
      if (carry) carry = ++b == 0;
    }
  }
  while (!bytes.empty() && bytes.back() == 0) bytes.pop_back();
  // 1800 bytes hold at least 10^4332: over the limit whatever they are.
  if (bytes.size() > 1800) return std::nullopt;
  std::vector<uint32_t> limbs((bytes.size() + 3) / 4, 0);
  for (size_t i = 0; i < bytes.size(); ++i) limbs[i / 4] |= uint32_t{bytes[i]} << (8 * (i % 4));
  std::string digits = LimbsToDecimal(std::move(limbs));
  if (digits.size() > kMaxIntDigits) return std::nullopt;
  std::string out = negative && digits != "0" ? "-" : "";
  out += digits;
  return out;
}

std::optional<std::string> ReprDecimal(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  bool negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  std::string digits;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c == '_' && i > 0 && i + 1 < text.size() && text[i - 1] != '_' &&
               text[i + 1] >= '0' && text[i + 1] <= '9') {
      continue;
    } else {
      return std::nullopt;
    }
  }
  if (digits.empty() || digits.size() > kMaxIntDigits) return std::nullopt;
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return "0";
  std::string out = negative ? "-" : "";
  out.append(digits, first);
  return out;
}

}  // namespace tpkg::pickle
