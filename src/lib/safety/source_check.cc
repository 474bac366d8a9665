// source_check.cc: what an interned module of a torch.package does when the
// importer runs it (safety/scan_context.h). torch.package executes a
// module's source when a pickle names one of its globals or another module
// imports it, so module-level code runs at load time; code in functions runs
// when a pickle calls them (REDUCE, __reduce_package__) or module code does.
//
// Token-level: every call whose dotted name (import aliases resolved) the
// policy lists is a finding, malicious outside any `def` (it runs at import),
// suspicious inside one; imports of listed modules are suspicious.
#include <string>
#include <unordered_map>
#include <vector>

#include "safety/scan_context.h"
#include "scan/py_tokenizer.h"

namespace tpkg::safety {
namespace {

using py::Sym;
using py::Token;
using py::TokenKind;

class SourceChecker {
 public:
  SourceChecker(std::string_view source, std::string where, ScanContext& ctx)
      : tokens_(source), where_(std::move(where)), ctx_(ctx) {}

  void Run() {
    try {
      Advance();
      while (tok_.kind != TokenKind::kEndMarker) Statement();
    } catch (const py::SyntaxError& e) {
      // Python would refuse to import it as well: nothing of it runs.
      ctx_.Add(Severity::kInfo, "source.syntax-error", where_, -1, "",
               "not valid Python (" + e.reason + "): the importer would refuse it", e.line);
    }
  }

 private:
  void Advance() { tok_ = tokens_.Next(); }

  // One logical line (or a block opener), tracking def blocks by INDENT/DEDENT.
  void Statement() {
    if (tok_.kind == TokenKind::kIndent) {
      blocks_.push_back(pending_def_);
      pending_def_ = false;
      Advance();
      return;
    }
    if (tok_.kind == TokenKind::kDedent) {
      if (!blocks_.empty()) blocks_.pop_back();
      Advance();
      return;
    }
    if (tok_.kind == TokenKind::kNewline) {
      Advance();
      return;
    }
    while (tok_.kind == TokenKind::kOp && tok_.sym == Sym::kAt) SkipLine();  // decorators
    bool starts_def = tok_.sym == Sym::kDef || tok_.sym == Sym::kLambda ||
                      (tok_.sym == Sym::kAsync);
    if (tok_.sym == Sym::kImport || tok_.sym == Sym::kFrom) {
      Import();
      return;
    }
    Expressions();
    if (starts_def) pending_def_ = true;
  }

  void SkipLine() {
    while (tok_.kind != TokenKind::kNewline && tok_.kind != TokenKind::kEndMarker) Advance();
    if (tok_.kind == TokenKind::kNewline) Advance();
  }

  bool InFunction() const {
    for (bool is_def : blocks_)
      if (is_def) return true;
    return false;
  }

  // Calls on the rest of the line: NAME(.NAME)* '('.
  void Expressions() {
    std::string dotted;
    bool after_dot = false;
    while (tok_.kind != TokenKind::kNewline && tok_.kind != TokenKind::kEndMarker &&
           tok_.kind != TokenKind::kIndent && tok_.kind != TokenKind::kDedent) {
      if (tok_.kind == TokenKind::kName && (tok_.sym == Sym::kDef || tok_.sym == Sym::kClass)) {
        Advance();  // the name a def or class defines is no call
        dotted.clear();
        after_dot = false;
      } else if (tok_.kind == TokenKind::kName) {
        if (IsIntrospection(tok_.text)) Introspection();
        dotted = after_dot && !dotted.empty() ? dotted + "." + std::string(tok_.text)
                                              : std::string(tok_.text);
        after_dot = false;
      } else if (tok_.kind == TokenKind::kOp && tok_.sym == Sym::kDot && !dotted.empty()) {
        after_dot = true;
      } else {
        if (tok_.kind == TokenKind::kOp && tok_.sym == Sym::kLParen && !dotted.empty())
          Call(dotted);
        dotted.clear();
        after_dot = false;
      }
      Advance();
    }
  }

  // Names that reach code or modules around the policy's call list.
  static bool IsIntrospection(std::string_view name) {
    return name == "__builtins__" || name == "__import__" || name == "__globals__" ||
           name == "__subclasses__" || name == "__code__" || name == "__loader__";
  }

  void Introspection() {
    if (tok_.line == last_introspection_line_) return;  // one finding a line
    last_introspection_line_ = tok_.line;
    ctx_.Add(Severity::kSuspicious, "source.introspection", where_, -1, "",
             "uses " + std::string(tok_.text) + ", which reaches code past any call list",
             tok_.line);
  }

  std::string Resolve(const std::string& dotted) const {
    size_t dot = dotted.find('.');
    std::string head = dotted.substr(0, dot);
    auto it = aliases_.find(head);
    if (it == aliases_.end()) return dotted;
    return dot == std::string::npos ? it->second : it->second + dotted.substr(dot);
  }

  void Call(const std::string& dotted) {
    std::string full = Resolve(dotted);
    if (full == dotted && dotted.find('.') == std::string::npos)
      for (const std::string& base : star_imports_)  // from os import *; system(...)
        if (ctx_.policy.IsDangerousCall(base + "." + dotted)) full = base + "." + dotted;
    if (!ctx_.policy.IsDangerousCall(full)) return;
    bool at_import = !InFunction();
    ctx_.Add(at_import ? Severity::kMalicious : Severity::kSuspicious, "source.dangerous-call",
             where_, -1, "",
             "calls " + full + (full != dotted ? " (as " + dotted + ")" : "") +
                 (at_import ? " when the module is imported" : " in a function"),
             tok_.line);
  }

  // import a.b [as c], ... | from a import b [as c], ... | from . import x
  void Import() {
    uint32_t line = tok_.line;
    bool from = tok_.sym == Sym::kFrom;
    Advance();
    std::string base;
    if (from) {
      while (tok_.kind == TokenKind::kOp && (tok_.sym == Sym::kDot || tok_.sym == Sym::kEllipsis)) {
        base += tok_.sym == Sym::kDot ? "." : "...";
        Advance();
      }
      base += DottedName();
      if (tok_.sym == Sym::kImport) Advance();
      if (!base.starts_with(".")) CheckImport(base, line);
    }
    while (tok_.kind != TokenKind::kNewline && tok_.kind != TokenKind::kEndMarker) {
      if (tok_.kind == TokenKind::kOp && tok_.sym != Sym::kStar) {
        Advance();
        continue;
      }
      if (tok_.kind == TokenKind::kOp) {  // from x import *
        if (from) star_imports_.push_back(base);
        Advance();
        continue;
      }
      std::string name = DottedName();
      if (name.empty()) {
        Advance();
        continue;
      }
      std::string target = from ? base + "." + name : name;
      std::string local = from ? name : name.substr(0, name.find('.'));
      if (tok_.sym == Sym::kAs) {
        Advance();
        local = DottedName();
        if (!from) target = name;
      } else if (!from) {
        target = local;
      }
      if (!from) CheckImport(name, line);
      if (from && !base.starts_with(".")) CheckImport(target, line);
      aliases_[local] = target;
    }
    if (tok_.kind == TokenKind::kNewline) Advance();
  }

  std::string DottedName() {
    std::string name;
    while (tok_.kind == TokenKind::kName) {
      name += std::string(tok_.text);
      Advance();
      if (!(tok_.kind == TokenKind::kOp && tok_.sym == Sym::kDot)) break;
      name += ".";
      Advance();
    }
    return name;
  }

  void CheckImport(const std::string& module, uint32_t line) {
    if (!ctx_.policy.IsDangerousImport(module)) return;
    ctx_.Add(Severity::kSuspicious, "source.dangerous-import", where_, -1, "",
             "imports " + module + (InFunction() ? " in a function" : " when imported"), line);
  }

  py::Tokenizer tokens_;
  Token tok_;
  std::string where_;
  ScanContext& ctx_;
  std::vector<bool> blocks_;  // per open block: opened by a def (or lambda/async def)
  bool pending_def_ = false;
  std::unordered_map<std::string, std::string> aliases_;
  std::vector<std::string> star_imports_;
  uint32_t last_introspection_line_ = 0;
};

}  // namespace

void CheckPythonSource(std::string_view source, const std::string& where, ScanContext& ctx) {
  SourceChecker(source, where, ctx).Run();
}

}  // namespace tpkg::safety
