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


@pytest.mark.parametrize("data,reason", [
    (b'S = "caf\xe9"\nimport os\n', "line 1: source is not valid UTF-8"),
    (b'import os\n# coding: latin-1\nS = "caf\xe9"\n', "line 3: source is not valid UTF-8"),
    (b'# coding: utf-8\nS = "caf\xe9"\n', "line 2: source is not valid UTF-8"),
    (b'# coding: no-such-codec\nS = "caf\xe9"\n', "line 1: unknown encoding: no-such-codec"),
    (b'# coding: shift_jis\nS = "\x82"\n', "line 2: source is not valid shift_jis"),
], ids=["undeclared", "declared after code", "declared utf-8", "unknown codec", "bad bytes"])
def test_bytes_that_do_not_decode_are_refused_as_compile_refuses_them(data, reason):
    with pytest.raises(SyntaxError):
        compile(data, "m.py", "exec", dont_inherit=True)
    with pytest.raises(ValueError) as refused:
        _core.scan_imports(data, "p")
    assert str(refused.value).startswith(reason), refused.value
    assert _core.find_compile_error(data).startswith(reason)
