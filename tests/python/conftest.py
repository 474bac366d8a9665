"""pytest setup for the tpkg module: import the build tree's `tpkg`.

`<build>/pybind/tpkg/` holds the built `_core` extension next to symlinks to
the package sources (pybind/tpkg/meson.build), so putting `<build>/pybind`
first on sys.path imports exactly what `ninja` built, with live sources.
"""
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests"))
from corpus_paths import BUILD  # noqa: E402  the one rule for the build folder

STAGING = BUILD / "pybind"

sys.path.insert(0, str(STAGING))
sys.path.insert(0, str(HERE))  # shared helpers (tpkg_compare.py, tpkg_scenarios.py, tpkg_corpus_facts.py)


@pytest.fixture(scope="session")
def staging_dir():
    return STAGING


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def src_tree(tmp_path, monkeypatch):
    """Writes {"pkg/mod.py": source} under tmp_path/src, puts it on sys.path,
    and removes the modules it defined from sys.modules afterwards."""
    root = tmp_path / "src"
    created = []

    def write(files):
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            created.append(rel.split("/")[0].removesuffix(".py"))
        return root

    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield write
    for name in list(sys.modules):
        if name.partition(".")[0] in created:
            del sys.modules[name]
