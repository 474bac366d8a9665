"""Export scenarios run identically with real torch.package and with tpkg.

Each scenario is `fn(pkg, out, ctx) -> dict of loadables` where `pkg` is the
package module (torch.package or tpkg), `out` the output path (or buffer)
and `ctx` a namespace with helpers (the torch module, a source-tree writer).
It returns {"exporter": the closed exporter, "pickles": [(package, resource)]}.
"""
import io

SOURCES = {
    # A model package with every kind of import the scanner must resolve.
    "mdl/__init__.py": "HIDDEN = 3\n",
    "mdl/model.py": (
        "import torch\n"
        "import numpy as np\n"
        "from . import util\n"
        "from .layers import Scale\n"
        "from mdl import HIDDEN\n"
        "try:\n"
        "    import not_installed_anywhere\n"
        "except ImportError:\n"
        "    pass\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(4, HIDDEN)\n"
        "        self.scale = Scale(0.5)\n"
        "        self.names = np.array(['a', 'b'])\n"
        "    def forward(self, x):\n"
        "        return util.squash(self.scale(self.fc(x)))\n"
    ),
    "mdl/layers.py": (
        "import torch\n"
        "class Scale(torch.nn.Module):\n"
        "    def __init__(self, f):\n"
        "        super().__init__()\n"
        "        self.f = torch.nn.Parameter(torch.tensor(f))\n"
        "    def forward(self, x):\n"
        "        return x * self.f\n"
    ),
    "mdl/util.py": "import math\nimport torch\ndef squash(x):\n    return torch.tanh(x) * math.pi\n",
    # Plain-Python code (no torch) for the tensor-free scenarios.
    "plain/__init__.py": "",
    "plain/point.py": (
        "import dataclasses\n"
        "from plain import helpers\n"
        "@dataclasses.dataclass\n"
        "class Point:\n"
        "    x: int\n"
        "    y: int\n"
        "    def norm1(self):\n"
        "        return helpers.absolute(self.x) + helpers.absolute(self.y)\n"
    ),
    "plain/helpers.py": "import heavy_dep\ndef absolute(v):\n    return abs(v)\n",
    "heavy_dep/__init__.py": "def expensive():\n    return 1\n",
    "heavy_dep/sub.py": "X = 1\n",
    "broken_syntax.py": "def f(:\n    pass\n",
    "uses_broken.py": "import broken_syntax\n",
    "rel_beyond.py": "from .. import nothing\n",
    "needs_sys.py": "import sys\nimport io\n",
    "reducer/__init__.py": "",
    "reducer/vocab.py": (
        "class Vocab:\n"
        "    def __init__(self, words):\n"
        "        self.words = list(words)\n"
        "    def __reduce_package__(self, exporter):\n"
        "        uid = exporter.get_unique_id()\n"
        "        exporter.save_text('vocab_store', f'vocab_{uid}.txt', '\\n'.join(self.words))\n"
        "        return (load_vocab, (uid,))\n"
        "def load_vocab(importer, uid):\n"
        "    return Vocab(importer.load_text('vocab_store', f'vocab_{uid}.txt').split('\\n'))\n"
    ),
    "dirsrc/__init__.py": "from .a import A\n",
    "dirsrc/a.py": "A = 1\nimport json\n",
    "dirsrc/sub/__init__.py": "",
    "dirsrc/sub/b.py": "from ..a import A\nB = A + 1\n",
}


def model_with_interned_code(pkg, out, ctx):
    import mdl.model

    ctx.torch.manual_seed(0)
    net = mdl.model.Net()
    with pkg.PackageExporter(out) as pe:
        pe.extern("numpy.**")
        pe.intern("mdl.**")
        pe.save_pickle("model", "model.pkl", net)
    return {"exporter": pe, "pickles": [("model", "model.pkl")]}


def resources_and_sources(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.save_source_string("respkg", "import torch_package_importer\nX = 1\n", is_package=True)
        pe.save_source_string("respkg.sub.mod", "from respkg import X\nY = X + 1\n")
        pe.save_text("respkg", "greeting.txt", "héllo\n")
        pe.save_binary("respkg", "blob.bin", bytes(range(256)))
        pe.save_text("respkg.sub", "nested.txt", "nested")
        pe.save_binary("assets", "table.bin", b"\x00\x01")
    return {"exporter": pe, "pickles": []}


def mocked_helpers(pkg, out, ctx):
    import plain.point

    with pkg.PackageExporter(out) as pe:
        pe.mock("heavy_dep.**")
        pe.intern("plain.**")
        pe.save_pickle("data", "p.pkl", plain.point.Point(3, -4))
    return {"exporter": pe, "pickles": [("data", "p.pkl")]}


def extern_and_protocol4(pkg, out, ctx):
    import plain.point

    with pkg.PackageExporter(out) as pe:
        pe.extern(["heavy_dep", "heavy_dep.*"])
        pe.intern("plain.**")
        pts = [plain.point.Point(1, 2)]
        pe.save_pickle("data", "p4.pkl", {"pts": pts, "again": pts[0]}, pickle_protocol=4)
        pe.save_pickle("data", "p3.pkl", pts[0])
    return {"exporter": pe, "pickles": [("data", "p4.pkl"), ("data", "p3.pkl")]}


def tensors_views_dtypes(pkg, out, ctx):
    torch = ctx.torch
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {"base": base, "row": base[2], "t": base.t(), "block": base[1:3, 2:5]}
    dtypes = {str(d): torch.tensor([1, 0, 1], dtype=d) for d in (
        torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.uint8, torch.int16,
        torch.int32, torch.int64, torch.bool, torch.complex64, torch.complex128)}
    with pkg.PackageExporter(out) as pe:
        pe.save_pickle("t", "views.pkl", views)
        pe.save_pickle("t", "again.pkl", {"base": base, "slice": torch.arange(100, dtype=torch.int16)[5:9]})
        pe.save_pickle("t", "dtypes.pkl", dtypes)
        pe.save_pickle("t", "param.pkl", torch.nn.Parameter(torch.tensor([0.5])))
        pe.save_pickle("t", "empty.pkl", [torch.empty(0), torch.tensor(7)])
    return {"exporter": pe, "pickles": [("t", "views.pkl"), ("t", "again.pkl"), ("t", "dtypes.pkl"),
                                        ("t", "param.pkl"), ("t", "empty.pkl")]}


def to_buffer(pkg, out, ctx):
    buf = io.BytesIO()
    with pkg.PackageExporter(buf) as pe:
        pe.save_text("notes", "a.txt", "buffered\n")
        pe.save_pickle("notes", "n.pkl", {"k": [1, 2.5, "x", None, (True,)]})
    with open(out, "wb") as f:
        f.write(buf.getvalue())
    return {"exporter": pe, "pickles": [("notes", "n.pkl")]}


def save_module_and_files(pkg, out, ctx):
    root = ctx.src_root
    with pkg.PackageExporter(out) as pe:
        pe.extern("heavy_dep")
        pe.intern(["plain.**", "dirsrc.**"])
        pe.save_source_file("dirsrc", str(root / "dirsrc"))
        pe.save_source_file("single", str(root / "plain" / "helpers.py"), dependencies=False)
        pe.save_module("plain.point")
    return {"exporter": pe, "pickles": []}


def hooks_in_order(pkg, out, ctx):
    import plain.point

    calls = []
    with pkg.PackageExporter(out) as pe:
        pe.mock("heavy_dep")
        pe.intern("plain.**")
        pe.register_intern_hook(lambda e, m: calls.append(("intern1", m)))
        removed = pe.register_intern_hook(lambda e, m: calls.append(("gone", m)))
        pe.register_extern_hook(lambda e, m: calls.append(("extern", m)))
        pe.register_mock_hook(lambda e, m: calls.append(("mock", m)))
        removed.remove()
        pe.save_pickle("d", "p.pkl", plain.point.Point(1, 1))
    return {"exporter": pe, "pickles": [("d", "p.pkl")], "facts": calls}


def hooks_write_records(pkg, out, ctx):
    # A record a hook writes during close() lands between the modules' records.
    import plain.point

    with pkg.PackageExporter(out) as pe:
        pe.extern("heavy_dep")
        pe.intern("plain.**")
        pe.register_extern_hook(lambda e, m: e.save_text("hooked", m + ".txt", m))
        pe.register_intern_hook(lambda e, m: e.save_binary("hooked", m + ".bin", m.encode()))
        pe.save_pickle("d", "p.pkl", plain.point.Point(1, 1))
    return {"exporter": pe, "pickles": [("d", "p.pkl")]}


def reduce_package_objects(pkg, out, ctx):
    import reducer.vocab

    v = reducer.vocab.Vocab(["a", "b"])
    with pkg.PackageExporter(out) as pe:
        pe.intern("reducer.**")
        pe.save_pickle("obj", "v.pkl", {"first": v, "again": v, "other": reducer.vocab.Vocab(["z"])})
    return {"exporter": pe, "pickles": [("obj", "v.pkl")], "has_ids": True}


def minimal_text(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.save_text("notes", "readme.txt", "only text\n")
    return {"exporter": pe, "pickles": []}


def submodules_of_plain_modules(pkg, out, ctx):
    # os is a module, not a package, yet `os.path` is in sys.modules: importing it works, so
    # it is a dependency of its own (dropping it leaves a package that cannot import `os`).
    with pkg.PackageExporter(out) as pe:
        pe.extern(["os.**", "os", "posixpath"])
        pe.save_source_string("uses_path", "import os.path\nfrom os.path import join\n"
                              "from os import path, sep\n")
    return {"exporter": pe, "pickles": []}


SUCCESS = [model_with_interned_code, resources_and_sources, mocked_helpers, extern_and_protocol4,
           tensors_views_dtypes, to_buffer, save_module_and_files, hooks_in_order,
           hooks_write_records, reduce_package_objects, minimal_text, submodules_of_plain_modules]


# Scenarios whose close() must fail the same way.
def denied(pkg, out, ctx):
    import plain.point

    with pkg.PackageExporter(out) as pe:
        pe.deny("heavy_dep")
        pe.intern("plain.**")
        pe.save_pickle("d", "p.pkl", plain.point.Point(1, 1))


def no_action(pkg, out, ctx):
    import plain.point

    with pkg.PackageExporter(out) as pe:
        pe.save_pickle("d", "p.pkl", plain.point.Point(1, 1))


def not_allowed_empty(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.extern("never.**", allow_empty=False)
        pe.save_text("a", "b.txt", "x")


def syntax_error(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.intern(["uses_broken", "broken_syntax"])
        pe.save_module("uses_broken")


def relative_beyond(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.save_module("rel_beyond")


def sys_and_io(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.save_module("needs_sys")


def extension_module(pkg, out, ctx):
    import numpy

    # numpy 2 moved the C extension to numpy._core (numpy.core's is a .py shim).
    core = "numpy._core" if int(numpy.__version__.split(".")[0]) >= 2 else "numpy.core"
    with pkg.PackageExporter(out) as pe:
        pe.save_module(f"{core}._multiarray_umath", dependencies=False)


def mocked_but_used(pkg, out, ctx):
    import heavy_dep

    with pkg.PackageExporter(out) as pe:
        pe.mock("heavy_dep")
        pe.save_pickle("d", "f.pkl", heavy_dep.expensive)


def duplicate_record(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.save_text("a", "b.txt", "x")
        pe.save_text("a", "b.txt", "y")


def resource_with_folder(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.save_text("a", "dir/b.txt", "x")


def directory_without_patterns(pkg, out, ctx):
    # torch registers the files one by one, so dirsrc/__init__.py's import of
    # .a is an unmatched module until a.py is saved: an AssertionError.
    with pkg.PackageExporter(out) as pe:
        pe.save_source_file("dirsrc", str(ctx.src_root / "dirsrc"))


def many_problems(pkg, out, ctx):
    # Several reasons at once: grouped by reason, in order of first appearance.
    import plain.point

    with pkg.PackageExporter(out) as pe:
        pe.deny("heavy_dep")
        pe.intern("plain.**", exclude="plain.helpers")
        pe.save_source_string("bad_src", "import json\ndef f(:\n    pass\n")
        pe.save_pickle("d", "p.pkl", plain.point.Point(1, 1))
        pe.save_module("needs_sys")
        pe.save_source_string("climber", "from ... import x\n")


def missing_module(pkg, out, ctx):
    # The importer's own ModuleNotFoundError, raised through the C++ policy.
    with pkg.PackageExporter(out) as pe:
        pe.save_module("no_such_module_anywhere")


def interned_dependency_missing(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.intern("ghost_pkg.**")
        pe.add_dependency("ghost_pkg.child")


def hook_raises(pkg, out, ctx):
    # An exception from a hook leaves close() through the library unchanged.
    def refuse(exporter, module_name):
        raise ValueError(f"refused {module_name}")

    with pkg.PackageExporter(out) as pe:
        pe.register_extern_hook(refuse)
        pe.save_source_string("m", "import json\n")


def intern_node_not_provided(pkg, out, ctx):
    # Only a direct graph edit makes such a node; close() refuses it.
    with pkg.PackageExporter(out) as pe:
        pe.dependency_graph.add_node("ghost", action=pkg.package_exporter._ModuleProviderAction.INTERN)


def bad_protocol(pkg, out, ctx):
    with pkg.PackageExporter(out) as pe:
        pe.save_pickle("a", "b.pkl", 1, pickle_protocol=2)


FAILURES = [denied, no_action, not_allowed_empty, syntax_error, relative_beyond, sys_and_io,
            extension_module, mocked_but_used, duplicate_record, resource_with_folder, directory_without_patterns, many_problems, missing_module,
            interned_dependency_missing, hook_raises, intern_node_not_provided, bad_protocol]
