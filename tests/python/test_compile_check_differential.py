"""FindCompileError (tpkg/import_scan.h) against this stack's own compile(): what CPython's
compiler refuses after ast.parse accepted the source. Every case is run through both; the
answer expected is whatever compile() says. A save refuses an edited source on this check, so
it must never refuse what compile() accepts (the whole installed Python tree, below)."""
import ast
import pathlib
import sys

import pytest

from tpkg import _core

# (name, source): compile() refuses each, ast.parse accepts each, FindCompileError must say
# the same line and message.
FOUND = [
    ("return at module level", "import os\nreturn 1\n"),
    ("return in a class body", "class A:\n    return 1\n"),
    ("return in a match case", "match x:\n    case 1:\n        return\n"),
    ("yield at module level", "x = yield 1\n"),
    ("yield in a class inside a def", "def f():\n    class A:\n        yield 1\n"),
    ("yield in a default", "def f(a=(yield)):\n    pass\n"),
    ("await at module level", "await x\n"),
    ("await in a sync def", "def f():\n    await x\n"),
    ("await in a lambda of an async def", "async def f():\n    return lambda: await x\n"),
    ("await in an async def's default", "async def f(a=await x):\n    pass\n"),
    ("async for outside", "async def g():\n    pass\nasync for x in y:\n    pass\n"),
    ("async with in a sync def", "def f():\n    async with a:\n        pass\n"),
    ("break at module level", "break\n"),
    ("break in a for's else", "for x in y:\n    pass\nelse:\n    break\n"),
    ("break in a def inside a loop", "while 1:\n    def f():\n        break\n"),
    ("continue in a class inside a loop", "for x in y:\n    class A:\n        continue\n"),
    ("continue in a while's else", "while x:\n    pass\nelse:\n    continue\n"),
    ("nonlocal at module level", "import os\nnonlocal x\n"),
    ("future after an import", "import os\nfrom __future__ import annotations\n"),
    ("future after a bytes literal", "b'x'\nfrom __future__ import annotations\n"),
    ("future after a semicolon", "from __future__ import annotations; import os; "
                                 "from __future__ import division\n"),
    ("future in an if", "if 1:\n    from __future__ import annotations\n"),
    ("future after a def", "def f():\n    pass\nfrom __future__ import annotations\n"),
    ("future braces", "from __future__ import braces\n"),
    ("future unknown", "from __future__ import nope\n"),
    ("future star", "from __future__ import *\n"),
    ("duplicate parameter", "def f(a, b, a):\n    pass\n"),
    ("duplicate lambda parameter", "f = lambda a, *a: 0\n"),
    ("duplicate keyword-only and **", "def f(a, *, b, **b):\n    pass\n"),
    ("duplicate in an async def", "async def f(x, /, x):\n    pass\n"),
    ("duplicate parameter on a line of its own", "def f(a,\n      a\n):\n    pass\n"),
    ("await in a module-level annotation", "x: await y = 1\n"),
    ("nonlocal in a def at module level", "def f():\n    nonlocal x\n"),
    ("nonlocal in a class at module level", "class A:\n    nonlocal x\n"),
    ("nonlocal in a method of a class at module level",
     "class A:\n    def m(self):\n        nonlocal A\n"),
    ("nonlocal that no enclosing def binds", "def o():\n    def f():\n        nonlocal x\n"),
    ("nonlocal of a name only a class around binds",
     "def o():\n    class A:\n        x = 1\n        def f(self):\n            nonlocal x\n"),
    ("nonlocal of a name the def around only reads", "def o():\n    print(x)\n    def f():\n"
                                                     "        nonlocal x\n"),
    ("nonlocal of a comprehension's name", "def o():\n    [x for x in y]\n    def f():\n"
                                           "        nonlocal x\n"),
    ("nonlocal of a lambda's parameter", "def o():\n    g = lambda x: x\n    def f():\n"
                                         "        nonlocal x\n"),
    ("nonlocal of an attribute's name", "def o(a):\n    a.x = 1\n    def f():\n"
                                        "        nonlocal x\n"),
    ("nonlocal past a def that declares it global",
     "def o():\n    x = 1\n    def g():\n        global x\n        def f():\n"
     "            nonlocal x\n"),
    ("nonlocal of the outer def before the inner's", "def o():\n    def f():\n"
                                                     "        nonlocal a\n    nonlocal b\n"),
    ("nonlocal in two defs, the first one's", "def o():\n    def f():\n        nonlocal a\n"
                                              "def g():\n    nonlocal b\n"),
    ("nonlocal named twice with no binding", "def o():\n    def f():\n        nonlocal x\n"
                                             "        nonlocal y, x\n"),
    ("nonlocal __class__ in a class's own body", "def o():\n    class C:\n"
                                                 "        nonlocal __class__\n"),
    ("nonlocal named twice at module level", "def f():\n    nonlocal x, x\n    x = 1\n"),
    ("global and nonlocal", "def f():\n    x = 1\n    def g():\n        global x\n"
                            "        nonlocal x\n"),
    ("nonlocal then global", "def f():\n    x = 1\n    def g():\n        nonlocal x\n"
                             "        if y:\n            global x\n"),
    ("global and nonlocal on one line", "def f():\n    x = 1\n    def g():\n"
                                        "        global y, x; nonlocal x\n"),
    ("global of a parameter", "def f(a, b=1):\n    global b\n"),
    ("global of a ** parameter in a loop", "def f(*a, k, **kw):\n    while 1:\n"
                                           "        global kw\n"),
    ("nonlocal of a parameter", "def o():\n    x = 1\n    def f(x):\n        nonlocal x\n"),
    ("nonlocal of a positional-only parameter", "def o():\n    def f(x, /):\n"
                                                "        nonlocal x\n"),
    ("keyword argument repeated", "f(a=1, a=2)\n"),
    ("keyword argument repeated after **", "f(**k, a=1, b=2, a=3)\n"),
    ("keyword argument repeated on its own line", "f(a=1,\n  b=2,\n  a=3)\n"),
    ("class keyword repeated", "class C(metaclass=A,\n        metaclass=B):\n    pass\n"),
    ("keyword repeated in a decorator", "@d(x=1, x=2)\ndef f():\n    pass\n"),
    ("keyword repeated in an evaluated annotation", "x: g(a=1, a=2) = 1\n"),
    ("keyword repeated in a lambda under string annotations",
     "from __future__ import annotations\ndef f():\n    return lambda: g(a=1, a=2)\n"),
    ("yield in a list comprehension", "def f():\n    return [(yield x) for x in y]\n"),
    ("yield in a set comprehension", "def f():\n    return {(yield x) for x in y}\n"),
    ("yield in a dict comprehension's value", "def f():\n    return {x: (yield x) for x in y}\n"),
    ("yield in a dict comprehension's key", "def f():\n    return {(yield): x for x in y}\n"),
    ("yield from in a generator expression", "def f():\n    return ((yield from x) for x in y)\n"),
    ("yield in a call's generator expression", "def f():\n    return g(x for x in y if (yield))\n"),
    ("yield in a comprehension's condition", "def f():\n    return [x for x in y\n"
                                              "            if (yield)]\n"),
    ("yield in a second generator's iterable", "def f():\n    return [x for x in y\n"
                                                "            for z in (yield x)]\n"),
    ("yield in the element on its own line", "def f():\n    return [\n        (yield x)\n"
                                             "        for x in y]\n"),
    ("yield in the element and a later condition, the condition named",
     "def f():\n    return [(yield)\n            for x in y if (yield)]\n"),
    ("yield in an inner comprehension's element", "def f():\n    return [x for x in [(yield) for z in w]]\n"),
    ("yield in an inner comprehension's first iterable, in the outer's element",
     "def f():\n    return {[q for q in (yield)] for x in y}\n"),
    ("yield in a comprehension in an assert", "def f():\n    assert [(yield) for a in b]\n"),
    ("yield in a comprehension in a local annotation", "def f():\n    x: [(yield) for a in b]\n"),
    ("yield in a comprehension in a lambda's default",
     "def f():\n    return lambda a=[(yield) for x in y]: a\n"),
    ("yield in an f-string in a comprehension", "def f():\n    return [f'{(yield)}' for x in y]\n"),
    ("a starred target alone", "*a = 1\n"),
    ("a starred value alone", "a = *b\n"),
    ("a starred annotated value", "x: int = *a\n"),
    ("a starred augmented value", "x += *a\n"),
    ("a starred expression statement", "*a\n"),
    ("assignment to __debug__", "__debug__ = 1\n"),
    ("del of __debug__", "del __debug__\n"),
    ("annotated assignment to __debug__", "__debug__: int = 1\n"),
    ("import * in a def", "def f():\n    from os import *\n"),
    ("import * in a class", "class A:\n    from os import *\n"),
    ("import * in a class in a def", "def f():\n    class A:\n        from os import *\n"),
    ("yield from in an async def", "async def f():\n    yield from x\n"),
    ("async comprehension at module level", "[x async for x in y]\n"),
    ("async set comprehension in a def", "def f():\n    return {x async for x in y}\n"),
    ("async dict comprehension in a class", "class A:\n    x = {k: 1 async for k in b}\n"),
    ("async comprehension in a def of an async def",
     "async def f():\n    def g():\n        return [x async for x in y]\n"),
    ("async comprehension in a lambda of an async def",
     "async def f():\n    return lambda: [x async for x in y]\n"),
    ("async comprehension inside another", "def f():\n    return [\n        [x async for x in y]\n"
                                            "        for z in w]\n"),
    ("async comprehension as a first iterable", "def f():\n    return (x for x in\n"
                                                "        [a async for a in b])\n"),
    ("async comprehension in a condition", "def f():\n    return [x for x in y if [a async for a in b]]\n"),
    ("async comprehension in an evaluated annotation", "def f(x: [a async for a in b]): pass\n"),
    ("global after an assignment", "def f():\n    x = 1\n    global x\n"),
    ("global after a use", "def f():\n    print(x)\n    global x\n"),
    ("global after an augmented assignment", "def f():\n    x += 1\n    global x\n"),
    ("global after a use in a first iterable", "def f():\n    [a for a in x]\n    global x\n"),
    ("global after a walrus", "def f():\n    (x := 1)\n    global x\n"),
    ("global after a del at module level", "del x\nglobal x\n"),
    ("global after a for target in a class", "class A:\n    for x in y: pass\n    global x\n"),
    ("global after an annotated name", "def f():\n    x = 1\n    x: int\n    global x\n"),
    ("global after an attribute of the name", "def f():\n    x.y = 1\n    global x\n"),
    ("global after a decorator", "def f():\n    @x\n    def g(): pass\n    global x\n"),
    ("global after a use then an assignment", "def f():\n    print(x)\n    x = 1\n    global x\n"),
    ("nonlocal after a use", "def o():\n    x = 1\n    def f():\n        print(x)\n        nonlocal x\n"),
    ("nonlocal after an assignment", "def o():\n    x = 1\n    def f():\n        x = 2\n"
                                     "        nonlocal x\n"),
    ("global after a def", "def f():\n    def g(): pass\n    global g\n"),
    ("global after a class at module level", "class g: pass\nglobal g\n"),
    ("global after a method in a class", "class C:\n    def g(self): pass\n    global g\n"),
    ("nonlocal after a def", "def o():\n    g = 1\n    def f():\n        def g(): pass\n"
                             "        nonlocal g\n"),
    ("global after an except's name", "def f():\n    try: pass\n    except E as e: pass\n"
                                      "    global e\n"),
    ("global after a match capture", "def f():\n    match x:\n        case [p, 1]: pass\n"
                                     "    global p\n"),
    ("global after a match's as, star and double star",
     "def f():\n    match x:\n        case [1 as q, *r] | {'k': q, **r} if q: pass\n"
     "    global r\n"),
    ("global after a class pattern's capture", "def f():\n    match x:\n"
                                               "        case C(a, k=p): pass\n    global p\n"),
    ("global after a value pattern's name", "def f():\n    match x:\n        case a.b: pass\n"
                                            "    global a\n"),
]

# compile() accepts each: FindCompileError must too.
ACCEPTED = [
    ("return in a def", "def f():\n    return 1\n"),
    ("return in a nested def in a class", "class A:\n    def f(self):\n        return 1\n"),
    ("yield in a lambda", "f = lambda: (yield)\n"),
    ("yield in a def's loop", "def f():\n    for x in y:\n        yield x\n"),
    ("await in an async def", "async def f():\n    await x\n    async for a in b:\n"
                              "        pass\n    async with c:\n        pass\n"),
    ("await in a generator expression of a sync def",
     "def f():\n    return (await x for x in y)\n"),
    ("await in a call's generator expression", "def f():\n    return g(await x for x in y)\n"),
    ("await in a comprehension of an async def", "async def f():\n    return [await x for x in y]\n"),
    ("async generator expression at module level", "(x async for x in y)\n"),
    ("break in a loop in a loop's else", "while 1:\n    for x in y:\n        pass\n"
                                         "    else:\n        break\n"),
    ("continue in finally", "for x in y:\n    try:\n        pass\n    finally:\n        continue\n"),
    ("break in a nested if and with", "for x in y:\n    if x:\n        with a:\n            break\n"),
    ("break in a def's loop", "def f():\n    while 1:\n        break\n"),
    ("nonlocal in a nested def", "def f():\n    x = 1\n    def g():\n        nonlocal x\n"),
    ("global at module level", "global x\nx = 1\n"),
    ("nonlocal in a class inside a def", "def f():\n    class C:\n        nonlocal x\n    x = 1\n"),
    ("nonlocal in a lambda's def", "f = lambda: 0\ndef o():\n    x = 1\n    g = lambda: 0\n"
                                   "    def f():\n        nonlocal x\n"),
    ("global named twice", "def f():\n    global x, x\n    global x\n"),
    ("nonlocal named twice", "def o():\n    x = 1\n    def f():\n        nonlocal x, x\n"),
    ("nonlocal bound later in the def around", "def o():\n    def f():\n        nonlocal x\n"
                                               "        x = 2\n    x = 1\n"),
    ("nonlocal of every kind of binding",
     "def o(p, *q, **r):\n    def f():\n        nonlocal a, b, c, d, e, h, i, j, k, m, n, o2, "
     "p, q, r, s, t, u, v, w\n    a = 1\n    b += 1\n    c: int\n    del d\n"
     "    for e in y: pass\n    with y as (h, *i): pass\n    import j.z\n"
     "    from z import w as k\n    def m(): pass\n    class n: pass\n    try: pass\n"
     "    except E as o2: pass\n    [(s := 1) for x in y]\n    assert (t := 1)\n"
     "    match y:\n        case [u]: pass\n        case {'k': 1, **v}: pass\n"
     "        case C(w, k=_): pass\n"),
    ("nonlocal of a walrus in a default", "def o():\n    def f(a=(x := 1)):\n"
                                          "        nonlocal x\n"),
    ("nonlocal through a def that declares it nonlocal",
     "def o():\n    x = 1\n    def g():\n        nonlocal x\n        def f():\n"
     "            nonlocal x\n"),
    ("nonlocal through a class that declares it global",
     "def o():\n    x = 1\n    class C:\n        global x\n        def f(self):\n"
     "            nonlocal x\n"),
    ("nonlocal of a walrus in an f-string and a generator",
     "def o():\n    f'{(x := 1)}'\n    list((y := 1) for a in b)\n    def f():\n"
     "        nonlocal x, y\n"),
    ("global of a nested def's parameter", "def f():\n    def g(x):\n        pass\n    global x\n"),
    ("global of a lambda's parameter", "def f():\n    g = lambda x: x\n    global x\n"),
    ("global after an import", "def f():\n    import os.path as p, sys\n    from os import sep\n"
                               "    global p, sys, sep\n"),
    ("global after a match's wildcard, keyword and attribute",
     "def f():\n    match x:\n        case C(k=_) | a.b: pass\n    global _, k, b\n"),
    ("global of a nested def's match capture",
     "def f():\n    def g():\n        match x:\n            case p: pass\n    global p\n"),
    ("global in a class of a method's parameter",
     "class C:\n    def m(self, x):\n        pass\n    global x\n"),
    ("same keyword in nested calls", "f(a=1, b=g(a=2))\n"),
    ("same keyword in chained calls", "f(a=1)(a=2)\nclass C(metaclass=M, x=f(x=1)):\n    pass\n"),
    ("a keyword and a **", "f(a=1, **{'a': 2})\n"),
    ("a keyword repeated in a local annotation", "def f():\n    x: g(a=1, a=2)\n"),
    ("a keyword repeated in a string annotation",
     "from __future__ import annotations\ndef f(x: g(a=1, a=2), *y: h(b=1, b=2),\n"
     "      **z: k(c=1, c=2)) -> m(d=1, d=2):\n    pass\nx: g(a=1, a=2) = 1\n"
     "class C:\n    y: g(a=1, a=2)\n"),
    ("a keyword repeated in a lambda of a string annotation",
     "from __future__ import annotations\nx: (lambda: g(a=1, a=2)) = 1\n"),
    ("nonlocal __class__ in a method", "class C:\n    def m(self):\n        nonlocal __class__\n"
                                       "        return __class__\n"),
    ("future after a docstring", "'''doc'''\nfrom __future__ import annotations\n"),
    ("future after comments and blank lines", "# c\n\n# d\nfrom __future__ import annotations\n"),
    ("future after a raw docstring and another future",
     "r'doc'\nfrom __future__ import division\nfrom __future__ import (annotations,\n"
     "    generator_stop)\n"),
    ("future after a docstring on its line", "'doc'; from __future__ import annotations\n"),
    ("every future feature", "from __future__ import nested_scopes, generators, division, "
                             "absolute_import, with_statement, print_function, "
                             "unicode_literals, generator_stop, annotations\n"),
    ("a module named like it", "import os\nfrom __futures__ import x\nfrom a.__future__ import y\n"),
    ("parameters with different names", "def f(a, /, b, *c, d, **e):\n    pass\n"),
    ("the same name in two defs", "def f(a):\n    pass\ndef g(a):\n    pass\n"),
    ("a lambda parameter as the def's", "def f(a):\n    return lambda a: a\n"),
    ("a name called match", "match = 1\nmatch(x)\n"),
    ("await in a local annotation", "def f():\n    x: await y = 1\n    self.a: await z\n"),
    ("a docstring in parentheses", "('doc')\nfrom __future__ import annotations\n"),
    ("a docstring in parentheses over lines",
     "(\n    'a'\n    'b'\n)\nfrom __future__ import annotations\n"),
    ("yield in a comprehension's first iterable", "def f():\n    return [x for x in (yield y)]\n"),
    ("yield in a lambda in a comprehension", "def f():\n    return [lambda: (yield) for x in y]\n"
                                              "    [x for x in y if (lambda: (yield))]\n"),
    ("yield in a call in a comprehension's first iterable",
     "def f():\n    return [x for x in g(a=(yield))]\n"),
    ("yield in an inner comprehension's first iterable, in the outer's first iterable",
     "def f():\n    return [x for x in [q for q in (yield)]]\n"),
    ("targets of every shape", "() = []\n[] = []\na, *b = c\n[a, [b, *c]] = d\n(a) = 1\n"
                               "a.b[c] = d\nf().x = 1\n(a.b) = 1\n[(a)] = b\na, (b, *c), *d = e\n"
                               "*a, = b\nx = y = z\na[0] += 1\n"),
    ("values with starred elements", "a = *b, c\nx = [*a, *b]\nprint(*a)\n"
                                     "def f():\n    return *a, b\n"),
    ("del, for, with and comprehension targets", "del a, b.c, d[0], (e, [f])\n"
                                                "for (a, *b) in c:\n    pass\n"
                                                "with a as (b, c), d as e.f:\n    pass\n"
                                                "[x for (a, b) in c]\n{k: v for k, *v in w}\n"),
    ("import * at module level, also in an if", "from os import *\nif x:\n    from os import *\n"),
    ("yield from in a lambda or def of an async def",
     "async def f():\n    def g():\n        yield from x\n    return lambda: (yield from x)\n"),
    ("yield from in an assert of a def", "def f():\n    assert (yield from x)\n"),
    ("escapes of every kind", "x = '\\x41\\u0041\\U00000041\\101\\N{EM DASH}\\\\x'\n"
                              "y = b'\\x41\\u12\\N\\\\x'\nz = r'\\x4' + br'\\x4'\n"),
    ("yield after a comprehension", "def f():\n    x = [a for a in b]\n    yield x\n"
                                    "    return (yield), {k: v for k, v in w}\n"),
    ("escapes in f-strings", 'x = rf"\\x4{y}" + f"\\N{EM DASH}{y}\\x41\\\\{y}{{" + Rf"\\u12"\n'
                             'z = f"{y!r:>{w}}\\t" f"""\n\\x41{y}"""\n'),
    ("async comprehensions where they may be",
     "async def f():\n    return [[x async for x in y] for z in w], [x for z in [a async for a in b]]\n"
     "def g():\n    return (x async for x in y), ([x async for x in y] for z in w), "
     "f(x async for x in y), [(x async for x in y) for z in w], ({k: [a async for a in b]} for k in y)\n"),
    ("async comprehension in a postponed annotation",
     "from __future__ import annotations\ndef f(x: [a async for a in b]): pass\n"),
    ("global after names it does not see", "def f():\n    import x\n    f(x=1)\n    [x for a in b]\n"
     "    lambda: x\n    a.x = 1\n    def g():\n        x = 1\n    class A:\n        x = 1\n"
     "    global x\n    print(x)\n"),
]

# compile() refuses these too, but finding them needs CPython's symbol table or more of its
# compiler: FindCompileError accepts them (import_scan.h lists them). Kept here so that a change in
# either side shows.
NOT_FOUND = [
    ("nonlocal of a name only a lambda's walrus binds",
     "def o():\n    g = lambda: (x := 1)\n    def f():\n        nonlocal x\n"),
    ("nonlocal of a name the def around reads in a subscript target",
     "def o(a):\n    a[x] = 1\n    def f():\n        nonlocal x\n"),
    ("global after a use in a local annotation", "def f():\n    y: x\n    global x\n"),
    ("global after a walrus in a comprehension", "def f():\n    [y := 1 for a in b]\n    global y\n"),
    # An assert is not compiled at all under `python -O`, which torch may run under.
    ("yield in an assert", "assert (yield)\n"),
    ("keyword repeated in an assert", "assert f(a=1, a=2)\n"),
    ("await in an assert of a sync def", "def f():\n    assert await x\n"),
]

# What compile() says depends on the Python: 3.11 takes a relative `from .__future__` import
# for a __future__ one, 3.13 does not. FindCompileError accepts them.
VERSION_DEPENDENT = [
    ("relative future import after an import", "import os\nfrom .__future__ import x\n"),
    ("relative future import of an unknown feature", "from ..__future__ import nope\n"),
]


# Refused by both on the same line, in other words: compile() names the comprehension, the check
# the await it meets before it knows it is in one.
REFUSED_IN_OTHER_WORDS = [
    ("await in a list comprehension of a sync def", "def f():\n    return [await x for x in y]\n"),
    ("await in a set comprehension at module level", "{await x for x in y}\n"),
    # ... and the yield outside a function, before it knows that.
    ("yield in a list comprehension at module level", "[(yield) for x in y]\n"),
    ("yield in a set comprehension in a class", "class A:\n    {(yield) for x in y}\n"),
    ("yield in a comprehension in a default", "def f(a=[(yield) for x in y]):\n    pass\n"),
    ("two starred targets", "a, *b, *c = d\n"),
    ("two starred targets in a list over lines", "[a,\n b,\n *c, *d] = 1\n"),
    # The Names of a tuple target count as used: CPython says "assigned to before".
    ("global after a tuple target", "def f():\n    a, x = 1, 2\n    global x\n"),
]

# ast.parse refuses these already, as CPython's grammar's invalid_* rules, which the import scan
# leaves out (it scans a superset: import_scan.h); the compile check refuses them on the same
# line, in its own words.
PARSE_ERRORS = [
    ("assignment to a call", "f() = 1\n"),
    ("assignment to a literal", "1 = x\n"),
    ("assignment to an ellipsis", "... = 1\n"),
    ("assignment to a call in a chain", "a = b = f() = 1\n"),
    ("assignment to a call after a tuple", "(a, b) = c = f() = d\n"),
    ("del of a call", "del f()\n"),
    ("del of a starred", "del (a, *b)\n"),
    ("augmented assignment to a tuple", "a, b += 1\n"),
    ("augmented assignment to an operation", "a + 1 += 1\n"),
    ("with target a call", "with a as f():\n    pass\n"),
    ("for target a call", "for x() in y:\n    pass\n"),
    ("comprehension target a call", "[x for f() in y]\n"),
    ("unpacking in a list comprehension", "x = [*a for a in b]\n"),
    ("unpacking in a set comprehension", "x = {*a for a in b}\n"),
    ("unpacking in a generator expression", "x = (*a for a in b)\n"),
    ("assignment to a call on a later line", "x = 1\nif x:\n    f(x) = 2\n"),
    ("assignment to a tuple of literals over lines", "x = (\n 1,\n 2\n) = 3\n"),
    ("augmented assignment to a tuple over lines", "(a,\n b) += 1\n"),
    ("a truncated \\x in a str", "x = 1\ny = 'a\\x4'\n"),
    ("a truncated \\u in a str", "x = '\\u12'\n"),
    ("an out-of-range \\U in a str", "x = '\\U00110000'\n"),
    ("a truncated \\x in bytes", "x = b'\\x4'\n"),
    ("a truncated \\x in a str after another", "x = ('a'\n     '\\x4')\n"),
    ("a truncated \\x in an f-string", 'x = 1\ny = f"a{x}\\x4"\n'),
    ("a truncated \\u on an f-string's second line", 'x = f"""{y}a\n\\u12"""\n'),
    ("an out-of-range \\U in an f-string", 'x = f"a\\\\{y}\\U00110000"\n'),
    ("a truncated \\x before a doubled brace", 'x = f"\\x{{41"\n'),
    ("a truncated \\x in an f-string after a continued line", 'x = f"""a\\\n\\x4{y}"""\n'),
    ("a truncated \\u in an f-string that ends two lines on", 'x = 1\nv = f"""\\u{x}a\n\n"""\n'),
]


def compile_error(source):
    try:
        compile(source, "m.py", "exec", dont_inherit=True)
    except SyntaxError as e:
        return f"line {e.lineno}: {e.msg}"
    return None


@pytest.mark.parametrize("name,source", FOUND, ids=[n for n, _ in FOUND])
def test_found_as_compile_finds_it(name, source):
    ast.parse(source)  # the parser accepts it: only the compiler refuses
    expected = compile_error(source)
    assert expected is not None
    assert _core.find_compile_error(source) == expected


@pytest.mark.parametrize("name,source", ACCEPTED, ids=[n for n, _ in ACCEPTED])
def test_accepted_as_compile_accepts_it(name, source):
    assert compile_error(source) is None
    assert _core.find_compile_error(source) is None


@pytest.mark.parametrize("name,source", NOT_FOUND, ids=[n for n, _ in NOT_FOUND])
def test_known_gaps_are_accepted(name, source):
    ast.parse(source)
    assert compile_error(source) is not None
    assert _core.find_compile_error(source) is None


@pytest.mark.parametrize("name,source", REFUSED_IN_OTHER_WORDS,
                         ids=[n for n, _ in REFUSED_IN_OTHER_WORDS])
def test_refused_in_other_words(name, source):
    ast.parse(source)
    expected = compile_error(source)
    found = _core.find_compile_error(source)
    assert expected is not None and found is not None
    assert found.split(":")[0] == expected.split(":")[0]  # the same line


@pytest.mark.parametrize("name,source", PARSE_ERRORS, ids=[n for n, _ in PARSE_ERRORS])
def test_parse_errors_the_scan_leaves_are_refused_on_their_line(name, source):
    with pytest.raises(SyntaxError):
        ast.parse(source)
    expected = compile_error(source)
    found = _core.find_compile_error(source)
    assert expected is not None and found is not None, (expected, found)
    assert found.split(":")[0] == expected.split(":")[0]


@pytest.mark.parametrize("name,source", VERSION_DEPENDENT, ids=[n for n, _ in VERSION_DEPENDENT])
def test_what_depends_on_the_python_is_accepted(name, source):
    ast.parse(source)
    assert _core.find_compile_error(source) is None


def test_a_parse_error_is_left_to_the_import_scan():
    # Not this check's to report precisely: it still says the source does not compile.
    assert _core.find_compile_error("def f(:\n") is not None
    assert _core.find_compile_error("x = 1\n") is None


def installed_python_files():
    root = pathlib.Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts
                  and "dist-packages" not in p.parts)


def test_the_installed_standard_library_is_never_refused():
    """Every file of the stack's standard library that compile() accepts is accepted: the check
    errs towards accepting, so a save never refuses code Python imports."""
    checked = 0
    refused = []
    for path in installed_python_files():
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # a PEP 263 encoding: not what a package's source is
        try:
            compile(data, str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue  # test data that is meant not to compile
        checked += 1
        if (why := _core.find_compile_error(text)) is not None:
            refused.append(f"{path}: {why}")
    assert checked > 500
    assert refused == []
