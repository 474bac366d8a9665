"""tpkg.PackageImporter on every corpus archive, against the facts real torch
recorded (`<archive>.expected.json`) and against real torch.package loading
the same archive in this process (every pickle compared deeply)."""
import errno
import io
import json
import os
import pickle
import socket
import zipfile

import pytest

import corpus_paths
import tpkg
from tpkg_compare import assert_same_value
from tpkg_corpus_facts import FACTS

torch = pytest.importorskip("torch")
import torch.package  # noqa: E402

CORPUS = str(corpus_paths.CORPUS)
ARCHIVES = sorted(FACTS)


def expected(name):
    with open(os.path.join(CORPUS, name + ".expected.json"), encoding="utf-8") as f:
        return json.load(f)


def pickle_resources(name):
    """(package, resource) of every Python pickle of the archive."""
    with zipfile.ZipFile(os.path.join(CORPUS, name)) as z:
        records = [n.split("/", 1)[1] for n in z.namelist()]
    found = []
    for record in records:
        if record.endswith(".pkl") and not record.startswith(".data/"):
            package, _, resource = record.rpartition("/")
            found.append((package.replace("/", "."), resource))
    return found


@pytest.fixture
def in_corpus(monkeypatch):
    monkeypatch.chdir(CORPUS)  # archives are opened by bare name, as recorded


@pytest.mark.parametrize("name", ARCHIVES)
def test_loaded_facts_equal_the_recorded_ones(name, in_corpus):
    imp = tpkg.PackageImporter(name)
    assert FACTS[name](imp) == expected(name)["loads"]


@pytest.mark.parametrize("name", ARCHIVES)
def test_package_metadata_equals_the_recorded_one(name, in_corpus):
    imp = tpkg.PackageImporter(name)
    package = expected(name)["package"]
    assert imp.extern_modules == package["extern_modules_list"]
    assert imp.python_version() == package["python_version"]
    assert str(imp.file_structure()) == package["file_structure"]
    assert str(imp.file_structure(exclude=".data/**")) == package["file_structure_exclude_data"]


@pytest.mark.parametrize("name", ARCHIVES)
def test_every_pickle_loads_like_in_torch_package(name, in_corpus):
    ours = tpkg.PackageImporter(name)
    theirs = torch.package.PackageImporter(name)
    for package, resource in pickle_resources(name):
        assert_same_value(theirs.load_pickle(package, resource), ours.load_pickle(package, resource))


@pytest.mark.parametrize("name", ["pkg_dtypes.pt", "pkg_model_numpy.pt", "pkg_resources.pt"])
def test_file_objects_load_like_paths(name, in_corpus):
    with open(name, "rb") as f:
        from_file = tpkg.PackageImporter(f)
        assert FACTS[name](from_file) == expected(name)["loads"]
    with open(name, "rb") as f:
        from_memory = tpkg.PackageImporter(io.BytesIO(f.read()))
    assert FACTS[name](from_memory) == expected(name)["loads"]
    assert str(from_memory.file_structure()).startswith("─── <binary>\n")


def extract_stripped(name, dest):
    """The archive's records without the prefix folder (what a mount shows)."""
    with zipfile.ZipFile(os.path.join(CORPUS, name)) as z:
        for info in z.infolist():
            record = info.filename.split("/", 1)[1]
            if not record or record.endswith("/"):
                continue
            path = os.path.join(dest, record)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as out:
                out.write(z.read(info))


# torch 2.x's PackageImporter fails on every tensor of an unzipped package: its
# DirectoryReader hands back storages its importer cannot use. tpkg loads them
# (doc/python_module.md, "Differences that remain").
TORCH2_DIRECTORY_TENSOR_ERROR = "AttributeError: '_HasStorage' object has no attribute '_typed_storage'"


@pytest.mark.parametrize("name", ARCHIVES)
def test_directory_mode_matches_the_recorded_directory_load(name, tmp_path, monkeypatch):
    facts = expected(name)
    recorded = facts["directory_load"]
    extract_stripped(name, tmp_path / recorded["directory_name"])
    monkeypatch.chdir(tmp_path)
    imp = tpkg.PackageImporter(recorded["directory_name"])
    assert sorted(imp.zip_reader.get_all_records()) == recorded["get_all_records_sorted"]
    assert str(imp.file_structure()) == recorded["file_structure"]
    if recorded["ok"]:
        assert FACTS[name](imp) == recorded["loads"]
    elif recorded["error"] == TORCH2_DIRECTORY_TENSOR_ERROR:
        # What torch loads from the archive itself (with torch 1.13, whose
        # directory loads work, both are the same for every corpus archive).
        assert FACTS[name](imp) == facts["loads"]
    else:
        with pytest.raises(Exception) as info:
            FACTS[name](imp)
        assert f"{type(info.value).__name__}: {info.value}" == recorded["error"]


def test_an_archive_without_prefix_folder_is_refused_like_torch(in_corpus):
    with pytest.raises(RuntimeError) as info:
        tpkg.PackageImporter("bad_no_prefix.zip")
    assert f"RuntimeError: {info.value}" == expected("bad_no_prefix.zip")["PackageImporter"]


def test_a_torch_save_file_is_refused_like_torch(in_corpus):
    with pytest.raises(RuntimeError) as info:
        tpkg.PackageImporter("torch_save_checkpoint.pth")
    recorded = expected("torch_save_checkpoint.pth")["package_importer_result"]
    assert f"RuntimeError: {info.value}" == recorded


def test_storages_are_private_to_each_load(in_corpus):
    imp = tpkg.PackageImporter("pkg_shared_views.pt")
    a = imp.load_pickle("views", "a.pkl")
    again = imp.load_pickle("views", "a.pkl")
    a["base"][0, 0] = 1000.0
    assert a["row2"].storage().data_ptr() == a["base"].storage().data_ptr()
    assert again["base"][0, 0].item() == 0.0
    assert tpkg.PackageImporter("pkg_shared_views.pt").load_pickle("views", "a.pkl")["base"][0, 0] == 0.0


def test_storages_are_copies_as_torchs_reader_makes_them(tmp_path):
    """Owned by torch's allocator, as torch's reader gives them: aligned, resizable, never
    written back, shared by the views of one storage (and a copy of the archive's bytes:
    test_tpkg_importer_files.py saves over the file they were loaded from)."""
    big = torch.arange(1 << 16, dtype=torch.float32)
    path = tmp_path / "big.pt"
    with torch.package.PackageExporter(str(path)) as pe:
        pe.save_pickle("m", "big.pkl", {"big": big, "view": big[10:20]})
    loaded = tpkg.PackageImporter(str(path)).load_pickle("m", "big.pkl")
    assert torch.equal(loaded["big"], big)
    assert loaded["view"].storage().data_ptr() == loaded["big"].storage().data_ptr()
    assert loaded["big"].storage().data_ptr() % 64 == 0
    loaded["big"].add_(1)  # writable, never written back
    assert torch.equal(tpkg.PackageImporter(str(path)).load_pickle("m", "big.pkl")["big"], big)
    loaded["view"].resize_(1 << 17)  # torch's storages can grow; a view of a buffer's cannot


def test_map_location_is_applied(in_corpus):
    calls = []

    def to_cpu(storage, location):
        calls.append(location)
        return storage

    loaded = tpkg.PackageImporter("pkg_dtypes.pt").load_pickle("tensors", "param.pkl", map_location=to_cpu)
    assert calls == ["cpu"] and loaded.device.type == "cpu"
    meta = tpkg.PackageImporter("pkg_dtypes.pt").load_pickle("tensors", "param.pkl", map_location="cpu")
    assert torch.equal(meta, loaded)


def test_module_allowed_refuses_like_torch(in_corpus):
    with pytest.raises(ImportError) as ours:
        tpkg.PackageImporter("pkg_model_numpy.pt", module_allowed=lambda m: m != "numpy")
    with pytest.raises(ImportError) as theirs:
        torch.package.PackageImporter("pkg_model_numpy.pt", module_allowed=lambda m: m != "numpy")
    assert str(ours.value) == str(theirs.value)


def test_a_file_that_cannot_be_opened_or_made_raises_what_torch_raises(tmp_path):
    # torch raises RuntimeError; tpkg's error is that and still the OSError it is.
    cases = [lambda package: package.PackageImporter(str(tmp_path / "absent.pt")),
             lambda package: package.PackageExporter(str(tmp_path / "no" / "such" / "x.pt"))]
    for case in cases:
        with pytest.raises(RuntimeError):
            case(torch.package)
        with pytest.raises(RuntimeError) as ours:
            case(tpkg)
        assert isinstance(ours.value, FileNotFoundError) and ours.value.errno == errno.ENOENT
        assert str(tmp_path) in str(ours.value)
        # as multiprocessing sends it back from a worker
        again = pickle.loads(pickle.dumps(ours.value))
        assert isinstance(again, RuntimeError) and isinstance(again, FileNotFoundError)
        assert again.errno == errno.ENOENT and str(again) == str(ours.value)


def test_a_bytes_file_name_and_non_files_are_taken_as_torch_takes_them(in_corpus, capfd,
                                                                        tmp_path):
    # torch's reader takes bytes as a file name, also one that is no UTF-8; anything else
    # must be a file object.
    not_utf8 = os.fsencode(str(tmp_path)) + b"/model\xff.pt"
    with open(os.path.join(CORPUS, "pkg_model_numpy.pt"), "rb") as f, open(not_utf8, "wb") as out:
        out.write(f.read())
    for path in (os.fsencode(os.path.join(CORPUS, "pkg_model_numpy.pt")), not_utf8):
        theirs = torch.package.PackageImporter(path)
        ours = tpkg.PackageImporter(path)
        assert ours.filename == theirs.filename == "<binary>"
        assert ours.file_structure().children.keys() == theirs.file_structure().children.keys()
    for argument in (5, None):
        messages = []
        for package in (torch.package, tpkg):
            with pytest.raises(AttributeError) as info:
                package.PackageImporter(argument)
            messages.append(str(info.value))
        assert messages[0] == messages[1]
    import gc

    gc.collect()
    assert "Exception ignored" not in capfd.readouterr().err  # no noise from a half-made object


def test_a_damaged_file_object_is_named_as_the_caller_knows_it(tmp_path):
    # Not by the /proc/self/fd path tpkg opens it through.
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK not a zip archive")
    with open(bad, "rb") as f, pytest.raises(tpkg.CorruptArchiveError) as ours:
        tpkg.PackageImporter(f)
    assert str(ours.value).startswith(f"{bad}: not a ZIP archive"), ours.value
    with pytest.raises(tpkg.CorruptArchiveError) as ours:
        tpkg.PackageImporter(io.BytesIO(bad.read_bytes()))
    assert str(ours.value).startswith("<binary>: not a ZIP archive"), ours.value
    assert ours.value.code == tpkg._core.Errc.CORRUPT
    # Damaged after it was opened (emptied in place): still named as the caller knows it.
    good = tmp_path / "good.pt"
    with torch.package.PackageExporter(str(good)) as pe:
        pe.save_text("a", "b.txt", "text")
    with open(good, "rb") as f:
        importer = tpkg.PackageImporter(f)
        good.write_bytes(b"")
        with pytest.raises(tpkg.CorruptArchiveError) as ours:
            importer.load_text("a", "b.txt")
    assert str(ours.value).startswith(f"{good}: record "), ours.value
    # A stream that is no file (a socket's): read as a stream, which it cannot seek, as torch's
    # reader finds too.
    raised = []
    for package in (tpkg, torch.package):
        left, right = socket.socketpair()
        with left, right, left.makefile("rb") as f, pytest.raises(OSError) as error:
            package.PackageImporter(f)
        raised.append((type(error.value), str(error.value)))
    assert raised[0] == raised[1] == (io.UnsupportedOperation, "seek")


def test_missing_module_error_text_matches_torch(in_corpus):
    errors = []
    for package in (tpkg, torch.package):
        with pytest.raises(ModuleNotFoundError) as info:
            package.PackageImporter("pkg_minimal_text_only.pt").import_module("not_there")
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_mangled_names_and_is_from_package(in_corpus):
    imp = tpkg.PackageImporter("pkg_model_numpy.pt")
    m = imp.load_pickle("model", "model.pkl")
    assert type(m).__module__ == imp.id() + ".corpus_models.model"
    assert tpkg.is_from_package(m) and torch.package.is_from_package(m)
    assert not tpkg.is_from_package(m.fc1)  # an externed class
    assert imp.import_module(type(m).__module__) is imp.import_module("corpus_models.model")
    import inspect

    assert inspect.getfile(type(m)) == imp.id() + ".corpus_models/model.py"
    assert "class TinyNet" in inspect.getsource(type(m))


def test_importer_ids_never_collide_with_torch_package(in_corpus):
    ids = [tpkg.PackageImporter("pkg_minimal_text_only.pt").id(),
           torch.package.PackageImporter("pkg_minimal_text_only.pt").id(),
           tpkg.PackageImporter("pkg_minimal_text_only.pt").id()]
    assert len(set(ids)) == 3


def test_zip_reader_is_torchs_reader_in_zip_mode(in_corpus, tmp_path):
    imp = tpkg.PackageImporter("pkg_minimal_text_only.pt")
    assert isinstance(imp.zip_reader, torch._C.PyTorchFileReader)
    assert imp.zip_reader.get_record("notes/readme.txt") == b"only a text resource\n"
    reader_imp = tpkg.PackageImporter(torch._C.PyTorchFileReader("pkg_minimal_text_only.pt"))
    assert reader_imp.load_text("notes", "readme.txt") == "only a text resource\n"
    assert str(reader_imp.file_structure()).startswith("─── <pytorch_file_reader>\n")


def test_loading_tensors_imports_torch_on_demand(staging_dir):
    import subprocess
    import sys

    script = (
        "import sys, tpkg\n"
        "assert 'torch' not in sys.modules\n"
        f"imp = tpkg.PackageImporter({os.path.join(CORPUS, 'pkg_torchscript.pt')!r})\n"
        "o = imp.load_pickle('model', 'scripted.pkl')\n"
        "assert o['w_shared'].storage().data_ptr() == o['script'].w.storage().data_ptr()\n"
        f"d = tpkg.PackageImporter({os.path.join(CORPUS, 'pkg_dtypes.pt')!r}).load_pickle('tensors', 'all.pkl')\n"
        "print(d['int64'].tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(staging_dir)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([-(2 ** 63), 1, 2 ** 40])
