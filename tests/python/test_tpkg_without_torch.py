"""With torch hidden from the interpreter, everything tensor-free works: a
child interpreter whose sys.meta_path refuses `torch` runs the script below."""
import io
import os
import subprocess
import sys
import textwrap
import types

import corpus_paths

CORPUS = str(corpus_paths.CORPUS)

SCRIPT = textwrap.dedent(r'''
    import importlib.abc, io, os, sys, zipfile

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden)", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())
    sys.path.insert(0, SRC)
    os.makedirs(os.path.join(SRC, "shapes"), exist_ok=True)
    with open(os.path.join(SRC, "shapes", "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(SRC, "shapes", "square.py"), "w") as f:
        f.write("import json\nfrom . import util\nimport gone_module\n"
                "class Square:\n    def __init__(self, s):\n        self.s = s\n"
                "    def area(self):\n        return util.mul(self.s, self.s)\n")
    with open(os.path.join(SRC, "shapes", "util.py"), "w") as f:
        f.write("def mul(a, b):\n    return a * b\n")
    with open(os.path.join(SRC, "gone_module.py"), "w") as f:
        f.write("X = 1\n")

    import tpkg
    from shapes.square import Square

    out = os.path.join(SRC, "shapes.pt")
    with tpkg.PackageExporter(out) as pe:
        pe.mock("gone_module")
        pe.intern("shapes.**")
        pe.save_pickle("obj", "sq.pkl", [Square(3), Square(3)], pickle_protocol=4)
        pe.save_text("obj", "note.txt", "hi")
        pe.save_source_string("extra", "VALUE = 42\n")
    assert pe.interned_modules() == ["extra", "shapes.square", "shapes.util"], pe.interned_modules()
    assert pe.externed_modules() == ["json"], pe.externed_modules()
    assert pe.mocked_modules() == ["gone_module"]
    assert '"shapes.square" -> "shapes.util";' in pe.dependency_graph_string()
    assert pe.get_rdeps("shapes.util") == ["shapes.square"]

    imp = tpkg.PackageImporter(out)
    a, b = imp.load_pickle("obj", "sq.pkl")
    assert a.area() == 9 and tpkg.is_from_package(a)
    assert imp.load_text("obj", "note.txt") == "hi"
    assert imp.import_module("extra").VALUE == 42
    assert imp.file_structure().has_file("shapes/util.py")
    assert imp.python_version() is not None

    buf = io.BytesIO()
    with tpkg.PackageExporter(buf) as pe:
        pe.save_binary("b", "x.bin", b"\x01")
    assert tpkg.PackageImporter(io.BytesIO(buf.getvalue())).load_binary("b", "x.bin") == b"\x01"

    with zipfile.ZipFile(out) as z:
        z.extractall(os.path.join(SRC, "unzipped"))
    directory = os.path.join(SRC, "unzipped", "shapes")
    assert tpkg.PackageImporter(directory).load_pickle("obj", "sq.pkl")[0].area() == 9

    for name, check in (("pkg_minimal_text_only.pt", lambda i: i.load_text("notes", "readme.txt")),
                        ("pkg_resources.pt", lambda i: i.import_module("respkg").read_greeting())):
        assert check(tpkg.PackageImporter(os.path.join(CORPUS, name)))

    try:
        with tpkg.PackageExporter(os.path.join(SRC, "bad.pt")) as pe:
            pe.deny("gone_module")
            pe.intern("shapes.**")
            pe.save_pickle("obj", "sq.pkl", Square(1))
    except tpkg.PackagingError as e:
        assert str(e) == DENIED_TEXT, repr(str(e))
    else:
        raise AssertionError("deny did not raise")

    assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules)
    print("OK")
''')


# What tpkg reproduces without torch at all: the newest torch.package (2.x).
TORCH2_DENIED_TEXT = ("\n* Module was denied by a pattern.\n    gone_module\n\n"
                      "Set debug=True when invoking PackageExporter for a visualization of where "
                      "broken modules are coming from!\n")


def denied_text(monkeypatch):
    """The PackagingError text of the installed torch.package for a module
    denied by a pattern: tpkg reproduces the torch installed beside it, even
    when the interpreter cannot import it."""
    try:
        import torch.package
    except ImportError:
        return TORCH2_DENIED_TEXT
    # torch only follows imports of modules it can import.
    monkeypatch.setitem(sys.modules, "gone_module", types.ModuleType("gone_module"))
    try:
        with torch.package.PackageExporter(io.BytesIO()) as pe:
            pe.deny("gone_module")
            pe.save_source_string("uses_gone", "import gone_module\n")
    except torch.package.PackagingError as e:
        return str(e)
    raise AssertionError("torch.package did not refuse the denied module")


def test_tensor_free_api_works_without_torch(tmp_path, staging_dir, monkeypatch):
    env = dict(os.environ, PYTHONPATH=str(staging_dir))
    prelude = f"SRC = {str(tmp_path)!r}\nCORPUS = {CORPUS!r}\nDENIED_TEXT = {denied_text(monkeypatch)!r}\n"
    done = subprocess.run([sys.executable, "-c", prelude + SCRIPT], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK"
