#include "scan/source_encoding.h"

#include <iconv.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <vector>

#include "base/utf8.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

[[noreturn]] void Fail(std::string_view source, size_t offset, const std::string& reason) {
  const auto line =
      1 + std::count(source.begin(), source.begin() + static_cast<ptrdiff_t>(offset), '\n');
  throw Error(Errc::kInvalidArgument, "line " + std::to_string(line) + ": " + reason);
}

// Owns an iconv conversion descriptor.
class IconvHandle {
 public:
  explicit IconvHandle(iconv_t cd) : cd_(cd) {}
  ~IconvHandle() {
    if (valid()) ::iconv_close(cd_);
  }
  IconvHandle(const IconvHandle&) = delete;
  IconvHandle& operator=(const IconvHandle&) = delete;
  bool valid() const { return cd_ != reinterpret_cast<iconv_t>(-1); }
  iconv_t get() const { return cd_; }

 private:
  iconv_t cd_;
};

// A line ends at \n or at a lone \r (an old Mac file: torch's importer
// turns it into \n before it compiles).
std::string_view LineAt(std::string_view source, size_t start) {
  const size_t end = source.find_first_of("\r\n", start);
  return source.substr(start, end == std::string_view::npos ? source.size() - start : end - start);
}

// PEP 263: ^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)
std::optional<std::string> CookieOf(std::string_view line) {
  size_t i = line.find_first_not_of(" \t\f");
  if (i == std::string_view::npos || line[i] != '#') return std::nullopt;
  for (size_t at = line.find("coding", i); at != std::string_view::npos;
       at = line.find("coding", at + 1)) {
    size_t j = at + 6;
    if (j >= line.size() || (line[j] != ':' && line[j] != '=')) continue;
    ++j;
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
    size_t k = j;
    while (k < line.size() && (std::isalnum(static_cast<unsigned char>(line[k])) ||
                               line[k] == '-' || line[k] == '_' || line[k] == '.'))
      ++k;
    if (k > j) return std::string(line.substr(j, k - j));
  }
  return std::nullopt;
}

// CPython's blank_re: a line that holds nothing but maybe a comment.
bool BlankOrComment(std::string_view line) {
  const size_t i = line.find_first_not_of(" \t\f");
  return i == std::string_view::npos || line[i] == '#' || line[i] == '\r';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsUtf8Name(std::string_view name) {
  std::string n = Lower(name);
  std::replace(n.begin(), n.end(), '_', '-');
  return n == "utf-8" || n == "utf8" || n.starts_with("utf-8-") || n == "utf8-sig";
}

// iconv's names for a Python codec name: "latin-1" is iconv's "LATIN1",
// "shift_jis" its "SHIFT_JIS", "euc_jp" its "EUC-JP".
std::vector<std::string> IconvNames(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string dashed = upper;
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  std::string bare;
  for (char c : upper)
    if (c != '-' && c != '_') bare += c;
  return {upper, dashed, bare};
}

}  // namespace

std::optional<std::string> DeclaredSourceEncoding(std::string_view source) {
  if (source.starts_with("\xEF\xBB\xBF")) source.remove_prefix(3);
  const std::string_view first = LineAt(source, 0);
  if (std::optional<std::string> cookie = CookieOf(first)) return cookie;
  if (!BlankOrComment(first) || first.size() >= source.size()) return std::nullopt;
  size_t next = first.size() + 1;  // past \n, \r or \r\n
  if (source[first.size()] == '\r' && next < source.size() && source[next] == '\n') ++next;
  return CookieOf(LineAt(source, next));
}

std::string_view SourceAsUtf8(std::string_view source, std::string& converted) {
  const std::optional<std::string> declared = DeclaredSourceEncoding(source);
  if (declared && !IsUtf8Name(*declared) && source.starts_with("\xEF\xBB\xBF"))
    Fail(source, 0, "encoding problem: " + *declared + " with BOM");
  const size_t bad = FindInvalidUtf8(source);
  if (bad == std::string_view::npos) return source;
  if (!declared || IsUtf8Name(*declared)) Fail(source, bad, "source is not valid UTF-8");
  for (const std::string& name : IconvNames(*declared)) {
    const IconvHandle cd(::iconv_open("UTF-8", name.c_str()));
    if (!cd.valid()) continue;
    converted.assign(source.size() * 2 + 16, '\0');
    char* in = const_cast<char*>(source.data());  // iconv's signature; it does not write
    size_t in_left = source.size();
    size_t done = 0;
    for (;;) {
      char* out = converted.data() + done;
      size_t out_left = converted.size() - done;
      const size_t rc = ::iconv(cd.get(), &in, &in_left, &out, &out_left);
      done = converted.size() - out_left;
      if (rc != static_cast<size_t>(-1)) break;
      if (errno != E2BIG) {
        Fail(source, static_cast<size_t>(in - source.data()),
             "source is not valid " + *declared + " (its coding declaration)");
      }
      converted.resize(converted.size() * 2);  // room for what is left
    }
    converted.resize(done);
    converted.shrink_to_fit();
    return converted;
  }
  // A name Python knows and iconv does not (mac_roman, latin, cp65001, ...):
  // each byte as the character it is in latin-1. Every encoding a source
  // can declare keeps ASCII as it is, so the import statements read right;
  // a name nobody knows, which CPython refuses, is accepted (errs towards
  // accepting).
  converted.clear();
  for (const char c : source) AppendUtf8(static_cast<unsigned char>(c), converted);
  return converted;
}
}  // namespace tpkg
