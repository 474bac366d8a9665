"""ScanImports() against torch's find_files_source_depends_on on sources written
in the syntax Python 3.12 and 3.13 added: PEP 701 f-strings (the enclosing
quote reused in a field, nested f-strings, comments, backslashes and newlines
in fields, nested format specs), PEP 695 type parameters and `type`
statements, PEP 696 type parameter defaults, the soft keywords, `except*`.
Purely differential, like test_import_scan_quirks.py: the expected answer,
references or syntax error, is whatever the torch and the Python running the
test give.

The scanner follows Python 3.13's grammar, so this runs where the
interpreter is 3.13 or later (Debian 13: `bash scripts/debian13.sh`). On
Python 3.11 torch refuses most of these sources, so there is nothing to
compare with and the module is skipped; the C++ unit tests
(tests/unit/import_scan_test.cc) pin the same answers on every stack.
"""
import json
import subprocess
import sys
import warnings

import pytest

if sys.version_info < (3, 13):
    pytest.skip(f"the reference for Python 3.13 syntax is Python 3.13+; this is {sys.version.split()[0]}",
                allow_module_level=True)
pytest.importorskip("torch")
from torch.package.find_file_dependencies import find_files_source_depends_on  # noqa: E402

# Sources with imports in the new constructs (and the older ones around them).
WITH_IMPORTS = [
    'x = f"{__import__("a").b}"',
    'x = f"{f"{f"{__import__(\'inner\').x}"}"}"',
    'x = f\'\'\'{\n    __import__("c").x  # a \'}\' and a " in a comment\n}\'\'\'',
    'x = f\'{\n    __import__("s").x  # comment\n}\'',
    'x = f"{\'\\n\'.join(__import__(\'bs\').x)}"',
    'x = f"{__import__(\'v\').x:{__import__(\'s1\').a}>{__import__(\'s2\').b}}"',
    'x = f"{{__import__(\'no\')}}"',
    'x = f"{__import__(\'d\').x=!r:>10}"',
    'x = f"{x:{y}{{__import__(\'esc\')}}}"',
    'x = f"{x:{{__import__(\'set\')}}}"',
    "def f[T: __import__('bound').B = __import__('dflt').D](a: __import__('ann').A) -> __import__('ret').R:\n    import body",
    "@__import__('deco').d\nclass C[T: __import__('bound').B](__import__('base').B):\n    import body",
    "type X[T: __import__('bound').B] = __import__('value').V",
    'type = 1\ntype(x)\ntype.x = 2\ntype[int] = 3\nimport after',
    'type match = int; type type = str; import after',
    "def f[*Ts = __import__('tvt').X, **P = __import__('ps').Y](): pass",
    'try:\n    import a\nexcept* E:\n    import b',
    'match x:\n    case _:\n        import w',
    'print(f"{x!r}", f"{x = }", rf"\\{__import__(\'raw\').x}")',
    'x = f"{f"{__import__(\'inner\').x}"}" + f\'{__import__("outer").y}\'',
    'x = f"{x!r:>{__import__("spec").w}}" f"{__import__("second").z=}"',
    'x = f"""{\n    __import__("multi").x  # a comment with a } brace and a " quote\n}"""',
    'x = f\'{\n    __import__("single_multi").x  # comment\n}\'',
    'x = f"{x:{__import__(\'l1\').a}{__import__(\'l1b\').b}x{y:{__import__(\'l2\').c}}}"',
    'x = f"{f"{f"{f"{__import__(\'deep\').x}"}"}"}"',
    "def f[T: __import__('bound').B = __import__('default').D, *Ts = __import__('tvt').X, **P = __import__('ps').Y](a: __import__('ann').A = __import__('dflt').d) -> __import__('ret').R:\n    import body",
    "@__import__('deco').d\ndef f[T: __import__('bound').B](a: __import__('ann').A) -> __import__('ret').R:\n    import body",
    "@__import__('deco').d\nclass C[T: __import__('bound').B = __import__('default').D](__import__('base').B, metaclass=__import__('meta').M):\n    import body",
    "type X[T: __import__('bound').B = __import__('default').D] = __import__('value').V\nimport after",
    "type X = __import__('a').b; type Y[*Ts] = __import__('c').d",
    'class C[T]:\n    type Inner[U] = dict[T, U]\n    def m[V](self, v: V) -> V:\n        from . import rel',
    'async def g[T]():\n    async with a as b:\n        import x',
    'match command.split():\n    case [action]:\n        import one\n    case [action, obj]:\n        import two\n    case Point(x=0, y=0):\n        import three\n    case {"k": _, **rest}:\n        import four\n    case _ if __import__(\'guard\').g:\n        import five',
    'match = 1\ncase = 2\n_ = 3\ntype = 4\ntype(x)\ntype.x = 5\ntype[int] = 6\nprint(match, case, _, type)\nimport soft',
    'try:\n    import a\nexcept* ValueError as e:\n    import b\nexcept* (TypeError, KeyError):\n    import c\nelse:\n    import d\nfinally:\n    import e',
    'try:\n    pass\nexcept* ValueError:\n    pass\nexcept TypeError:\n    pass',
    'try:\n    pass\nexcept*:\n    pass',
    'try:\n    pass\nexcept *ValueError:\n    import spaced',
    'x = [*a, *b]\ny = a[*b]\ndef f(*args: *Ts): pass',
    'with (open(a) as b, open(c) as d):\n    import w',
    'if (n := len(a)) > 10:\n    import walrus',
    'def f(a, /, b, *, c): import posonly',
    '@buttons[0].clicked.connect\ndef f(): import relaxed_deco',
    'x = f"{x:{y:{z}}}"',
    'x = f"{x:{y:{z:{w}}}}"',
    'x = f"{"',
    'x = f"{x"',
    'x = f"{x!r"',
    'x = f"{x:"',
    "x = f'{x}\n'",
    "x = f'''{x}",
    'type X = int\ntype X[T] = list[T]\ntype X[T,] = list[T]',
    'type X[] = int',
    'type X',
    'type X[T]',
    'def f[](): pass',
    'class C[]: pass',
    'def f[T,,](): pass',
    'def f[*Ts: int](): pass',
    'def f[T = *a](): pass',
    'print(f"{\'a\' \'b\'}", f"{b\'x\'}", rf"{x}\\d", Rb"x", fR"{y}")',
    'x = f"{x!r:}"',
    'x = f"{x!r:{y!s}}"',
    'x = f"{x}" f"{y}" "z" f"{__import__(\'concat\').w}"',
    '__import__(f"name")',
    '__import__("a" f"b")',
    'x = f"{x=!r:^20}"',
    'x = f"{x =   }"',
    'x = f"{3.14:!<10.10}"',
    'x = f"{a[\'b\']!r}"',
    'x = f"{x:{{}}>10}"',
    'x = f"\\N{BULLET} {x}"',
    'x = f"\\{x}"',
    'x = rf"\\N{x}"',
    'x = f"{x}\\N{DIGIT ONE}{__import__(\'after_named\').y}"',
    'x = f"{{}}{{{x}}}"',
    'x = f"{{x}"',
    'x = f"{x}}}"',
    'x = f"{lambda: 1}"',
    'x = f"{(lambda: __import__(\'lam\').x)()}"',
    'x = f"{yield}"',
    'x = f"{yield __import__(\'y\').x}"',
    'x = f"{*a,}"',
    'x = f"{*a}"',
    'x = f"{x for x in y}"',
    'x = f"{(x for x in y)}"',
    'x = f"{x if y else z}"',
    'x = f"{x:{y if z else w}}"',
    'x = f"{ x = }"',
    'x = f"{x!r=}"',
    'x = f"{x!}"',
    'x = f"{x! r}"',
    'x = f"{x!rr}"',
    'x = f"{x!if}"',
    'x = f"{x:#{y}#}"',
    'x = f"{x#}"',
    'x = f"""{x#}"""',
    'x = f"""{x#}\n"""',
    'x = f"""{x#\n}"""',
    'x = f"{x}" # f"{__import__(\'commented\')}"',
    'x = f"{x:\\\n}"',
    'x = f"{\\\nx}"',
    'x = f\'\'\'a\nb{x}\nc{__import__("ml").y}\n\'\'\'',
    'x = f\'{"""a\nb"""}{__import__("tq").z}\'',
    'x = f\'{x:{"""\n"""}}\'',
    'x = f"{x:{\'a\'}}"',
    'x = f"{x:{"a"}}"',
    'x = u"a" f"b"',
    'x = b"a" f"b"',
    'x = f"{x:}}"',
    'x = f"{x)"',
    'x = f"{(x}"',
    'x = f"{x]}"',
    'x = f"{x}" if f"{y}" else f"{__import__(\'tern\').z}"',
    'def f():\n    return f"{__import__(\'ret\').x}"',
    'x = {f"{k}": __import__(\'v\').x for k in f"{__import__(\'it\').y}"}',
]

# Corners of the f-string and type-parameter grammar, mostly without imports:
# what CPython accepts and refuses must be accepted and refused alike.
SYNTAX_CORNERS = [
    'f"{d["k"]}"',
    'f"{f"{f"{x}"}"}"',
    "f'''{x # c\n}'''",
    "f'{x # c\n}'",
    "f'{x # c}'",
    "f'{1+\n2}'",
    'f\'{"\\n".join(x)}\'',
    "f'{x:{y}>10}'",
    "f'{x:{y:{z}}}'",
    "f'{x:{y:{z:{w}}}}'",
    "f'{x!r}'",
    "f'{x! r}'",
    "f'{x!r }'",
    "f'{x = }'",
    "f'{x=!r:>10}'",
    "f'{lambda x: x}'",
    "f'{(lambda x: x)}'",
    "f'{*a}'",
    "f'{*a,}'",
    "f'{yield}'",
    "f'{a!=b}'",
    "f'{}'",
    "f'{ }'",
    "f'{x:}'",
    "f'{x!}'",
    "f'{x:\\n}'",
    "f'{x:{{}}}'",
    "f'{x:a{{b}}c}'",
    "f'{x:}}'",
    "f'{x:{'",
    "f'{{'",
    "f'}}'",
    "f'}'",
    "f'\\N{DIGIT ONE}{x}'",
    "rf'\\N{x}'",
    "rf'\\{x}'",
    "f'{x}' 'a' f'{y}'",
    "f'{x:\\{y}'",
    "f'{\\\n x}'",
    "f'{x\\\n}'",
    "f'''{x\n!r}'''",
    "f'''{x!r\n}'''",
    "f'''{x:\n}'''",
    "f'{x:{y}\n}'",
    "f'{x:{y} # c}'",
    "f'''{x:a\nb}'''",
    "f'{x:=1}'",
    "f'{(x:=1)}'",
    "f'{x,y}'",
    "f'{x:{y!r:>{z}}}'",
    "f'{x!r:{y}}'",
    "f'{x=}'",
    "f'{x=:>4}'",
    "f'{x =  !r}'",
    "f'{x:{y=}}'",
    'f\'{a["b"]:{c}}\'',
    "f'{x:a:b}'",
    "f'{x:a!r}'",
    "f'{x:a=b}'",
    "f'{x!r=}'",
    "f'{x!rr}'",
    "f'{x!s:}'",
    "f'{#}'",
    "f'''{#\nx}'''",
    "f'{x\n}'",
    "f'{\nx}'",
    "f'{x:\n}'",
    'f"{\'\'\'\n\'\'\'}"',
    'f\'{"""a\nb"""}\'',
    'f\'{x:{"a"}}\'',
    "f'{x:\\'}'",
    "f'a\\'b{x}'",
    "f'{x}\\'",
    "f'{x}}'",
    "f'{x} }'",
    "f'{0:{0:{0}}}'",
    "f'{x:{y:}}'",
    "f'{x:!}'",
    "f'{x:{{y}}}'",
    "f'{x!a}'",
    "f'{x!ascii}'",
    "f'{x!:}'",
    "f'{a:{b}{c}}'",
    "f'{a:{b}x{c}}'",
    "f'{  x  }'",
    "f'{x:{ y }}'",
    "b'{x}'",
    "fb'x'",
    "u'a'",
    "ur'a'",
    "Rf'{x}'",
    "FR'{x}'",
    "f'{a if b else c}'",
    "f'{a:b if c else d}'",
    "f'{[1,2][0]:>{3}}'",
    "f'{x}{'",
    "f'{x!r:{y}=}'",
    "f'{x:{y}'",
    "f'{{x}}'",
    "f'{{{x}}}'",
    "f'{x:{y}}}'",
    'f\'{"a" "b"}\'',
    "f'{f'{x}'}'",
    "f'''{f'''{x}'''}'''",
    "f'{1:{2:{3}}}'",
    'f"{x:{"a"}}"',
    "f'\\{x}'",
    "f'{x:\\\\}'",
    "f'{x:\\N{DIGIT ONE}}'",
    "f'{x:\\x41}'",
    "f'{x:{y}{{z}}}'",
    "f'{x:{y}{{}}}'",
    "f'{x:{y}a{{z}}}'",
    "f'{x:{y}}}}'",
    "f'{x:a{y}b}'",
    "f'{lambda:{x}}'",
    'def f[T=int, U](): pass',
    'def f[**P: int](): pass',
    'class C[T,](): pass',
    'type X[T=int, *Ts=*tuple[int], **P=[int]] = T',
    'type X = yield',
    'type X = a, b',
    'type X = *a',
    'def f[T: (int, str) = int](x: T) -> T: pass',
    'type match = 1',
    'type type = 1',
    'type _ = 1',
    'type X[T] = lambda: T',
    'type X[*Ts = int] = 1',
    'def f[*Ts = *a](): pass',
    'def f[**P = *a](): pass',
    'async def f[T](): pass',
    'class C[T](B, metaclass=M): pass',
    'def f[T, T](): pass',
    'type X[T: int = str] = T',
    "f'{x!r:{y}}' f'{z}'",
    'x = 1 ! 2',
    "f'{x:{y}' f'}'",
    "f'{x}' b'a'",
    "f'{x:' '}'",
    "rf'{x!r}\\{y}'",
    "f'''{x:a\\n{y}\\n}'''",
    'f\'{"""}"""}\'',
    "f'{x:{y}{z}}'",
    "f'{ {x: 1}[x] }'",
    "f'{x!r:a{b!s:c}d}'",
    "f'{x}' \\\\n f'{y}'",
    "f'''{\\nx\\n=}'''",
    "f'{x:#\\n}'",
    "f'{x:#}'",
    "f'{x:##}'",
    "f'''a{x:{y}\\nz}'''",
    "u'x' f'{y}'",
    "f'{x:{y}}'",
]

def _torch(src, package):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences
        try:
            refs = find_files_source_depends_on(src, package)
        except SyntaxError as e:
            return {"syntax_error": e.msg}
        except Exception as e:
            return {"error": str(e)}
    return {"refs": [list(r) for r in refs if isinstance(r[0], str) and (r[1] is None or isinstance(r[1], str))]}


@pytest.fixture(scope="module")
def scan(build_dir, tmp_path_factory):
    tool = build_dir / "tests" / "tools" / "import_scan_dump"
    if not tool.exists():
        pytest.skip(f"{tool} is not built")
    workdir = tmp_path_factory.mktemp("newer_syntax")

    def run(sources, package):
        lines = []
        for i, src in enumerate(sources):
            path = workdir / f"{i}.py"
            path.write_bytes(src.encode("utf-8"))
            lines.append(f"{path}\t{package}\n")
        out = subprocess.run([str(tool)], input="".join(lines).encode(), check=True, capture_output=True).stdout
        return [json.loads(line) for line in out.decode().splitlines()]

    return run


def _differences(scan, sources, package="p.q"):
    failures, counts = [], {"same references": 0, "both refuse": 0}
    for src, got in zip(sources, scan(sources, package)):
        want = _torch(src, package)
        if "refs" in want and got.get("refs") == want["refs"]:
            counts["same references"] += 1
        elif "refs" not in want and "error" in got:
            counts["both refuse"] += 1
        else:
            failures.append(f"{src!r}:\n  torch: {want}\n  ours:  {got}")
    print(f"\n{len(sources)} sources: {counts}")
    return failures


def test_imports_in_newer_syntax_match_torch(scan):
    failures = _differences(scan, WITH_IMPORTS)
    assert not failures, "\n".join(failures)


def test_newer_syntax_corners_are_accepted_and_refused_like_cpython(scan):
    failures = _differences(scan, SYNTAX_CORNERS)
    assert not failures, "\n".join(failures)
