"""A source with a PEP 263 coding declaration (scan/source_encoding.h): its bytes are what
torch's importer compiles and what its exporter's linecache decodes, so the import scan and the
compile checks read them in the declared encoding, compared here with torch's own scan of the
decoded text and with this stack's compile() of the bytes."""
import pytest

from tpkg import _core

pytest.importorskip("torch")
from torch.package.find_file_dependencies import find_files_source_depends_on  # noqa: E402

BODY = 'S = "{}"\nimport os\nfrom json import dumps\nif S:\n    import re\n'
TEXTS = [("latin-1", "café"), ("iso-8859-15", "€uro"), ("cp1252", "“quoted”"),
         ("shift_jis", "あいう"), ("euc_jp", "日本"), ("koi8-r", "мир"), ("gbk", "中文")]
DECLARATIONS = ["# -*- coding: {} -*-\n", "#!/usr/bin/env python3\n# vim: set fileencoding={} :\n",
                "# coding={}\n"]


@pytest.mark.parametrize("encoding,text", TEXTS, ids=[e for e, _ in TEXTS])
@pytest.mark.parametrize("declaration", DECLARATIONS, ids=["emacs", "vim on line 2", "plain"])
def test_a_declared_encoding_is_read_as_torch_reads_it(encoding, text, declaration):
    source = declaration.format(encoding) + BODY.format(text)
    data = source.encode(encoding)
    compile(data, "m.py", "exec", dont_inherit=True)  # what torch's importer does
    expected = find_files_source_depends_on(source, "p")  # torch's exporter, on linecache's text
    assert _core.scan_imports(data, "p") == expected
    assert _core.find_compile_error(data) is None


@pytest.mark.parametrize("data", [
    '# -*- coding: mac_roman -*-\nS = "café"\nimport os\n'.encode("mac_roman"),
    '# coding: latin\nS = "café"\nimport os\n'.encode("latin-1"),
    '\r# coding: latin-1\rS = "café"\rimport os\r'.encode("latin-1"),
], ids=["mac_roman (iconv: MACINTOSH)", "latin (a Python alias)", "old Mac line ends"])
def test_what_python_reads_and_iconv_names_otherwise_is_read(data):
    compile(data, "m.py", "exec", dont_inherit=True)
    assert _core.scan_imports(data, "p") == [("os", None)]
    assert _core.find_compile_error(data) is None


def declared_names():
    """Every codec name this Python knows, spelled as people do, and names it does not."""
    import encodings
    import encodings.aliases
    import pkgutil
    names = set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
    names |= {m.name for m in pkgutil.iter_modules(encodings.__path__)}
    spelled = set()
    for n in names:
        spelled |= {n, n.upper(), n.replace("_", "-"), n.replace("_", "."), n.replace("_", "--"),
                    "-" + n, n + "-x", n.replace("_", "")}
    return sorted(spelled | {"no-such-codec", "latin.1", "utf-8-anything-at-all", "UTF8",
                             "iso-latin-1-unix", "Latin-1", "x", "_", ".", "hex", "rot13"})


def python_verdict(source):
    """compile()'s verdict: "accepted", "unknown" (the name is no text encoding it has), or
    "other" (a codec it has failed on these bytes: utf_16 on ASCII, `undefined`)."""
    try:
        compile(source, "m.py", "exec", dont_inherit=True)
    except SyntaxError as e:
        unknown = e.msg.startswith("unknown encoding") or "is not a text encoding" in e.msg
        return "unknown" if unknown else "other"
    except Exception:
        return "other"
    return "accepted"


def test_a_declaration_is_known_as_this_python_knows_it():
    # Every name and spelling compile() knows is read; every one it does not is refused
    # ("unknown encoding": torch's importer compiles the bytes and would refuse it too).
    # (A codec compile() has but fails on these bytes may be either: bytes that are valid
    # UTF-8 are read as UTF-8, source_encoding.h.)
    wrong = []
    for name in declared_names():
        source = f"# coding: {name}\nimport os\n".encode()
        error = _core.find_compile_error(source)
        verdict = python_verdict(source)
        if verdict == "accepted" and error is not None or verdict == "unknown" and error != (
                f"line 1: unknown encoding: {name}"):
            wrong.append((name, verdict, error))
    assert wrong == []


def test_a_declaration_nobody_knows_is_refused_on_its_line():
    data = b'#!/usr/bin/env python3\n# coding: no-such-codec\nimport os\n'
    with pytest.raises(SyntaxError):
        compile(data, "m.py", "exec", dont_inherit=True)
    with pytest.raises(ValueError) as refused:
        _core.scan_imports(data, "p")
    assert str(refused.value) == "line 2: unknown encoding: no-such-codec"


@pytest.mark.parametrize("data,reason", [
    (b'S = "caf\xe9"\nimport os\n', "line 1: source is not valid UTF-8"),
    (b'import os\n# coding: latin-1\nS = "caf\xe9"\n', "line 3: source is not valid UTF-8"),
    (b'# coding: utf-8\nS = "caf\xe9"\n', "line 2: source is not valid UTF-8"),
    (b'# coding: shift_jis\nS = "\x82"\n', "line 2: source is not valid shift_jis"),
    (b'\xef\xbb\xbf# coding: latin-1\nimport os\n', "line 1: encoding problem: latin-1 with BOM"),
], ids=["undeclared", "declared after code", "declared utf-8", "bad bytes", "BOM and latin-1"])
def test_bytes_that_do_not_decode_are_refused_as_compile_refuses_them(data, reason):
    with pytest.raises(SyntaxError):
        compile(data, "m.py", "exec", dont_inherit=True)
    with pytest.raises(ValueError) as refused:
        _core.scan_imports(data, "p")
    assert str(refused.value).startswith(reason), refused.value
    assert _core.find_compile_error(data).startswith(reason)
