// CheckTorchRecords: the version and extern-module records (tpkg/torch_records.h).
#include "tpkg/torch_records.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "base/utf8.h"
#include "package/load_checks.h"
#include "scan/py_name_bytes.h"
#include "zip/zip_names.h"
#include "zip/zip_problems.h"

namespace tpkg {
namespace {

constexpr size_t kVersionPrefix = 64;  // torch's versions are a few digits

bool IsTorchArchive(const ZipReader& zip) {
  for (const ZipEntry& e : zip.entries()) {
    if (e.name.starts_with(".data/") || e.name == "data.pkl") return true;
  }
  return false;
}

std::string ReadPrefix(const ZipReader& zip, const ZipEntry& e, size_t n) {
  std::string out(static_cast<size_t>(std::min<uint64_t>(n, e.size)), '\0');
  out.resize(zip.ReadAt(e, 0, std::span<char>(out.data(), out.size())));
  return out;
}

void CheckVersionRecord(const ZipReader& zip, std::vector<Error>& found) {
  // PyTorchStreamReader reads `.data/version`, or else `version`.
  const ZipEntry* e = zip.Find(".data/version");
  if (!e) e = zip.Find("version");
  if (!e) {
    found.emplace_back(Errc::kCorrupt,
                       ArchiveMessage(zip.path(),
                                      "no record '.data/version' or 'version': torch's reader "
                                      "refuses an archive without one"));
    return;
  }
  const std::optional<uint64_t> v = ParseTorchVersion(ReadPrefix(zip, *e, kVersionPrefix));
  if (!v) {
    found.emplace_back(Errc::kCorrupt, RecordMessage(zip.path(), e->full_name,
                                                     "not a number, torch cannot parse it"));
  } else if (*v < kMinSupportedVersion || *v > kMaxSupportedVersion) {
    found.emplace_back(Errc::kUnsupported,
                       RecordMessage(zip.path(), e->full_name,
                                     "version " + std::to_string(*v) + ", and torch loads " +
                                         std::to_string(kMinSupportedVersion) + " to " +
                                         std::to_string(kMaxSupportedVersion)));
  }
}

// A dotted Python name ("a.b_c"); any non-ASCII character counts as a letter
// (the text is known to be UTF-8; Python's own rule is looser than the
// byte-level view can tell, and never matters for what torch writes).
bool IsDottedName(std::string_view line) {
  bool at_start = true;
  for (const char ch : line) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '.') {
      if (at_start) return false;
      at_start = true;
    } else if (at_start ? py::IsNameStartByte(c) : py::IsNameByte(c)) {
      at_start = false;
    } else {
      return false;
    }
  }
  return !at_start;
}

void CheckExternModules(const ZipReader& zip, std::vector<Error>& found) {
  const ZipEntry* e = zip.Find(".data/extern_modules");
  if (!e) return;
  auto refuse = [&](const std::string& why) {
    found.emplace_back(Errc::kCorrupt, RecordMessage(zip.path(), e->full_name, why));
  };
  if (e->size > kMaxExternModulesBytes) {
    return refuse(std::to_string(e->size) + " bytes, more than the " +
                  std::to_string(kMaxExternModulesBytes) +
                  " a list of module names needs (torch writes one name a line)");
  }
  const std::string text = zip.ReadAll(*e);
  if (const size_t bad = FindInvalidUtf8(text); bad != std::string::npos) {
    return refuse("not UTF-8 (byte " + std::to_string(bad) +
                  "), torch's PackageImporter cannot decode it");
  }
  size_t line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find_first_of("\r\n", start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line = std::string_view(text).substr(start, end - start);
    ++line_no;
    if (!line.empty() && !IsDottedName(line)) {
      return refuse("line " + std::to_string(line_no) + " is not a dotted module name (" +
                    QuoteName(line) + ")");
    }
    start = end + ((end + 1 < text.size() && text[end] == '\r' && text[end + 1] == '\n') ? 2 : 1);
  }
}

}  // namespace

std::optional<uint64_t> ParseTorchVersion(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r'))) ++i;
  if (i < text.size() && text[i] == '+') ++i;
  uint64_t value = 0;
  size_t digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
    if (value > (UINT64_MAX - 9) / 10) return UINT64_MAX;  // strtoull saturates
    value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  return value;
}

std::vector<Error> CheckTorchRecords(const ZipReader& zip) {
  std::vector<Error> found;
  if (!IsTorchArchive(zip)) return found;
  CheckVersionRecord(zip, found);
  CheckExternModules(zip, found);
  return found;
}

}  // namespace tpkg
