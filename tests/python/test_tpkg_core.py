"""The `_core` bindings themselves: the error translation table, GlobGroup
and the graph wrapper against torch.package's own classes."""
import errno
import os
import subprocess
import sys

import pytest

import tpkg
from tpkg import _core
from tpkg._digraph import DiGraph

E = _core.Errc


@pytest.mark.parametrize("code, sys_errno, expected", [
    (E.NOT_FOUND, 0, FileNotFoundError),
    (E.EXISTS, 0, FileExistsError),
    (E.NOT_DIR, 0, NotADirectoryError),
    (E.IS_DIR, 0, IsADirectoryError),
    (E.PERMISSION, 0, PermissionError),
    (E.NO_SPACE, 0, OSError),
    (E.IO, errno.EACCES, PermissionError),
    (E.CORRUPT, errno.ENOENT, FileNotFoundError),  # an errno always wins
    (E.INVALID_ARGUMENT, 0, ValueError),
    (E.CORRUPT, 0, tpkg.CorruptArchiveError),
    (E.UNSUPPORTED, 0, tpkg.UnsupportedArchiveError),
    (E.POLICY, 0, tpkg.PolicyError),
])
def test_errors_translate_by_category(code, sys_errno, expected):
    with pytest.raises(expected) as info:
        _core._raise_error(code, "archive.pt: reason", sys_errno)
    assert type(info.value) is expected
    assert info.value.code == code
    assert "archive.pt: reason" in str(info.value)
    if isinstance(info.value, OSError):
        assert info.value.errno == (sys_errno or info.value.errno)


def test_archive_errors_are_runtime_errors_like_torchs():
    assert issubclass(tpkg.CorruptArchiveError, RuntimeError)
    assert issubclass(tpkg.TpkgError, RuntimeError)


def test_missing_archive_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        tpkg.PackageImporter(str(tmp_path / "absent.pt"))


def test_garbage_archive_is_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a zip at all" * 10)
    with pytest.raises(RuntimeError):
        tpkg.PackageImporter(str(tmp_path / "junk.pt"))


GLOB_CASES = [
    ("torch.**", (), ["torch", "torch.nn", "torch.nn.functional", "torchvision"]),
    ("torch.*", (), ["torch", "torch.nn", "torch.nn.functional"]),
    ("torch*.**", (), ["torch", "torchvision.models", "torch_x"]),
    ("**.linear", (), ["linear", "torch.nn.modules.linear", "linear.x"]),
    ("a.**.c", (), ["a.c", "a.b.c", "a.b.d.c", "a.b"]),
    ("*", (), ["a", "", "a.b"]),
    ("**", (), ["a", "a.b", ""]),
    ("my.**", ["my.private", "my.x.*"], ["my", "my.x", "my.private", "my.private.sub", "my.x.y", "my.x.y.z"]),
]


@pytest.mark.parametrize("include, exclude, candidates", GLOB_CASES)
def test_glob_group_matches_like_torch(include, exclude, candidates):
    torch_glob = pytest.importorskip("torch.package.glob_group")
    ours = tpkg.GlobGroup(include, exclude=exclude)
    theirs = torch_glob.GlobGroup(include, exclude=exclude)
    assert [ours.matches(c) for c in candidates] == [theirs.matches(c) for c in candidates]
    assert str(ours) == str(theirs) and repr(ours) == repr(theirs)


def test_glob_group_refuses_mixed_double_star():
    with pytest.raises(ValueError, match=r"\*\* can only appear as an entire path segment"):
        tpkg.GlobGroup("a**")


@pytest.mark.parametrize("make", [
    lambda G: G(["a", 5]), lambda G: G(b"json"), lambda G: G("a", exclude=[None]),
    lambda G: G("a").matches(5),
], ids=["int pattern", "bytes", "None excluded", "int candidate"])
def test_glob_group_refuses_what_is_no_str_as_torch_does(make):
    torch_glob = pytest.importorskip("torch.package.glob_group")
    raised = []
    for group in (tpkg.GlobGroup, torch_glob.GlobGroup):
        with pytest.raises((AttributeError, TypeError)) as error:
            make(group)
        raised.append((type(error.value), str(error.value)))
    assert raised[0] == raised[1]


def test_graph_wrapper_reads_like_torchs_digraph():
    from tpkg.package_exporter import _ModuleProviderAction, PackagingErrorReason

    g = DiGraph()
    g.add_edge("<a.pkl>", "m")
    g.add_node("m", action=_ModuleProviderAction.INTERN, provided=True, source="x = 1\n", custom=7)
    g.add_node("n", error=PackagingErrorReason.NO_ACTION)
    assert list(g) == ["<a.pkl>", "m", "n"] and "m" in g and "zz" not in g
    assert g.nodes["m"] == {"action": _ModuleProviderAction.INTERN, "provided": True,
                            "source": "x = 1\n", "custom": 7}
    assert g.nodes["n"] == {"error": PackagingErrorReason.NO_ACTION}
    assert list(g.edges) == [("<a.pkl>", "m")]
    assert list(g.successors("<a.pkl>")) == ["m"] and g._pred["m"] == {"<a.pkl>": True}
    assert g.first_path("m") == ["<a.pkl>", "m"]
    with pytest.raises(ValueError, match="The node zz is not in the digraph."):
        g.successors("zz")
    assert g.to_dot() == 'digraph G {\nrankdir = LR;\nnode [shape=box];\n"<a.pkl>" -> "m";\n}\n'


def test_mock_support_module_is_torchs_byte_for_byte():
    import hashlib
    import pathlib

    ours = (pathlib.Path(tpkg.__file__).parent / "_mock.py").read_bytes()
    # doc/format.md §6.6: torch 1.13's torch/package/_mock.py.
    assert hashlib.sha256(ours).hexdigest() == "eb24eb2b81ce589a1b51a546b7579d5f3b377e4dc8cb3ac409b26cdbd5e4991f"
    torch_package = pytest.importorskip("torch.package")
    # What tpkg writes as the package's _mock.py is the file of the torch
    # beside it (torch 2.x's has one more first line).
    theirs = (pathlib.Path(torch_package.__file__).parent / "_mock.py").read_bytes()
    from tpkg import _core, _torch_compat

    assert _core.mock_file_header(_torch_compat.torch_release()) + ours == theirs


def test_submodules_are_named_like_torch_packages():
    import importlib

    names = ["package_exporter", "package_importer", "glob_group", "importer", "analyze", "_mangling",
             "_digraph", "file_structure_representation", "_package_pickler", "_package_unpickler",
             "_directory_reader", "_importlib", "_mock", "find_file_dependencies", "_stdlib",
             "analyze.is_from_package", "analyze.trace_dependencies", "analyze.find_first_use_of_broken_modules"]
    torch_package = pytest.importorskip("torch.package")
    for name in names:
        ours = importlib.import_module("tpkg." + name)
        theirs = importlib.import_module("torch.package." + name)
        public = {n for n in getattr(theirs, "__all__", []) if not n.startswith("_")}
        assert public <= set(dir(ours)), (name, public - set(dir(ours)))
    assert set(torch_package.__all__ if hasattr(torch_package, "__all__") else
               [n for n in dir(torch_package) if not n.startswith("_")]) - {"analyze", "file_structure_representation",
               "find_file_dependencies", "glob_group", "importer", "package_exporter", "package_importer"} <= set(dir(tpkg))


def _submodule_attributes(package, path):
    """The submodules `package` has as attributes right after `import package`, in a fresh
    interpreter (importing one here would add it)."""
    code = ("import sys, types, importlib; m = importlib.import_module(sys.argv[1]); "
            "print(' '.join(sorted(n for n, v in vars(m).items() if isinstance(v, types.ModuleType))))")
    env = dict(os.environ, PYTHONPATH=str(path))
    out = subprocess.run([sys.executable, "-c", code, package], env=env, check=True,
                         capture_output=True, text=True).stdout
    return set(out.split())


def test_submodules_are_attributes_after_import_as_torchs(staging_dir):
    """Scripts written for torch.package reach e.g. `torch.package.find_file_dependencies`
    after `import torch.package` alone."""
    pytest.importorskip("torch.package")
    theirs = _submodule_attributes("torch.package", staging_dir)
    ours = _submodule_attributes("tpkg", staging_dir)
    assert "find_file_dependencies" in theirs
    assert theirs - ours == set()


def _shape(fn):
    import inspect

    def default(value):  # each library's own sys_importer
        return "sys_importer" if type(value).__name__ == "_SysImporter" else value

    return [(p.name, p.kind, default(p.default)) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("cls", ["PackageExporter", "PackageImporter", "GlobGroup", "Directory",
                                 "OrderedImporter", "Importer"])
def test_public_methods_have_torchs_signatures(cls):
    torch_package = pytest.importorskip("torch.package")
    ours, theirs = getattr(tpkg, cls), getattr(torch_package, cls)
    for name in dir(theirs):
        if name.startswith("_") and name != "__init__":
            continue
        their_attr = getattr(theirs, name)
        if not callable(their_attr):
            continue
        our_attr = getattr(ours, name, None)
        assert our_attr is not None, f"{cls}.{name} is missing"
        if name == "__init__" and cls == "PackageImporter":
            # torch's default is a lambda: compare all but its identity.
            assert [s[:2] for s in _shape(our_attr)] == [s[:2] for s in _shape(their_attr)]
            continue
        assert _shape(our_attr) == _shape(their_attr), f"{cls}.{name}"
