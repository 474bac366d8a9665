"""The `_core` bindings themselves: the error translation table, GlobGroup
and the graph wrapper against torch.package's own classes."""
import errno

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
