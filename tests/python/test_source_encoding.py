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


def test_a_declaration_nobody_knows_is_accepted_the_known_gap():
    # CPython refuses it ("unknown encoding"); the scan reads it as latin-1 (source_encoding.h).
    data = b'# coding: no-such-codec\nS = "caf\xe9"\nimport os\n'
    with pytest.raises(SyntaxError):
        compile(data, "m.py", "exec", dont_inherit=True)
    assert _core.scan_imports(data, "p") == [("os", None)]


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
