"""The how-tos of torch.package's documentation, done with tpkg, and loaded
back with tpkg and with real torch.package."""
import importlib
import importlib.resources
import io
import os
import subprocess
import sys
import zipfile

import pytest

import tpkg
import tpkg.package_exporter
from tpkg_compare import assert_same_value

torch = pytest.importorskip("torch")
import torch.package  # noqa: E402

TORCH_MAJOR = int(torch.__version__.split(".")[0])

MODELS = {
    "models/__init__.py": "",
    "models/resnetish.py": (
        "import torch\n"
        "from .blocks import Block\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.block = Block(3)\n"
        "    def forward(self, x):\n"
        "        return self.block(x).sum(dim=-1)\n"
    ),
    "models/blocks.py": (
        "import torch\n"
        "class Block(torch.nn.Module):\n"
        "    def __init__(self, n):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(n, n)\n"
        "    def forward(self, x):\n"
        "        return torch.relu(self.lin(x))\n"
    ),
    "inside/__init__.py": "",
    "inside/where.py": "def packaged():\n    return '__torch_package__' in globals()\n",
    "reader/__init__.py": "",
    "reader/res.py": (
        "import importlib.resources\n"
        "import torch_package_importer\n"
        "def via_resources():\n"
        "    me = torch_package_importer.import_module(__name__.rpartition('.')[0])\n"
        "    return importlib.resources.files(me).joinpath('data.txt').read_text()\n"
        "def via_importer():\n"
        "    return torch_package_importer.load_text('reader', 'data.txt')\n"
    ),
    "tsmod/__init__.py": "",
    "tsmod/affine.py": (
        "import torch\n"
        "class Affine(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.w = torch.nn.Parameter(torch.arange(6.0).reshape(2, 3) / 10)\n"
        "    def forward(self, x):\n"
        "        return x @ self.w.t() + 1\n"
    ),
}

X = torch.arange(6.0).reshape(2, 3) / 6


@pytest.fixture(autouse=True)
def sources(src_tree):
    return src_tree(MODELS)


def both_loaders(path):
    return [tpkg.PackageImporter(str(path)), torch.package.PackageImporter(str(path))]


def test_package_a_model_with_its_code(tmp_path):
    from models.resnetish import Net

    torch.manual_seed(0)
    model = Net()
    with tpkg.PackageExporter(tmp_path / "m.pt") as pe:
        pe.intern("models.**")
        pe.save_pickle("model", "model.pkl", model)
    assert pe.interned_modules() == ["models.blocks", "models.resnetish"]
    for imp in both_loaders(tmp_path / "m.pt"):
        loaded = imp.load_pickle("model", "model.pkl")
        assert type(loaded).__module__ == imp.id() + ".models.resnetish"
        assert torch.equal(loaded(X), model(X))


def test_see_what_is_inside_a_package(tmp_path):
    with tpkg.PackageExporter(tmp_path / "m.pt") as pe:
        pe.save_text("my_resources", "a.txt", "x")
        pe.save_source_string("my_pkg.mod", "A = 1\n")
    tree = tpkg.PackageImporter(tmp_path / "m.pt").file_structure(include=["my_pkg/**", "my_resources/**"])
    assert tree.has_file("my_resources/a.txt") and not tree.has_file("my_resources/b.txt")
    listing = str(tpkg.PackageImporter(tmp_path / "m.pt").file_structure(exclude=".data/**"))
    if TORCH_MAJOR >= 2:  # torch 2.x's writer adds a top-level `byteorder` record
        assert listing.splitlines()[1:] == [
            "    ├── my_pkg", "    │   └── mod.py", "    ├── my_resources", "    │   └── a.txt",
            "    └── byteorder"]
    else:
        assert listing.splitlines()[1:] == [
            "    ├── my_pkg", "    │   └── mod.py", "    └── my_resources", "        └── a.txt"]
    assert listing == str(torch.package.PackageImporter(tmp_path / "m.pt").file_structure(exclude=".data/**"))


def test_resources_saved_and_loaded_both_ways(tmp_path):
    with tpkg.PackageExporter(tmp_path / "r.pt") as pe:
        # `import torch_package_importer` only works inside a package, so the
        # module is added as a source string (as torch's docs do).
        pe.save_source_string("reader.res", MODELS["reader/res.py"])
        pe.save_text("reader", "data.txt", "packaged text")
        pe.save_binary("reader", "raw.bin", b"\x00\xff")
        pe.save_pickle("reader", "obj.pkl", {"a": [1, 2]})
    for imp in both_loaders(tmp_path / "r.pt"):
        res = imp.import_module("reader.res")
        assert res.via_resources() == "packaged text"
        assert res.via_importer() == "packaged text"
        assert imp.load_binary("reader", "raw.bin") == b"\x00\xff"
        assert imp.load_pickle("reader", "obj.pkl") == {"a": [1, 2]}
        reader_pkg = imp.import_module("reader")
        listed = sorted(r.name for r in importlib.resources.files(reader_pkg).iterdir())
        assert listed == ["data.txt", "obj.pkl", "raw.bin", "res.py"]
    # importlib.resources.contents() (deprecated since 3.11): Python 3.13's
    # fails on torch.package's resource reader; tpkg's does what torch's does.
    outcomes = []
    for imp in both_loaders(tmp_path / "r.pt"):
        try:
            outcomes.append(sorted(importlib.resources.contents(imp.import_module("reader"))))
        except Exception as e:
            outcomes.append(f"{type(e).__name__}: {e}")
    assert outcomes[0] == outcomes[1]
    if sys.version_info < (3, 13):
        assert outcomes[0] == ["data.txt", "obj.pkl", "raw.bin", "res.py"]


def test_custom_reduce_package(tmp_path, src_tree):
    src_tree({"custom/__init__.py": "", "custom/obj.py": (
        "class Thing:\n"
        "    def __init__(self, n):\n"
        "        self.n = n\n"
        "    def __reduce_package__(self, exporter):\n"
        "        name = f'thing_{exporter.get_unique_id()}.txt'\n"
        "        exporter.save_text('things', name, str(self.n))\n"
        "        return (unpackage, (name,))\n"
        "def unpackage(importer, name):\n"
        "    return Thing(int(importer.load_text('things', name)))\n")})
    from custom.obj import Thing

    t = Thing(41)
    with tpkg.PackageExporter(tmp_path / "c.pt") as pe:
        pe.intern("custom.**")
        pe.save_pickle("objs", "t.pkl", [t, t])
    for imp in both_loaders(tmp_path / "c.pt"):
        a, b = imp.load_pickle("objs", "t.pkl")
        assert a is b and a.n == 41 and imp.load_text("things", "thing_0.txt") == "41"


def test_code_knows_whether_it_runs_packaged(tmp_path):
    import inside.where

    assert not inside.where.packaged()
    with tpkg.PackageExporter(tmp_path / "w.pt") as pe:
        pe.save_module("inside.where")
    for imp in both_loaders(tmp_path / "w.pt"):
        assert imp.import_module("inside.where").packaged()


def test_patch_code_into_a_package(tmp_path):
    from models.resnetish import Net

    with tpkg.PackageExporter(tmp_path / "p.pt") as pe:
        pe.intern("models.**")
        pe.save_source_string("models.blocks", MODELS["models/blocks.py"] + "PATCHED = True\n")
        pe.save_pickle("model", "model.pkl", Net())
    for imp in both_loaders(tmp_path / "p.pt"):
        assert imp.import_module("models.blocks").PATCHED


def test_is_from_package(tmp_path):
    from models.resnetish import Net

    with tpkg.PackageExporter(tmp_path / "f.pt") as pe:
        pe.intern("models.**")
        pe.save_pickle("model", "model.pkl", Net())
    loaded = tpkg.PackageImporter(tmp_path / "f.pt").load_pickle("model", "model.pkl")
    assert tpkg.is_from_package(loaded) and not tpkg.is_from_package(Net())
    assert not tpkg.is_from_package(loaded.block.lin)  # torch.nn.Linear is extern


def test_reexport_an_imported_object(tmp_path):
    from models.resnetish import Net

    torch.manual_seed(1)
    with tpkg.PackageExporter(tmp_path / "first.pt") as pe:
        pe.intern("models.**")
        pe.save_pickle("model", "model.pkl", Net())
    for first_loader in (tpkg.PackageImporter, torch.package.PackageImporter):
        imp = first_loader(str(tmp_path / "first.pt"))
        loaded = imp.load_pickle("model", "model.pkl")
        out = tmp_path / f"second_{first_loader.__module__.split('.')[0]}.pt"
        with tpkg.PackageExporter(out, importer=(imp, tpkg.sys_importer)) as pe:
            pe.intern("**")
            pe.save_pickle("model", "model.pkl", loaded)
        with zipfile.ZipFile(out) as z:
            assert not any("torch_package" in n for n in z.namelist())
        for again in both_loaders(out):
            assert torch.equal(again.load_pickle("model", "model.pkl")(X), loaded(X))


def test_torch_package_can_reexport_what_tpkg_loaded(tmp_path):
    from models.resnetish import Net

    with tpkg.PackageExporter(tmp_path / "first.pt") as pe:
        pe.intern("models.**")
        pe.save_pickle("model", "model.pkl", Net())
    imp = tpkg.PackageImporter(tmp_path / "first.pt")
    loaded = imp.load_pickle("model", "model.pkl")
    with torch.package.PackageExporter(str(tmp_path / "second.pt"), importer=(imp, torch.package.sys_importer)) as pe:
        pe.intern("**")
        pe.save_pickle("model", "model.pkl", loaded)
    for again in both_loaders(tmp_path / "second.pt"):
        assert torch.equal(again.load_pickle("model", "model.pkl")(X), loaded(X))


def test_mocked_modules_fail_only_when_used(tmp_path, src_tree):
    src_tree({"app/__init__.py": "", "app/main.py": (
        "import app.training\n"
        "def infer(x):\n    return x + 1\n"
        "def train():\n    return app.training.fit()\n"),
        "app/training.py": "def fit():\n    return 'fitted'\n"})
    with tpkg.PackageExporter(tmp_path / "mock.pt") as pe:
        pe.mock("app.training")
        pe.intern("app.**")
        pe.save_module("app.main")
    assert pe.mocked_modules() == ["app.training"]
    for imp in both_loaders(tmp_path / "mock.pt"):
        main = imp.import_module("app.main")
        assert main.infer(1) == 2
        with pytest.raises(NotImplementedError, match="was mocked out during packaging"):
            main.train()


@pytest.fixture
def ungated():
    tpkg.package_exporter._gate_torchscript_serialization = False
    yield
    tpkg.package_exporter._gate_torchscript_serialization = True


def test_torchscript_is_gated_like_torch(tmp_path):
    from tsmod.affine import Affine

    scripted = torch.jit.script(Affine())
    errors = []
    for pkg in (torch.package, tpkg):
        with pytest.raises(Exception) as info:
            with pkg.PackageExporter(io.BytesIO()) as pe:
                pe.save_pickle("m", "m.pkl", scripted)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


FAILED_TORCHSCRIPT_EXPORT = """
import io, os, sys
import torch, tpkg
from tsmod.affine import Affine
tpkg.package_exporter._gate_torchscript_serialization = False
def side_archives():
    return sum(os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:tpkg-torchscript")
               for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}"))
try:
    with tpkg.PackageExporter(io.BytesIO()) as pe:
        pe.save_pickle("m", "m.pkl", torch.jit.script(Affine()))
        assert side_archives() >= 1
        pe.save_source_string("uses", "import models\\n")  # no action for `models`
except tpkg.PackagingError:
    print("refused; side archives left:", side_archives())
"""


def test_a_failed_export_with_torchscript_frees_its_side_archive_quietly(sources):
    """The exporter lives on until the interpreter exits, as in a script: its TorchScript side
    archive is freed by the failed close(), and nothing is printed at exit."""
    path = os.pathsep.join([str(sources), *sys.path])
    r = subprocess.run([sys.executable, "-c", FAILED_TORCHSCRIPT_EXPORT], capture_output=True,
                       text=True, timeout=120, env={**os.environ, "PYTHONPATH": path})
    assert (r.returncode, r.stdout, r.stderr) == (0, "refused; side archives left: 0\n", "")


def test_torchscript_modules_round_trip(tmp_path, ungated):
    from tsmod.affine import Affine

    scripted = torch.jit.script(Affine())
    plain = torch.arange(4.0)
    with tpkg.PackageExporter(tmp_path / "ts.pt") as pe:
        pe.save_pickle("model", "before.pkl", plain)
        pe.save_pickle("model", "s.pkl", {"script": scripted, "w": scripted.w.detach(), "again": scripted})
        pe.save_pickle("model", "alone.pkl", scripted)
    torch.package.package_exporter._gate_torchscript_serialization = False
    try:
        with torch.package.PackageExporter(str(tmp_path / "ts_torch.pt")) as pe:
            pe.save_pickle("model", "before.pkl", plain)
            pe.save_pickle("model", "s.pkl", {"script": scripted, "w": scripted.w.detach(), "again": scripted})
            pe.save_pickle("model", "alone.pkl", scripted)
    finally:
        torch.package.package_exporter._gate_torchscript_serialization = True
    with zipfile.ZipFile(tmp_path / "ts.pt") as ours, zipfile.ZipFile(tmp_path / "ts_torch.pt") as theirs:
        assert sorted(n.split("/", 1)[1] for n in ours.namelist()) == sorted(
            n.split("/", 1)[1] for n in theirs.namelist())
        assert ours.testzip() is None
    reference = torch.package.PackageImporter(str(tmp_path / "ts_torch.pt"))
    for imp in both_loaders(tmp_path / "ts.pt"):
        s = imp.load_pickle("model", "s.pkl")
        assert s["script"] is s["again"]
        assert s["w"].storage().data_ptr() == s["script"].w.storage().data_ptr()
        assert torch.equal(s["script"](X), scripted(X))
        assert torch.equal(imp.load_pickle("model", "alone.pkl")(X), scripted(X))
        assert_same_value(reference.load_pickle("model", "before.pkl"), imp.load_pickle("model", "before.pkl"))
