// py_parse_type_params.cc: PEP 695/696 generics of the import parser (see py_parser.h):
// `def f[T](...)`, `class C[T]`, `type X[T] = ...` (Python 3.12) and type
// parameter defaults (3.13).
//
// In the ast, type_params is the last field of FunctionDef and ClassDef (after
// returns / decorator_list) and comes before the value of a TypeAlias; each
// parameter visits its bound, then its default.
#include <utility>

#include "scan/py_parser.h"

namespace tpkg::py::internal {

// '[' type_param (',' type_param)* [','] ']', where type_param is
//   NAME [':' expression] ['=' expression]
//   '*' NAME ['=' star_expression]
//   '**' NAME ['=' expression]
Events Parser::ParseTypeParams() {
  Expect(Sym::kLSquare);
  if (At(Sym::kRSquare)) Fail("Type parameter list cannot be empty");
  Events events;
  do {
    if (At(Sym::kRSquare)) break;  // trailing comma
    if (Accept(Sym::kStar)) {
      ExpectName();
      if (At(Sym::kColon)) Fail("cannot use bound with TypeVarTuple");
      if (Accept(Sym::kEqual)) Append(events, ParseStarExpression().events);
    } else if (Accept(Sym::kDoubleStar)) {
      ExpectName();
      if (At(Sym::kColon)) Fail("cannot use bound with ParamSpec");
      if (Accept(Sym::kEqual)) Append(events, ParseExpression().events);
    } else {
      ExpectName();
      if (Accept(Sym::kColon)) Append(events, ParseExpression().events);
      if (Accept(Sym::kEqual)) Append(events, ParseExpression().events);
    }
  } while (Accept(Sym::kComma));
  Expect(Sym::kRSquare);
  return events;
}

// 'type' NAME [type_params] '=' expression, where `type` is a soft keyword:
// the caller has seen it followed by a name, which no other statement allows.
Events Parser::ParseTypeAlias() {
  Advance();
  NoteBoundName(ExpectName());
  // The value is evaluated lazily in a scope of its own (PEP 695).
  const ScopedFlag value_names(note_names_, false);
  Events events;
  if (At(Sym::kLSquare)) events = ParseTypeParams();
  Expect(Sym::kEqual);
  Append(events, ParseExpression().events);
  return events;
}

}  // namespace tpkg::py::internal
