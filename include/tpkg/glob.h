// glob.h: torch.package's GlobGroup, the include/exclude name patterns behind
// intern()/extern()/mock()/deny() and file_structure() (doc/format.md §6.5).
//
//   tpkg::GlobGroup g("torch.**", {"torch.cuda", "torch.x.*"});
//   g.Matches("torch.nn.functional");  // true
//   g.Matches("torch.cuda");           // false (excluded)
//   g.ToString();  // "GlobGroup(include=torch.**, exclude=['torch.cuda', 'torch.x.*'])"
//
// Semantics (identical to torch/package/glob_group.py): a candidate matches
// when it matches any include pattern and no exclude pattern. A pattern is
// split on the separator; each segment is one of
//   `**`            zero or more whole, non-empty segments
//   text with `*`   `*` = any run of characters without the separator, also empty
//   literal text    exactly that text
// `**` mixed with other text in one segment (`a**`) is an error. Matching is
// done on separator + candidate, in full:
//
//   pattern                  matches                                 does not match
//   torch.**                 torch, torch.nn, torch.nn.functional    torchvision
//   torch.*                  torch.nn                                torch, torch.nn.functional
//   torch*.**                torch, torchvision.models, torch_x
//   **.linear                linear, torch.nn.modules.linear         linear.x
//   a.**.c                   a.c, a.b.c, a.b.d.c                     a.b
//   foo*bar                  foobar, foo_x_bar                       foo.bar
//   *                        a, "" (the empty name)                  a.b
//   **                       a, a.b                                  ""
//   res/*.txt (sep "/")      res/a.txt                               res/sub/a.txt
//
// Thread safety: GlobPattern and GlobGroup are immutable values; const
// methods may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tpkg {

// torch's GlobPattern argument: one str, or a list/tuple of str. The form
// only changes ToString(), which prints the argument the way Python's
// f-string does (`torch.**` for a str, `['a', 'b']` for a list, `()` for the
// default empty tuple).
class GlobPattern {
 public:
  GlobPattern(const char* pattern);                          // a str
  GlobPattern(std::string pattern);                          // a str
  GlobPattern(std::vector<std::string> patterns);            // a list
  GlobPattern(std::initializer_list<std::string> patterns);  // a list
  static GlobPattern Tuple(std::vector<std::string> patterns);
  // For bindings: the patterns plus the exact text Python's str() gives for
  // the original object.
  static GlobPattern WithRepr(std::vector<std::string> patterns, std::string repr);

  const std::vector<std::string>& patterns() const { return patterns_; }
  // str() of the original Python object.
  const std::string& repr() const { return repr_; }

 private:
  GlobPattern(std::vector<std::string> patterns, std::string repr)
      : patterns_(std::move(patterns)), repr_(std::move(repr)) {}
  std::vector<std::string> patterns_;
  std::string repr_;
};

class GlobGroup {
 public:
  // Throws Error(kInvalidArgument, "** can only appear as an entire path
  // segment") like torch's ValueError, and for an empty separator.
  explicit GlobGroup(GlobPattern include, GlobPattern exclude = GlobPattern::Tuple({}),
                     std::string separator = ".");

  bool Matches(std::string_view candidate) const;

  // torch's repr: "GlobGroup(include=<include>, exclude=<exclude>)", the text
  // of EmptyMatchError messages.
  const std::string& ToString() const;
  const std::string& separator() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// Python's repr() of a str (quote choice and escapes), used for list reprs.
// Non-ASCII characters are printed as-is except U+0080..U+00A0 and U+00AD,
// which Python escapes as \xNN; other non-printable non-ASCII code points
// are not escaped (bindings use GlobPattern::WithRepr for exactness).
std::string PythonStrRepr(std::string_view utf8);

}  // namespace tpkg
