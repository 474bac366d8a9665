"""Shared pytest configuration: where the built binaries and the corpus are."""
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("TPKG_BUILD_DIR", REPO / "build"))
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def corpus_dir():
    if not CORPUS.is_dir():
        pytest.skip("the shared corpus is not beside the repository")
    return CORPUS


@pytest.fixture(scope="session")
def tpkg_bin():
    return str(BUILD / "src" / "tools" / "tpkg")
