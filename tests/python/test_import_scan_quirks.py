"""ScanImports() against torch 1.13's find_files_source_depends_on on hand-written
sources that exercise every quirk of torch's visitor and every corner of the
grammar the installed Python tree may not reach. Purely differential: the
expected answer is whatever real torch returns for the same source and package.
"""
import json
import subprocess
import textwrap
import warnings

import pytest

pytest.importorskip("torch")
from torch.package.find_file_dependencies import find_files_source_depends_on  # noqa: E402

# (source, package). Each is run through torch and through ScanImports.
CASES = [
    # import forms
    ("import a.b.c, d as e\nimport f . g", "p"),
    ("from a import b, c as d\nfrom a import (e,\n  f,)\nfrom a import *", "p"),
    ("from . import x\nfrom .. import y\nfrom .m import z\nfrom ...top import w", "p.q.r"),
    ("from . import x", "top"),
    ("from .mod import x", ""),
    ("from __future__ import annotations\nimport os; import sys; from x import y;", "p"),
    # imports anywhere
    ("def f():\n    import a\n    class C:\n        import b\n        def g(self):\n            from c import d\n", "p"),
    ("try:\n    import a\nexcept ImportError:\n    import b\nelse:\n    import c\nfinally:\n    import d\n", "p"),
    ("if x:\n    import a\nelif y:\n    import b\nelse:\n    import c\nwhile 0:\n    import d\nelse:\n    import e\n", "p"),
    ("for i in range(3):\n    import a\nelse:\n    import b\nwith open(x) as f, g:\n    import c\n", "p"),
    ("async def f():\n    async with a as b:\n        import x\n    async for i in y:\n        import z\n", "p"),
    ("match cmd:\n    case [x, y] if __import__('guard'):\n        import a\n    case {'k': v}:\n        import b\n    case _:\n        import c\n", "p"),
    ("match = 1\nmatch.x = 2\nmatch(a)\nprint(match)\n", "p"),
    ("try:\n    pass\nexcept* ValueError:\n    import a\n", "p"),
    ("with (open(a) as b, open(c) as d,):\n    import e\nwith (a, b):\n    import f\n", "p"),
    # __import__ forms
    ("__import__('a')\n__import__('a.b.c')\nm = __import__('x.y')", "p"),
    ("__import__('a.b', fromlist=['c', 'd'])\n__import__('e', globals(), locals(), ['f', '*'])", "p"),
    ("__import__('m', globals(), locals(), ['x'], 1)\n__import__('n', fromlist=('y',), level=2)", "p.q.r"),
    ("__import__('a.b', globals(), locals(), [], 1)\n__import__('c', level=1)", "p.q"),
    ("__import__('a.b', level=5)\n__import__('c', fromlist=['d'], level=5)", "p"),
    ("__import__('a', fromlist=[])\n__import__('b', fromlist=())\n__import__('c', fromlist={'e'})", "p"),
    ("__import__('a', fromlist=[x])\n__import__('b', fromlist=[*x])\n__import__('c', fromlist=x)", "p"),
    ("__import__(name)\n__import__(f'a')\n__import__('a' + 'b')\n__import__()", "p"),
    ("__import__('x' 'y')\n__import__('\\x61\\u0062')\n__import__(r'\\d')\n__import__(u'uu')", "p"),
    ("__import__(b'bytes')\n__import__(None, fromlist=['x'], level=1)\n__import__(0, fromlist=['y'], level=1)", "p.q"),
    ("__import__('a.b', level=1.0)\n__import__('c.d', level=0.0)\n__import__('e.f', level='1')\n__import__('g', fromlist=['h'], level=True)", "p.q"),
    ("__import__('a.b', level=x)\n__import__('c.d', level=x.y)\n__import__('e.f', globals(), locals(), [], -1)", "p.q"),
    ("__import__('a', fromlist=['b'], fromlist2=['c'])\n__import__('d', **kw)\n__import__('e', *args)", "p"),
    # visit_Call never visits a call's children
    ("print(__import__('hidden'))\n__import__('a').b()\n__import__('c')('d')\nf(x=__import__('e'))", "p"),
    ("__import__('a').b\n__import__('c')[0]\nx = [__import__('d')]\ny = {__import__('e'): __import__('f')}", "p"),
    ("x.__import__('a')\n(__import__)('b')\nawait __import__('c')\n__import__('d').e.f[g].h", "p"),
    ("@__import__('deco').d\ndef f(): import body\n@decorator(__import__('hidden'))\nclass C: pass", "p"),
    # ast field order, not source order
    ("@__import__('d1').x\n@__import__('d2').y\ndef f(a: __import__('ann').T = __import__('dflt').v) -> __import__('ret').R:\n    import body\n", "p"),
    ("def f(a=__import__('pos_default').x, /, b: __import__('b_ann').T=1, *c: __import__('var_ann').T, d=__import__('kw_default').x, **e: __import__('kwarg_ann').T): pass", "p"),
    ("lambda a=__import__('pos').x, *, b=__import__('kw').y: __import__('body').z", "p"),
    ("@__import__('deco').x\nclass C(__import__('base1').B, metaclass=__import__('meta').M, *__import__('base2').bs):\n    import body\n", "p"),
    ("{__import__('k1').a: __import__('v1').a, __import__('k2').b: __import__('v2').b, **__import__('v3').c}", "p"),
    ("__import__('body').x if __import__('test').y else __import__('orelse').z", "p"),
    ("a if b else lambda: __import__('l').x if __import__('t').y else __import__('o').z", "p"),
    ("[__import__('elt').x for y in __import__('iter').z if __import__('cond').w]", "p"),
    ("{__import__('k').a: __import__('v').b for q in __import__('it').c}", "p"),
    ("x = __import__('rhs').a\n__import__('t1').x[__import__('t2').y] = __import__('v').z", "p"),
    ("x: __import__('ann').T = __import__('val').v\ny += __import__('aug').w", "p"),
    ("assert __import__('test').t, __import__('msg').m\nraise __import__('exc').E from __import__('cause').C", "p"),
    ("del __import__('d').x[0]\nreturn __import__('r').x\nyield __import__('y').z", "p"),
    ("for __import__('t').x in __import__('i').y: import body\nelse: import orelse", "p"),
    ("with __import__('ctx').c as __import__('tgt').t[0]: import body", "p"),
    ("(y := __import__('walrus').w)\na[__import__('lo').x:__import__('hi').y:__import__('st').z]", "p"),
    # f-strings are code too
    ("f'{__import__(\"a\").b}'\nf'{x!r:>{__import__(\"spec\").w}}'\nf'{__import__(\"dbg\").x=}'", "p"),
    ("f'''{\n__import__('multi').x\n}'''\nrf'{__import__(\"raw\").y}\\d'\n'{__import__(\"plain\")}'", "p"),
    ("x = f'{{not a field}}' + f'{a[\"k\"]}' + F'{b}' + fR'{c}'", "p"),
    # strings and comments never count
    ("s = 'import a'\nt = '''\nimport b\n'''\n# import c\nu = \"from d import e\"\n", "p"),
    ("x = 1 \\\n    + 2\nimport \\\n    cont\n", "p"),
    ("x = (1,\n     2)  # comment\n\n\n    # indented comment\nimport after\n", "p"),
    ("if True:\n\tif True:\n\t\timport tabbed\n", "p"),
    ("if x:\n    a\n\\\n    import b\nif y:\n    a\n    \\\nimport c\n\\\nimport d\n", "p"),
    ("x = 1if y else 2\nimport z\n", "p"),
    ("class C:\n    def f(self): return 1\n\n    import body\n", "p"),
    ("print >>sys.stderr, 'hello'\nimport after_print\n", "p"),
    ("a = *b, *c\n[*d, *e]\nf[*g]\n", "p"),
    ("\ufeffimport bom\n", "p"),
    ("import a\r\nimport b\r\nif x:\r\n    import c\r\n", "p"),
    ("type = 1\ncase = 2\n_ = 3\nimport soft\n", "p"),
]


def _is_str_ref(ref):
    return isinstance(ref[0], str) and (ref[1] is None or isinstance(ref[1], str))


def _torch(src, package):
    """torch's answer for the source file `src` (decoded as Python decodes a
    file: a leading BOM is not part of the text). References with a non-str
    part are the documented residual (import_scan.h) and are left out."""
    src = src.encode("utf-8").decode("utf-8-sig")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "1if x else 2" warns
            refs = find_files_source_depends_on(src, package)
        return {"refs": [list(r) for r in refs if _is_str_ref(r)]}
    except SyntaxError as e:
        return {"syntax_error": e.msg}
    except Exception as e:
        return {"error": str(e)}


@pytest.fixture(scope="module")
def scan(build_dir, tmp_path_factory):
    tool = build_dir / "tests" / "tools" / "import_scan_dump"
    if not tool.exists():
        pytest.skip(f"{tool} is not built")
    workdir = tmp_path_factory.mktemp("quirks")

    def run(cases):
        lines = []
        for i, (src, package) in enumerate(cases):
            path = workdir / f"{i}.py"
            path.write_bytes(src.encode("utf-8"))
            lines.append(f"{path}\t{package}\n")
        out = subprocess.run([str(tool)], input="".join(lines).encode(), check=True, capture_output=True).stdout
        return [json.loads(line) for line in out.decode().splitlines()]

    return run


def test_quirk_cases_match_torch(scan):
    results = scan(CASES)
    failures = []
    for (src, package), got in zip(CASES, results):
        want = _torch(src, package)
        if "refs" in want:
            ok = got.get("refs") == want["refs"]
        else:
            ok = want.get("error", want.get("syntax_error")) in got.get("error", "") if "error" in want else "error" in got
        if not ok:
            failures.append(f"{src!r} (package {package!r}):\n  torch: {want}\n  ours:  {got}")
    assert not failures, "\n".join(failures)


# Sources ast.parse refuses and that the scanner must refuse as well.
INVALID = [
    "import", "import a,", "from a import", "from a import b,", "from a import (b", "from a import ()",
    "from import x", "import a as b.c", "from a import (*)", "x = (1, 2", "x = [1, 2)", "x = 1)",
    "s = 'unterminated", 's = """unterminated', "x = 1 +", "def f(:\n  pass", "def f()\n  pass",
    "if x\n  pass", "if x:\npass", "  import a", "if x:\n    a\n  b", "class C(:\n pass", "x = $", "x = a ? b",
    "x = `a`", "x = 1 2", "print 'py2'", "exec 'code'", "f(**)", "lambda: (yield", "x = 0777", "x = 1__0",
    "x = 1_", "x = 1.__class__", "try:\n  pass\n", "else:\n  pass", "for x in:\n  pass", "with:\n  pass",
    "@\ndef f(): pass", "x = {1: 2, 3}", "x = [1 for]", "f'{}'", "f'{a b}'", "f'{!r}'", "f'{x!z}'",
    "f'}'", "f'{'", "f'{a#}'", "f'{a\\\\n}'", "x = b'a' 'b'", "x = \\ 1", "if True:\n\tif True:\n        a",
    "def f(a, *, **k): pass", "x = (", "match x:\n    case:\n        pass", "f(x for x in y, 1)",
    "f(a=1, b)", "f(**k, *a)", "f(**k, a)", "def f(a=1, b): pass", "def f(*): pass", "def f(**k, a): pass",
    "x = b'\u00e9'",
    "(*a)", "a := 1", "import a.b as c.d", "lambda a=1, b: 0", "print(*a for a in b)", "x = 5 \u00d7 3",
    "if x:\n    a\n  \\\n    b\n", "  \\\nimport a\n", "x = 1\n\\",
]

# Sources ast.parse refuses but the scanner accepts: the documented superset
# (import_scan.h). This list is here so that tightening the parser shows up.
ACCEPTED_SUPERSET = [
    "f() = 1", "del f()", "a + 1 = 2", "(a, b) += 1", "[x for x in y] = 1", "x = (yield) = 1", "f((a)=1)",
    "\u00d7 = 1", "x = '\\N{no such name}'", "x = '\\x4'", "class C(x for x in y): pass",
]


def test_invalid_sources_are_refused_like_ast_parse(scan):
    invalid = [src for src in INVALID if "syntax_error" in _torch(src, "p")]
    assert len(invalid) == len(INVALID), [s for s in INVALID if s not in invalid]
    results = scan([(src, "p") for src in invalid])
    accepted = [src for src, got in zip(invalid, results) if "error" not in got]
    assert not accepted
    for got in results:
        assert got["error"].startswith("line "), got


def test_documented_superset_is_accepted(scan):
    assert all("syntax_error" in _torch(src, "p") for src in ACCEPTED_SUPERSET)
    results = scan([(src, "p") for src in ACCEPTED_SUPERSET])
    assert [src for src, got in zip(ACCEPTED_SUPERSET, results) if "error" in got] == []


def test_line_numbers_of_errors_match_ast_parse(scan):
    sources = [textwrap.dedent(s) for s in ("import os\nimport sys\nx = (\n", "a = 1\nb = 'x\nc = 2\n",
                                            "def f():\n    pass\n  x = 1\n", "x = 1\ny = 2 +\n")]
    results = scan([(s, "p") for s in sources])
    for src, got in zip(sources, results):
        try:
            compile(src, "<unknown>", "exec")
        except SyntaxError as e:
            assert got["error"].startswith(f"line {e.lineno}:"), (src, got, e)


def test_nfkc_identifiers_are_the_documented_residual(scan):
    """CPython NFKC-normalizes identifiers; ScanImports keeps them as written
    (import_scan.h). If this changes, update the header."""
    src = "import \uff4f\uff53\n"  # fullwidth "os"
    assert _torch(src, "p") == {"refs": [["os", None]]}
    assert scan([(src, "p")])[0]["refs"] == [["\uff4f\uff53", None]]
