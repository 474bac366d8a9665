"""The Python modules that the corpus packages intern, and how they are imported.

Their text ends up byte for byte inside the archives, so any edit here changes
the archives and their recorded facts (that is expected: regenerate).

They are written to STAGING (a folder relative to the output folder) and
imported through `RelativeSourceFinder`, which compiles them under *relative*
file names: code objects keep their file name, and TorchScript copies it into
the `.debug_pkl` records, so an absolute path would leak the machine's layout
into the archives and make them differ from one checkout to the next.
"""
import importlib
import importlib.abc
import importlib.machinery
import os
import shutil
import sys

# Relative to the output folder; part of the archives' bytes (TorchScript debug info).
STAGING = "_build_src"

SOURCES = {
    # pkg_model_numpy: a package found through absolute, relative and
    # `from package import NAME` imports; uses numpy (externed).
    "corpus_models/__init__.py": (
        '"""Tiny model package used by the torch.package test corpus."""\n'
        "DEFAULT_HIDDEN = 3\n"
    ),
    "corpus_models/layers.py": (
        "import torch\n"
        "\n"
        "\n"
        "class Scale(torch.nn.Module):\n"
        "    def __init__(self, factor):\n"
        "        super().__init__()\n"
        "        self.factor = torch.nn.Parameter(torch.tensor(float(factor)))\n"
        "\n"
        "    def forward(self, x):\n"
        "        return x * self.factor\n"
    ),
    "corpus_models/util.py": (
        "import math\n"
        "import torch\n"
        "\n"
        "\n"
        "def squash(x):\n"
        "    return torch.tanh(x) * math.pi\n"
    ),
    "corpus_models/model.py": (
        "import numpy as np\n"
        "import torch\n"
        "from corpus_models import DEFAULT_HIDDEN\n"
        "from .layers import Scale\n"
        "from . import util\n"
        "\n"
        "\n"
        "class TinyNet(torch.nn.Module):\n"
        "    def __init__(self, hidden=DEFAULT_HIDDEN):\n"
        "        super().__init__()\n"
        "        self.fc1 = torch.nn.Linear(4, hidden)\n"
        "        self.scale = Scale(0.5)\n"
        "        self.register_buffer('offset', torch.linspace(-1.0, 1.0, hidden))\n"
        "        self.class_names = np.array(['cat', 'dog', 'bird'])\n"
        "        self.weights_np = np.arange(6, dtype=np.float32).reshape(2, 3)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return util.squash(self.scale(self.fc1(x)) + self.offset)\n"
        "\n"
        "    def np_total(self):\n"
        "        return float(np.sum(self.weights_np))\n"
    ),
    # pkg_mocked and pkg_repackaged: a module and a package that get mocked.
    "corpus_mock/__init__.py": "",
    "corpus_mock/heavy.py": (
        "import json\n"
        "\n"
        "\n"
        "def expensive_report(items):\n"
        "    return json.dumps({'n': len(items)})\n"
    ),
    "corpus_mock/heavy_pkg/__init__.py": "from .impl import helper\n",
    "corpus_mock/heavy_pkg/impl.py": "def helper():\n    return 1\n",
    "corpus_mock/net.py": (
        "import torch\n"
        "import corpus_mock.heavy_pkg\n"
        "from corpus_mock import heavy\n"
        "\n"
        "\n"
        "class MockNet(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(2, 2)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.lin(x).relu()\n"
        "\n"
        "    def report(self):\n"
        "        return heavy.expensive_report([1, 2]) + str(corpus_mock.heavy_pkg.helper())\n"
    ),
    # pkg_reduce_package: a class with a __reduce_package__ hook.
    "corpus_reduce/__init__.py": "",
    "corpus_reduce/vocab.py": (
        "class Vocab:\n"
        "    def __init__(self, words):\n"
        "        self.words = list(words)\n"
        "\n"
        "    def __reduce_package__(self, exporter):\n"
        "        uid = exporter.get_unique_id()\n"
        "        exporter.save_text('vocab_store', 'vocab_' + uid + '.txt', "
        "'\\n'.join(self.words))\n"
        "        return (load_vocab, (uid, len(self.words)))\n"
        "\n"
        "\n"
        "def load_vocab(importer, uid, count):\n"
        "    text = importer.load_text('vocab_store', 'vocab_' + uid + '.txt')\n"
        "    words = text.split('\\n')\n"
        "    assert len(words) == count\n"
        "    return Vocab(words)\n"
    ),
    # pkg_torchscript: the module that gets scripted.
    "corpus_ts/__init__.py": "",
    "corpus_ts/affine.py": (
        "import torch\n"
        "\n"
        "\n"
        "class Affine(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.w = torch.nn.Parameter("
        "torch.arange(6, dtype=torch.float32).reshape(2, 3) / 10)\n"
        "        self.register_buffer('b', torch.tensor([0.5, -0.5]))\n"
        "\n"
        "    def forward(self, x):\n"
        "        return torch.relu(torch.matmul(x, self.w.t()) + self.b)\n"
    ),
    # pkg_protocol4: plain objects pickled with protocol 4.
    "corpus_p4/__init__.py": "",
    "corpus_p4/records.py": (
        "class Point:\n"
        "    def __init__(self, x, y, payload):\n"
        "        self.x = x\n"
        "        self.y = y\n"
        "        self.payload = payload\n"
    ),
}

# pkg_resources: saved with save_source_string, never imported while exporting.
RESPKG_INIT = (
    "import importlib.resources\n"
    "import torch_package_importer\n"
    "\n"
    "\n"
    "def _me():\n"
    "    # __name__ is mangled ('<torch_package_N>.respkg'); ask the importer\n"
    "    # for the module object instead of passing the name to importlib.\n"
    "    return torch_package_importer.import_module(__name__)\n"
    "\n"
    "\n"
    "def read_greeting():\n"
    "    # Python 3.13's importlib.resources.read_text() passes errors= to the\n"
    "    # resource's read_text(), which torch.package's resources do not take;\n"
    "    # open_text() works on every Python torch.package supports.\n"
    "    with importlib.resources.open_text(_me(), 'greeting.txt') as f:\n"
    "        return f.read()\n"
    "\n"
    "\n"
    "def read_blob():\n"
    "    return importlib.resources.read_binary(_me(), 'blob.bin')\n"
    "\n"
    "\n"
    "def list_contents():\n"
    "    # importlib.resources.contents() breaks the same way on 3.13; files() does not.\n"
    "    return sorted(r.name for r in importlib.resources.files(_me()).iterdir())\n"
    "\n"
    "\n"
    "def via_files_api():\n"
    "    return (importlib.resources.files(_me()) / 'greeting.txt').read_text(encoding='utf-8')\n"
    "\n"
    "\n"
    "def via_importer():\n"
    "    return torch_package_importer.load_text(__name__, 'greeting.txt')\n"
)


def install_sources():
    """Writes SOURCES under STAGING (in the current folder) and makes them importable."""
    shutil.rmtree(STAGING, ignore_errors=True)
    for rel, text in SOURCES.items():
        path = os.path.join(STAGING, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    if not any(isinstance(f, RelativeSourceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, RelativeSourceFinder())


def import_source(name):
    """Imports one module of SOURCES (install_sources() must have run)."""
    return importlib.import_module(name)


class RelativeSourceFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of SOURCES under STAGING, by relative path.

    The ordinary path finder would make the sys.path entry absolute."""

    def find_spec(self, fullname, path=None, target=None):
        base = os.path.join(STAGING, *fullname.split("."))
        init = os.path.join(base, "__init__.py")
        if os.path.isfile(init):
            spec = importlib.machinery.ModuleSpec(
                fullname, RelativeSourceLoader(init), origin=init, is_package=True)
            spec.submodule_search_locations = [base]
        elif os.path.isfile(base + ".py"):
            spec = importlib.machinery.ModuleSpec(
                fullname, RelativeSourceLoader(base + ".py"), origin=base + ".py")
        else:
            return None
        spec.has_location = True
        return spec


class RelativeSourceLoader(importlib.abc.Loader):
    """Compiles a module with its relative path as the code's file name."""

    def __init__(self, path):
        self.path = path

    def create_module(self, spec):
        return None  # the default module object

    def get_source(self, fullname):
        with open(self.path, encoding="utf-8") as f:
            return f.read()

    def exec_module(self, module):
        code = compile(self.get_source(module.__name__), self.path, "exec", dont_inherit=True)
        exec(code, module.__dict__)
