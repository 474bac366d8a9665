#include "tpkg/record_path.h"

#include <cstdio>

#include "base/utf8.h"

namespace tpkg {
namespace {

constexpr size_t kQuoteLimit = 200;

RecordPathProblem Invalid(std::string_view why) { return {why, false}; }
RecordPathProblem TooLong(std::string_view why) { return {why, true}; }
RecordPathProblem NotUtf8(std::string_view why) { return {why, false, true}; }

// The verdict on one '/'-separated component; `first` is the leftmost one.
RecordPathProblem ComponentProblem(std::string_view part, bool first,
                                   const RecordPathRules& rules) {
  if (part.empty()) return Invalid("empty path component");
  if (part == "..") return Invalid("'..' path component");
  if (part == "." && !(first && rules.dot_prefix_folder)) return Invalid("'.' path component");
  if (part.find('\0') != std::string_view::npos) return Invalid("name contains a NUL byte");
  if (rules.utf8 && FindInvalidUtf8(part) != std::string_view::npos) {
    return NotUtf8("name is not valid UTF-8");
  }
  if (rules.name_max && part.size() > kRecordNameMax) {
    return TooLong("path component longer than 255 bytes");
  }
  return {};
}

}  // namespace

RecordPathProblem CheckRecordPath(std::string_view path, const RecordPathRules& rules) {
  if (path.empty()) return Invalid("empty name");
  // Whatever the rules: a ZIP header keeps a name's length in 16 bits.
  if (path.size() > kZipNameMax) return TooLong("name longer than 65535 bytes, a ZIP's limit");
  if (rules.path_max && path.size() > kRecordPathMax) {
    return TooLong("path longer than 4095 bytes");
  }
  if (path.front() == '/') return Invalid("absolute name");
  if (rules.directory_entry && path.back() == '/') path.remove_suffix(1);
  size_t start = 0;
  for (bool first = true;; first = false) {
    const size_t slash = path.find('/', start);
    const std::string_view part =
        path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    if (RecordPathProblem p = ComponentProblem(part, first, rules)) return p;
    if (slash == std::string_view::npos) return {};
    start = slash + 1;
  }
}

std::string QuoteName(std::string_view name) {
  std::string out = "'";
  for (const char c : name.substr(0, kQuoteLimit)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out += hex;
    }
  }
  if (name.size() > kQuoteLimit) out += "...";
  return out + "'";
}

}  // namespace tpkg
