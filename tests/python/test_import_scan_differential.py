"""ScanImports() against torch's find_files_source_depends_on, file by file,
over the .py files of the running interpreter's standard library and
dist-packages that its ast.parse accepts (import_scan_library.py): Python 3.11
and torch 1.13 on Debian 12, Python 3.13 and torch 2.6 on Debian 13.

Each file is scanned the way torch's exporter would scan it as a module: the
module name comes from the path (`a/b/__init__.py` is package `a.b`), and
`package` is torch's own choice (the module if a package, else
`module.rsplit(".", 1)[0]`). The ordered lists must be identical; the only
allowed differences are the documented residual classes below, each counted
and printed. Anything else fails the test.

Tiers: the whole tree (Debian 12: about 6,000 files, 97 MB; over a minute,
dominated by torch's side) runs with TPKG_SLOW=1. The default tier takes a
deterministic sample with the same assertions: every 10th file of the sorted
tree, plus every file that mentions `__import__` (the visitor's quirkiest
path, where the documented residuals come from). TPKG_IMPORT_SCAN_SAMPLE=N
sets the stride (1: the whole tree).
"""
import collections
import json
import os
import sys
import subprocess
import tokenize
import warnings

import pytest
from import_scan_library import library_roots, python_files

torch = pytest.importorskip("torch")
from torch.package.find_file_dependencies import find_files_source_depends_on  # noqa: E402

STRIDE = int(os.environ.get("TPKG_IMPORT_SCAN_SAMPLE", "1" if os.environ.get("TPKG_SLOW") == "1" else "10"))


def _mentions_dunder_import(path):
    try:
        return b"__import__" in path.read_bytes()
    except OSError:
        return False


def _python_files():
    """(root, path) of the tree, or of the sample STRIDE selects."""
    everything = [(root, p) for root in library_roots() for p in python_files(root)]
    if STRIDE == 1:
        return everything
    return [(root, p) for i, (root, p) in enumerate(everything) if i % STRIDE == 0 or _mentions_dunder_import(p)]


def _module_and_package(root, path):
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    module = ".".join(parts)
    return module, module if is_package else module.rsplit(".", 1)[0]


RELATIVE_TOO_FAR = "attempted relative import beyond top-level package"


def _read_source(path):
    """The str torch's exporter would get (tokenize.open, as linecache reads it)."""
    try:
        with tokenize.open(path) as f:
            return f.read()
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return None


def _torch_refs(src, package):
    """(references, None), (None, error) when torch raises its relative-import
    ValueError, or None when ast.parse refuses the source."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and the like
        try:
            return find_files_source_depends_on(src, package), None
        except ValueError as e:
            if str(e) == RELATIVE_TOO_FAR:
                return None, str(e)
            return None  # "source code string cannot contain null bytes"
        except (SyntaxError, RecursionError, MemoryError):
            return None


def _is_str_ref(ref):
    return isinstance(ref[0], str) and (ref[1] is None or isinstance(ref[1], str))


# Documented residual classes (import_scan.h): torch records __import__
# references whose module or attribute is not a str (a non-str literal or an
# AST node). They can never be imported; ScanImports leaves them out.
NON_STR_REFERENCE = "torch records a non-str reference (non-str literal in __import__)"


@pytest.fixture(scope="module")
def scan_files(build_dir, tmp_path_factory):
    tool = build_dir / "tests" / "tools" / "import_scan_dump"
    if not tool.exists():
        pytest.skip(f"{tool} is not built")
    workdir = tmp_path_factory.mktemp("sources")

    def run(jobs):
        """jobs: (path, src, package). Files whose bytes are not exactly
        src's UTF-8 (coding cookies, BOM, CRLF) are rewritten to a temp file."""
        lines = []
        for i, (path, src, package) in enumerate(jobs):
            data = src.encode("utf-8", errors="surrogatepass")
            if path.read_bytes() != data:
                path = workdir / f"{i}.py"
                path.write_bytes(data)
            lines.append(f"{path}\t{package}\n")
        out = subprocess.run([str(tool)], input="".join(lines).encode(), check=True, capture_output=True).stdout
        return [json.loads(line) for line in out.decode("utf-8", errors="surrogateescape").splitlines()]

    return run


def test_import_scan_matches_torch_on_the_installed_python_tree(scan_files, capsys):
    jobs, expected, unparsable = [], [], 0
    for root, path in _python_files():
        _, package = _module_and_package(root, path)
        src = _read_source(path)
        torch_result = None if src is None else _torch_refs(src, package)
        if torch_result is None:
            unparsable += 1
            continue
        jobs.append((path, src, package))
        expected.append(torch_result)
    results = scan_files(jobs)
    assert len(results) == len(jobs)

    identical, residual, failures = 0, collections.Counter(), []
    for (path, _, package), (refs, error), got in zip(jobs, expected, results):
        if error is not None:
            if error in got.get("error", ""):
                identical += 1
            else:
                failures.append(f"{path} (package {package}): torch raised {error!r}, we gave {got}")
            continue
        if "error" in got:
            failures.append(f"{path} (package {package}): ast.parse accepts it, we refused: {got['error']}")
            continue
        ours = [(m, n) for m, n in got["refs"]]
        if ours == refs:
            identical += 1
        elif ours == [r for r in refs if _is_str_ref(r)]:
            residual[NON_STR_REFERENCE] += 1
        else:
            failures.append(f"{path} (package {package}):\n  torch: {refs}\n  ours:  {ours}")

    with capsys.disabled():
        tree = "whole tree" if STRIDE == 1 else f"sample: every {STRIDE}th file and those naming __import__"
        print(f"\nimport scan vs torch {torch.__version__} on Python {sys.version.split()[0]} ({tree}): "
              f"{len(jobs)} parsable files ({unparsable} not parsable by CPython, "
              f"skipped): {identical} identical, {sum(residual.values())} documented residuals, "
              f"{len(failures)} unexplained differences")
        for reason, count in residual.items():
            print(f"  residual: {count} file(s): {reason}")
    assert len(jobs) > (1000 if STRIDE == 1 else 500)
    assert not failures, "\n".join(failures[:30])
