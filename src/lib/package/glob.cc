// GlobGroup: torch's patterns compiled to a tiny Thompson NFA.
//
// torch turns each pattern into a Python regex (`\.torch(\.[^.]+)*`) and
// calls fullmatch(). We compile the same three building blocks (literal
// text, `[^sep]*` for `*`, `(sep[^sep]+)*` for `**`) into a handful of NFA
// instructions and run them with a Pike VM instead of std::regex, because:
//   * the result is the regex's exact language, for any separator, with no
//     translation of escapes to get wrong;
//   * a Pike VM takes O(len(name) * len(pattern)) time whatever the input,
//     while std::regex backtracks (exponential on `a*a*a*a*b`-style patterns)
//     and recurses per character in libstdc++ (stack overflow on long names);
//   * patterns are matched for every module the exporter meets, so speed matters.
// Matching is done on Unicode code points, as Python's `re` does on str.
#include "tpkg/glob.h"

#include <cstdint>
#include <utility>

#include "tpkg/error.h"

namespace tpkg {
namespace {

// One UTF-8 decoding pass; invalid bytes map to U+DC80..U+DCFF (Python's
// surrogateescape), so they stay distinct and never crash the matcher.
std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      ok = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (!ok) {
      out.push_back(0xDC00 + b);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void AppendUtf8(std::string& out, char32_t c) {
  if (c >= 0xDC80 && c <= 0xDCFF) {  // an invalid byte kept by DecodeUtf8
    out.push_back(static_cast<char>(c - 0xDC00));
  } else if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

enum class Op : uint8_t { kChar, kNotSep, kSplit, kJump, kMatch };

struct Inst {
  Op op;
  char32_t c = 0;  // kChar
  int x = 0;       // kSplit / kJump target
  int y = 0;       // kSplit second target
};

// A compiled pattern: instructions plus the separator's character set
// (torch writes `[^` + separator + `]`, a class of the separator's characters).
class Program {
 public:
  Program(std::string_view pattern, const std::u32string& sep, std::string_view sep_utf8)
      : sep_(sep) {
    size_t start = 0;
    while (true) {  // pattern.split(separator)
      const size_t end = pattern.find(sep_utf8, start);
      CompileComponent(pattern.substr(start, end == std::string_view::npos ? end : end - start));
      if (end == std::string_view::npos) break;
      start = end + sep_utf8.size();
    }
    insts_.push_back({Op::kMatch});
  }

  bool FullMatch(const std::u32string& text) const;

 private:
  int Here() const { return static_cast<int>(insts_.size()); }
  void EmitLiteral(const std::u32string& text) {
    for (char32_t c : text) insts_.push_back({Op::kChar, c});
  }
  // `[^sep]*`
  void EmitStar() {
    const int split = Here();
    insts_.push_back({Op::kSplit, 0, split + 1, 0});
    insts_.push_back({Op::kNotSep});
    insts_.push_back({Op::kJump, 0, split});
    insts_[split].y = Here();
  }
  // `(sep[^sep]+)*`
  void EmitDoubleStar() {
    const int loop = Here();
    insts_.push_back({Op::kSplit, 0, loop + 1, 0});
    EmitLiteral(sep_);
    const int segment = Here();
    insts_.push_back({Op::kNotSep});
    insts_.push_back({Op::kSplit, 0, segment, loop});
    insts_[loop].y = Here();
  }
  void CompileComponent(std::string_view component) {
    if (component.find("**") != std::string_view::npos) {
      if (component != "**") {
        throw Error(Errc::kInvalidArgument, "** can only appear as an entire path segment");
      }
      EmitDoubleStar();
      return;
    }
    EmitLiteral(sep_);
    size_t start = 0;
    while (true) {
      const size_t star = component.find('*', start);
      EmitLiteral(DecodeUtf8(
          component.substr(start, star == std::string_view::npos ? star : star - start)));
      if (star == std::string_view::npos) break;
      EmitStar();
      start = star + 1;
    }
  }
  bool IsSep(char32_t c) const { return sep_.find(c) != std::u32string::npos; }
  void AddThread(std::vector<int>& list, std::vector<size_t>& mark, size_t step, int pc) const;

  std::u32string sep_;
  std::vector<Inst> insts_;
};

// Follows kSplit/kJump to the consuming instructions reachable from pc. No
// epsilon cycle exists (every loop body consumes a character), and `mark`
// keeps each instruction at most once per step.
void Program::AddThread(std::vector<int>& list, std::vector<size_t>& mark, size_t step,
                        int pc) const {
  std::vector<int> stack{pc};
  while (!stack.empty()) {
    const int cur = stack.back();
    stack.pop_back();
    if (mark[cur] == step) continue;
    mark[cur] = step;
    const Inst& in = insts_[cur];
    if (in.op == Op::kJump) {
      stack.push_back(in.x);
    } else if (in.op == Op::kSplit) {
      stack.push_back(in.y);
      stack.push_back(in.x);
    } else {
      list.push_back(cur);
    }
  }
}

bool Program::FullMatch(const std::u32string& text) const {
  std::vector<size_t> mark(insts_.size(), SIZE_MAX);
  std::vector<int> current, next;
  AddThread(current, mark, 0, 0);
  for (size_t i = 0; i < text.size() && !current.empty(); ++i) {
    next.clear();
    for (int pc : current) {
      const Inst& in = insts_[pc];
      const bool step =
          (in.op == Op::kChar && in.c == text[i]) || (in.op == Op::kNotSep && !IsSep(text[i]));
      if (step) AddThread(next, mark, i + 1, pc + 1);
    }
    std::swap(current, next);
  }
  for (int pc : current) {
    if (insts_[pc].op == Op::kMatch) return true;
  }
  // `current` holds the threads after the last character only if every
  // character was consumed; an early exit leaves it empty.
  return false;
}

std::string ListRepr(const std::vector<std::string>& items, char open, char close) {
  std::string out(1, open);
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += PythonStrRepr(items[i]);
  }
  if (open == '(' && items.size() == 1) out += ',';
  out += close;
  return out;
}

}  // namespace

GlobPattern::GlobPattern(const char* pattern) : GlobPattern(std::string(pattern)) {}
GlobPattern::GlobPattern(std::string pattern) : patterns_{pattern}, repr_(std::move(pattern)) {}
GlobPattern::GlobPattern(std::vector<std::string> patterns) : repr_(ListRepr(patterns, '[', ']')) {
  patterns_ = std::move(patterns);
}
GlobPattern::GlobPattern(std::initializer_list<std::string> patterns)
    : GlobPattern(std::vector<std::string>(patterns)) {}

GlobPattern GlobPattern::Tuple(std::vector<std::string> patterns) {
  std::string repr = ListRepr(patterns, '(', ')');
  return GlobPattern(std::move(patterns), std::move(repr));
}

GlobPattern GlobPattern::WithRepr(std::vector<std::string> patterns, std::string repr) {
  return GlobPattern(std::move(patterns), std::move(repr));
}

struct GlobGroup::Impl {
  std::vector<Program> include;
  std::vector<Program> exclude;
  std::u32string separator32;
  std::string separator;
  std::string repr;
};

GlobGroup::GlobGroup(GlobPattern include, GlobPattern exclude, std::string separator) {
  if (separator.empty()) throw Error(Errc::kInvalidArgument, "empty separator");
  auto impl = std::make_shared<Impl>();
  impl->separator32 = DecodeUtf8(separator);
  for (const auto& p : include.patterns())
    impl->include.emplace_back(p, impl->separator32, separator);
  for (const auto& p : exclude.patterns())
    impl->exclude.emplace_back(p, impl->separator32, separator);
  impl->separator = std::move(separator);
  impl->repr = "GlobGroup(include=" + include.repr() + ", exclude=" + exclude.repr() + ")";
  impl_ = std::move(impl);
}

bool GlobGroup::Matches(std::string_view candidate) const {
  const std::u32string text = impl_->separator32 + DecodeUtf8(candidate);
  bool included = false;
  for (const auto& p : impl_->include) {
    if (p.FullMatch(text)) {
      included = true;
      break;
    }
  }
  if (!included) return false;
  for (const auto& p : impl_->exclude) {
    if (p.FullMatch(text)) return false;
  }
  return true;
}

const std::string& GlobGroup::ToString() const { return impl_->repr; }
const std::string& GlobGroup::separator() const { return impl_->separator; }

std::string PythonStrRepr(std::string_view utf8) {
  const bool has_single = utf8.find('\'') != std::string_view::npos;
  const bool has_double = utf8.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(1, quote);
  for (char32_t c : DecodeUtf8(utf8)) {
    if (c == static_cast<char32_t>(quote) || c == U'\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == U'\n') {
      out += "\\n";
    } else if (c == U'\r') {
      out += "\\r";
    } else if (c == U'\t') {
      out += "\\t";
    } else if (c >= 0xDC80 && c <= 0xDCFF) {  // lone surrogate from an invalid byte
      out += "\\udc";
      out += kHex[(c >> 4) & 0xF];
      out += kHex[c & 0xF];
    } else if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) {
      out += "\\x";
      out += kHex[(c >> 4) & 0xF];
      out += kHex[c & 0xF];
    } else {
      AppendUtf8(out, c);
    }
  }
  out += quote;
  return out;
}

}  // namespace tpkg
