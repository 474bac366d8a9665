#include "scan/source_encoding.h"

#include <iconv.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <utility>
#include <vector>

#include "base/utf8.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

// kTextEncodingModules and kEncodingAliases of the configured interpreter
// (generated at build time by scripts/gen_python_env_tables.py --codecs).
#include "scan/configured_codecs.inc"

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

// Whether CPython's tokenizer decodes a source declaring `name`: its own
// spellings of utf-8 and latin-1 (tokenizer.c get_normal_name: the first 12
// characters, lower case, '_' as '-'), else what codecs.lookup finds as a
// text encoding: lower case with spaces and hyphens as '_' (Python 3.9+),
// then encodings.normalize_encoding (other runs of punctuation but '.' as one
// '_', none at the ends), then that name's alias or the name itself, as a
// module of the `encodings` package.
bool PythonDecodesWith(std::string_view name) {
  std::string head;
  for (size_t i = 0; i < name.size() && i < 12; ++i)
    head +=
        name[i] == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
  for (const std::string_view own : {"utf-8", "latin-1", "iso-8859-1", "iso-latin-1"}) {
    if (head == own || head.starts_with(std::string(own) + "-")) return true;
  }
  std::string normal;
  bool punctuation = false;
  for (const char c : name) {
    const bool alnum = std::isalnum(static_cast<unsigned char>(c)) != 0;
    if (alnum || c == '.') {
      if (punctuation && !normal.empty()) normal += '_';
      normal += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      punctuation = false;
    } else {
      punctuation = true;  // '-', '_', ' ' and the rest
    }
  }
  std::string underscored = normal;
  std::replace(underscored.begin(), underscored.end(), '.', '_');
  auto alias_of = [](std::string_view key) -> std::string_view {
    for (const auto& [alias, module] : kEncodingAliases) {
      if (alias == key) return module;
    }
    return {};
  };
  std::string_view alias = alias_of(normal);
  if (alias.empty()) alias = alias_of(underscored);
  for (const std::string_view module : {alias, std::string_view(normal)}) {
    if (module.empty() || module.find('.') != std::string_view::npos) continue;
    if (std::find(std::begin(kTextEncodingModules), std::end(kTextEncodingModules), module) !=
        std::end(kTextEncodingModules))
      return true;
  }
  return false;
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

// The declaration and the offset of the line that holds it.
std::optional<std::pair<std::string, size_t>> DeclarationOf(std::string_view source) {
  const size_t bom = source.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  source.remove_prefix(bom);
  const std::string_view first = LineAt(source, 0);
  if (std::optional<std::string> cookie = CookieOf(first)) return std::pair(*cookie, size_t{0});
  if (!BlankOrComment(first) || first.size() >= source.size()) return std::nullopt;
  size_t next = first.size() + 1;  // past \n, \r or \r\n
  if (source[first.size()] == '\r' && next < source.size() && source[next] == '\n') ++next;
  if (std::optional<std::string> cookie = CookieOf(LineAt(source, next)))
    return std::pair(*cookie, bom + next);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> DeclaredSourceEncoding(std::string_view source) {
  std::optional<std::pair<std::string, size_t>> declaration = DeclarationOf(source);
  if (!declaration) return std::nullopt;
  return std::move(declaration->first);
}

std::string_view SourceAsUtf8(std::string_view source, std::string& converted) {
  const std::optional<std::pair<std::string, size_t>> declaration = DeclarationOf(source);
  const std::optional<std::string> declared =
      declaration ? std::optional<std::string>(declaration->first) : std::nullopt;
  if (declared && !PythonDecodesWith(*declared))
    Fail(source, declaration->second, "unknown encoding: " + *declared);
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
  // can declare keeps ASCII as it is, so the import statements read right.
  converted.clear();
  for (const char c : source) AppendUtf8(static_cast<unsigned char>(c), converted);
  return converted;
}
}  // namespace tpkg
