"""Shared pytest configuration: where the built binaries and the corpus are.

The corpus is made by the build (tests/corpus_paths.py): a missing one stops
the run with the way to make it. Tests never write into it; the session
fixture `corpus_stays_unchanged` checks that against MANIFEST.json before
and after the run and fails loudly when anything changed.
"""
import os
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # corpus_paths, for the test modules too

import corpus_paths  # noqa: E402

BUILD = corpus_paths.BUILD
CORPUS = corpus_paths.CORPUS


def pytest_configure(config):
    reason = corpus_paths.missing()
    if reason:
        raise pytest.UsageError(reason)


@pytest.fixture(scope="session", autouse=True)
def corpus_stays_unchanged():
    before = corpus_paths.changes()
    if before:
        pytest.fail(f"the test corpus {CORPUS} differs from its MANIFEST.json before the run: "
                    f"{'; '.join(before)}. Remake it: rm -r {CORPUS}, then "
                    f"{corpus_paths.HOW_TO_MAKE}", pytrace=False)
    yield
    after = corpus_paths.changes()
    if after:
        pytest.fail(f"a test wrote into the test corpus {CORPUS}: {'; '.join(after)}. Tests "
                    "must work on copies (tmp_path) or mount with -o ro", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def analysis_cache_of_the_run(tmp_path_factory):
    """Daemons and commands the tests start keep their analysis packs in the
    run's own folder, never in the user's ~/.cache (tpkg/analysis_cache.h).
    Shared by the whole run: a pack one test wrote serves the next test that
    analyses the same records, which must see the same results."""
    before = os.environ.get("TPKG_CACHE_DIR")
    folder = tmp_path_factory.mktemp("analysis-cache")
    folder.chmod(0o700)
    os.environ["TPKG_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("TPKG_CACHE_DIR", None)
    else:
        os.environ["TPKG_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def corpus_dir():
    return CORPUS


@pytest.fixture(scope="session")
def tpkg_bin():
    return str(BUILD / "src" / "tools" / "tpkg")


@pytest.fixture(scope="session")
def make_archive(build_dir):
    """tests/tools/make_archive: builds archives torch cannot (holes, odd layouts) for the tests."""
    path = build_dir / "tests" / "tools" / "make_archive"
    if not path.exists():
        pytest.skip("make_archive is not built")
    return str(path)
