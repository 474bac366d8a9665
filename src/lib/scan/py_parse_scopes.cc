// py_parse_scopes.cc: the part of CPython's symbol table the compile checks
// of the import parser need (see py_parser.h): the Names each def, class or
// module body uses and binds, its global and nonlocal declarations, and the
// bindings a nonlocal name needs in a def around it.
#include <algorithm>
#include <string>
#include <utility>

#include "scan/py_parser.h"

namespace tpkg::py::internal {

// CPython's symbol table refuses a name declared both global and nonlocal in
// one body (named at the name's first declaration, as CPython names it), or
// declared so while a parameter of it.
void Parser::CheckDeclaration(std::string_view name, uint32_t line, bool global) const {
  Declarations* declarations = scope_.declarations;
  if (!declarations) return;
  const std::string quoted = "name '" + std::string(name) + "' is ";
  for (std::string_view parameter : declarations->parameters)
    CheckCompiles(parameter != name,
                  quoted + (global ? "parameter and global" : "parameter and nonlocal"), line);
  // CPython's symbol table: a use comes first, then an annotation, then a
  // binding. A name bound in a tuple or list target counts as used here
  // (its elements are not kept): the line is the same, the words differ.
  const std::string kind = global ? "global" : "nonlocal";
  std::optional<NameUse> before;
  for (const SeenName& seen : seen_names_) {
    if (seen.body != declarations || seen.token != name) continue;
    if (!before || seen.use < *before) before = seen.use;
  }
  if (before == NameUse::kRead)
    CheckCompiles(false, quoted + "used prior to " + kind + " declaration", line);
  if (before == NameUse::kAnnotated)
    CheckCompiles(false, "annotated name '" + std::string(name) + "' can't be " + kind, line);
  if (before == NameUse::kAssigned)
    CheckCompiles(false, quoted + "assigned to before " + kind + " declaration", line);
  uint32_t first_line = line;
  for (const Declarations::Directive& directive : declarations->directives) {
    if (directive.name != name) continue;
    first_line = std::min(first_line, directive.line);
    CheckCompiles(directive.global == global, quoted + "nonlocal and global", first_line);
  }
  declarations->directives.push_back({name, line, global});
}

void Parser::NoteName(std::string_view token) {
  names_parsed_.push_back(token);
  if (NotingNames()) seen_names_.push_back({token, scope_.declarations, NameUse::kRead});
}

// A name bound where the source has no Name expression for it: a def's or a
// class's, `except ... as`'s, a match pattern's capture, a type alias's.
void Parser::NoteBoundName(std::string_view token) {
  if (!compile_checks_) return;
  Mention(token);
  if (NotingNames()) seen_names_.push_back({token, scope_.declarations, NameUse::kAssigned});
}

// A Name target binds; an Attribute or Subscript reads its object (noted as
// read already), and the Names of a tuple or list target stay noted as read.
void Parser::NoteBinding(const Expr& target, NameUse use) {
  if (target.node != Node::kName) return;
  for (auto seen = seen_names_.rbegin(); seen != seen_names_.rend(); ++seen) {
    if (seen->token.data() == target.text.data()) {
      seen->use = use;
      return;
    }
  }
}

// CPython's symbol table passes the names each def binds down to the bodies
// inside it, minus those it declares global; a class passes down what it got
// (its own names bind nothing there) and __class__ (from 3.12 __classdict__).
void Parser::PassNonlocalsOut(Declarations& body, bool function, Declarations& outer) {
  const auto directive_of = [&](std::string_view name) -> const Declarations::Directive* {
    for (const Declarations::Directive& directive : body.directives)
      if (directive.name == name) return &directive;
    return nullptr;
  };
  for (const UnboundNonlocal& inner : body.unbound_nonlocals) {
    if (!function) {
      if (inner.name != "__class__" && inner.name != "__classdict__")
        outer.unbound_nonlocals.push_back(inner);
      continue;
    }
    const Declarations::Directive* own = directive_of(inner.name);
    if (own && own->global) {
      nonlocals_unbound_by_global_.push_back(inner);
    } else if (!own &&
               std::find(body.parameters.begin(), body.parameters.end(), inner.name) ==
                   body.parameters.end() &&
               std::find(body.mentioned.begin(), body.mentioned.end(), inner.name) ==
                   body.mentioned.end()) {
      outer.unbound_nonlocals.push_back(inner);
    }
    // Else the def may bind it, or declares it nonlocal too (its own entry
    // below goes on outwards).
  }
  for (uint32_t i = 0; i < body.directives.size(); ++i) {
    const Declarations::Directive& directive = body.directives[i];
    if (!directive.global && directive_of(directive.name) == &directive)
      outer.unbound_nonlocals.push_back({directive.name, directive.line, body.ordinal, i});
  }
}

void Parser::CheckNonlocalsBound() const {
  if (!compile_checks_) return;
  const UnboundNonlocal* first = nullptr;
  for (const auto* list : {&nonlocals_unbound_by_global_, &module_declarations_.unbound_nonlocals})
    for (const UnboundNonlocal& unbound : *list)
      if (!first ||
          std::pair(unbound.body, unbound.position) < std::pair(first->body, first->position))
        first = &unbound;
  if (first)
    throw SyntaxError{first->line,
                      "no binding for nonlocal '" + std::string(first->name) + "' found"};
}

}  // namespace tpkg::py::internal
