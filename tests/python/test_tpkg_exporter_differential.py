"""tpkg.PackageExporter against real torch.package on the same inputs: the
same records in the same order (byte-identical archives where no id(obj) is
pickled), the same graph and module lists, the same errors; and every tpkg
archive loads in real torch.package with the same values."""
import types
import zipfile

import pytest

import tpkg
from tpkg_compare import assert_same_value
import tpkg_scenarios as scenarios

torch = pytest.importorskip("torch")
import torch.package  # noqa: E402


@pytest.fixture
def ctx(src_tree):
    return types.SimpleNamespace(torch=torch, src_root=src_tree(scenarios.SOURCES))


def records(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename.split("/", 1)[1], z.read(i)) for i in z.infolist()]


def run_both(scenario, tmp_path, ctx):
    results = {}
    for label, pkg in (("torch", torch.package), ("tpkg", tpkg)):
        (tmp_path / label).mkdir()
        out = tmp_path / label / f"{scenario.__name__}.pt"  # same name: same prefix folder
        results[label] = (out, scenario(pkg, str(out), ctx))
    return results


def exporter_facts(pe):
    graph_nodes = [n for n, _ in _graph_items(pe)]
    return {
        "dot": pe.dependency_graph_string(),
        "interned": pe.interned_modules(),
        "externed": pe.externed_modules(),
        "mocked": pe.mocked_modules(),
        "denied": pe.denied_modules(),
        "rdeps": {n: pe.get_rdeps(n) for n in graph_nodes},
        "nodes": graph_nodes,
        "patterns": [(str(group), info.action.name, info.allow_empty, info.was_matched)
                     for group, info in pe.patterns.items()],
    }


def _graph_items(pe):
    return list(pe.dependency_graph.nodes.items())


@pytest.mark.parametrize("scenario", scenarios.SUCCESS, ids=lambda s: s.__name__)
def test_same_archive_graph_and_values(scenario, tmp_path, ctx):
    results = run_both(scenario, tmp_path, ctx)
    (theirs_path, theirs), (ours_path, ours) = results["torch"], results["tpkg"]
    their_records, our_records = records(theirs_path), records(ours_path)
    assert [n for n, _ in our_records] == [n for n, _ in their_records]
    if not theirs.get("has_ids"):
        assert ours_path.read_bytes() == theirs_path.read_bytes()
    assert exporter_facts(ours["exporter"]) == exporter_facts(theirs["exporter"])
    assert ours.get("facts") == theirs.get("facts")

    their_imp = torch.package.PackageImporter(str(theirs_path))
    for loader in (torch.package.PackageImporter(str(ours_path)), tpkg.PackageImporter(str(ours_path))):
        assert str(loader.file_structure()).replace(str(ours_path), "X") == str(
            their_imp.file_structure()).replace(str(theirs_path), "X")
        for package, resource in theirs["pickles"]:
            assert_same_value(their_imp.load_pickle(package, resource), loader.load_pickle(package, resource))


@pytest.mark.parametrize("scenario", scenarios.FAILURES, ids=lambda s: s.__name__)
def test_same_errors(scenario, tmp_path, ctx):
    errors = []
    for pkg in (torch.package, tpkg):
        with pytest.raises(Exception) as info:
            scenario(pkg, str(tmp_path / f"{pkg.__name__}.pt"), ctx)
        errors.append((type(info.value).__name__, str(info.value)))
    assert errors[1] == errors[0]


# Sources CPython's parser refuses (torch parses each source it scans with ast.parse), some of
# which an import scanner alone accepts, and others whose message is CPython's own.
NOT_PYTHON = ["f() = 1\n", "del f()\n", "None = 1\n", "(a, b) += 1\n", "def f():\n    yield = 3\n",
              "x = '\\N{NOPE}'\n", "\u20ac = 1\n", "\ufeffimport json\n", "print 'hi'\n",
              "if x:\npass\n", "x = 0777\n", "x = 1\x00\n", "x = (\n" * 250 + ")" * 250 + "\n"]


@pytest.mark.parametrize("source", NOT_PYTHON, ids=lambda source: repr(source)[:24])
def test_sources_that_do_not_parse_fail_as_in_torch(source, tmp_path):
    errors = []
    for pkg in (torch.package, tpkg):
        with pytest.raises(Exception) as info:
            with pkg.PackageExporter(str(tmp_path / f"{pkg.__name__}.pt")) as pe:
                pe.save_source_string("bad", source)
        errors.append((type(info.value).__name__, str(info.value)))
    assert errors[1] == errors[0]


def test_error_types_are_tpkgs_own(tmp_path, ctx):
    with pytest.raises(tpkg.PackagingError) as info:
        scenarios.denied(tpkg, str(tmp_path / "d.pt"), ctx)
    assert "heavy_dep" in info.value.dependency_graph.nodes
    with pytest.raises(tpkg.EmptyMatchError):
        scenarios.not_allowed_empty(tpkg, str(tmp_path / "e.pt"), ctx)


def test_failed_export_leaves_a_valid_unloadable_zip_like_torch(tmp_path, ctx):
    results = []
    for pkg in (torch.package, tpkg):
        out = tmp_path / f"{pkg.__name__}.pt"
        with pytest.raises(Exception):
            scenarios.denied(pkg, str(out), ctx)
        import gc

        gc.collect()  # torch finalizes its writer when the exporter is dropped
        results.append([n for n, _ in records(out)])
    assert results[1] == results[0]


def test_all_paths_works_where_torch_raises(tmp_path, ctx):
    out = tmp_path / "m.pt"
    pe = scenarios.model_with_interned_code(tpkg, str(out), ctx)["exporter"]
    dot = pe.all_paths("<model.model.pkl>", "mdl.util")
    assert dot.startswith("digraph G {\n") and '"mdl.model" -> "mdl.util";' in dot
    assert '"<model.model.pkl>" -> "mdl.model";' in dot


def test_get_unique_id_counts_per_exporter(tmp_path):
    with tpkg.PackageExporter(str(tmp_path / "a.pt")) as pe:
        assert [pe.get_unique_id() for _ in range(3)] == ["0", "1", "2"]


def test_importer_argument_must_be_importers(tmp_path):
    errors = []
    for pkg in (torch.package, tpkg):
        with pytest.raises(TypeError) as info:
            pkg.PackageExporter(str(tmp_path / "x.pt"), importer=42)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def _save_after_close(pkg, tmp_path, save):
    pe = pkg.PackageExporter(str(tmp_path / f"{pkg.__name__}.pt"))
    pe.close()
    save(pe)


def _save_binary(pkg, tmp_path, package, resource):
    with pkg.PackageExporter(str(tmp_path / f"{pkg.__name__}.pt")) as pe:
        pe.save_binary(package, resource, b"1")


# Misuse the exporter's users meet: the exception type torch raises (its text, where it is
# not the C++ writer's own "[enforce fail at inline_container.cc:N]" prefix).
MISUSE = {
    "no file name": (lambda pkg, tmp_path: pkg.PackageExporter(""), RuntimeError, "invalid file name: "),
    "folder name": (lambda pkg, tmp_path: pkg.PackageExporter(str(tmp_path) + "/"), RuntimeError,
                    "invalid file name: "),
    "empty resource name": (lambda pkg, tmp_path: _save_binary(pkg, tmp_path, "a", ""), RuntimeError,
                            "a/"),
    "save_text after close": (lambda pkg, tmp_path: _save_after_close(
        pkg, tmp_path, lambda pe: pe.save_text("a", "b.txt", "c")), AttributeError,
        "'PackageExporter' object has no attribute 'zip_file'"),
    "save_pickle after close": (lambda pkg, tmp_path: _save_after_close(
        pkg, tmp_path, lambda pe: pe.save_pickle("a", "b.pkl", {"x": 1})), AttributeError,
        "'PackageExporter' object has no attribute 'zip_file'"),
}


@pytest.mark.parametrize("case", sorted(MISUSE))
def test_misuse_raises_what_torch_raises(case, tmp_path):
    misuse, error, text = MISUSE[case]
    for pkg in (torch.package, tpkg):
        with pytest.raises(error) as info:
            misuse(pkg, tmp_path)
        assert text in str(info.value), (pkg.__name__, info.value)


@pytest.mark.parametrize("loader", ["tpkg", "torch"])
def test_repackaging_reproduces_the_corpus_archive_byte_for_byte(loader, tmp_path, corpus_dir):
    # corpus/pkg_repackaged.pt: pkg_mocked.pt loaded, then re-exported with
    # importer=(that importer, sys_importer) and intern("**").
    import os

    corpus = str(corpus_dir)
    source = (tpkg if loader == "tpkg" else torch.package).PackageImporter(os.path.join(corpus, "pkg_mocked.pt"))
    net = source.load_pickle("model", "net.pkl")
    out = tmp_path / "pkg_repackaged.pt"
    with tpkg.PackageExporter(str(out), importer=(source, tpkg.sys_importer)) as pe:
        pe.intern("**")
        pe.save_pickle("model", "net.pkl", net)
    with open(os.path.join(corpus, "pkg_repackaged.pt"), "rb") as f:
        assert out.read_bytes() == f.read()
