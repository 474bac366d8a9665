"""Archives edited through the journal and written back load in real torch.

Each test copies a corpus package, edits it with tests/tools/edit_archive
(Journal + WriteBack, exactly what the mount does at unmount), then checks the
container with zipfile and loads the package with torch.package.PackageImporter,
asserting that the edit is in effect.
"""
import os
import pathlib
import shutil
import struct
import subprocess
import zipfile

import pytest

torch = pytest.importorskip("torch")
from torch.package import PackageImporter  # noqa: E402
from torch_writer import SERIALIZATION_ID, torch_serialization_id  # noqa: E402


@pytest.fixture(scope="session")
def edit_archive(build_dir):
    exe = build_dir / "tests" / "tools" / "edit_archive"
    if not exe.exists():
        pytest.skip(f"{exe} is not built")
    return exe


def run_edit(edit_archive, archive, *words, expect_ok=True):
    result = subprocess.run([str(edit_archive), str(archive), *words], capture_output=True, text=True,
                            timeout=120)
    if expect_ok:
        assert result.returncode == 0, result.stderr
    return result


def copy_case(corpus_dir, tmp_path, name):
    dst = tmp_path / name
    shutil.copyfile(corpus_dir / name, dst)
    return dst


def local_data_offsets(path):
    """{name: data offset} parsed from the local headers, as torch's reader computes it."""
    offsets = {}
    with open(path, "rb") as f, zipfile.ZipFile(path) as z:
        for info in z.infolist():
            f.seek(info.header_offset)
            header = f.read(30)
            assert header[:4] == b"PK\x03\x04"
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            offsets[info.filename] = info.header_offset + 30 + name_len + extra_len
    return offsets


def check_container(path, tpkg_bin):
    """Every record 64-byte aligned, every CRC right, torch's trailer last
    (`.data/version`; torch 2.x: `.data/version`, `byteorder` where the
    archive has it, then `.data/serialization_id`), and our own strict reader
    (`tpkg check`) accepts it."""
    check = subprocess.run([tpkg_bin, "check", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        names = z.namelist()
    if names[-1].endswith("/.data/serialization_id"):
        trailer = [n.split("/", 1)[1] for n in names[-3:]]
        assert trailer in ([".data/version", "byteorder", ".data/serialization_id"],
                           [names[-3].split("/", 1)[1], ".data/version",
                            ".data/serialization_id"]), names[-3:]
    else:
        assert names[-1].endswith("/.data/version"), names[-3:]
    for name, offset in local_data_offsets(path).items():
        assert offset % 64 == 0, name
    return names


def model_output(archive):
    importer = PackageImporter(str(archive))
    model = importer.load_pickle("model", "model.pkl")
    with torch.no_grad():
        return model(torch.ones(1, 4))


def test_edited_source_and_new_module_take_effect(corpus_dir, tmp_path, edit_archive, tpkg_bin):
    archive = copy_case(corpus_dir, tmp_path, "pkg_model_numpy.pt")
    before = model_output(archive)
    original_util = zipfile.ZipFile(archive).read("pkg_model_numpy/corpus_models/util.py").decode()
    new_util = original_util.replace("import torch\n", "import torch\nfrom corpus_models.extra import FACTOR\n")
    new_util = new_util.replace("* math.pi", "* math.pi * FACTOR")
    assert new_util != original_util
    run_edit(edit_archive, archive,
             "put", "corpus_models/extra.py", "FACTOR = 10.0\n",
             "put", "corpus_models/util.py", new_util)
    names = check_container(archive, tpkg_bin)
    # The new module sits where the exporter writes sources: before the metadata.
    assert names.index("pkg_model_numpy/corpus_models/extra.py") < names.index("pkg_model_numpy/.data/extern_modules")
    after = model_output(archive)
    assert torch.allclose(after, before * 10.0)
    assert not (tmp_path / ".pkg_model_numpy.pt.tpkgfs").exists()


def test_unchanged_records_are_raw_copies(corpus_dir, tmp_path, edit_archive):
    archive = copy_case(corpus_dir, tmp_path, "pkg_model_numpy.pt")
    original = archive.read_bytes()
    old = {i.filename: i for i in zipfile.ZipFile(archive).infolist()}
    old_offsets = local_data_offsets(archive)
    run_edit(edit_archive, archive, "append", "corpus_models/__init__.py", "# edited\n")
    new = {i.filename: i for i in zipfile.ZipFile(archive).infolist()}
    new_offsets = local_data_offsets(archive)
    edited = "pkg_model_numpy/corpus_models/__init__.py"
    assert list(new) == list(old)
    for name, info in old.items():
        # torch 2.x: .data/serialization_id is derived from every record's CRC, so an edit
        # rewrites it (checked against torch's own computation in serialization_id_test).
        if name == edited or name.endswith("/.data/serialization_id"):
            continue
        raw_old = original[old_offsets[name]:old_offsets[name] + info.compress_size]
        raw_new = archive.read_bytes()[new_offsets[name]:new_offsets[name] + new[name].compress_size]
        assert raw_new == raw_old, name
        assert new[name].CRC == info.CRC
    assert zipfile.ZipFile(archive).read(edited).endswith(b"# edited\n")
    model_output(archive)  # still loads


def test_resources_renamed_deleted_and_rewritten(corpus_dir, tmp_path, edit_archive, tpkg_bin):
    archive = copy_case(corpus_dir, tmp_path, "pkg_resources.pt")
    run_edit(edit_archive, archive,
             "mv", "respkg/greeting.txt", "respkg/hello.txt",
             "put", "respkg/sub/nested.txt", "rewritten nested\n",
             "rm", "assets/table.bin",
             "put", "assets/new.txt", "brand new\n")
    check_container(archive, tpkg_bin)
    importer = PackageImporter(str(archive))
    original = zipfile.ZipFile(corpus_dir / "pkg_resources.pt").read("pkg_resources/respkg/greeting.txt").decode()
    assert importer.load_text("respkg", "hello.txt") == original
    assert importer.load_text("respkg.sub", "nested.txt") == "rewritten nested\n"
    assert importer.load_text("assets", "new.txt") == "brand new\n"
    with pytest.raises(Exception):
        importer.load_binary("assets", "table.bin")


def test_regenerated_extern_modules_replace_the_old(corpus_dir, tmp_path, edit_archive, tpkg_bin):
    archive = copy_case(corpus_dir, tmp_path, "pkg_minimal_text_only.pt")
    run_edit(edit_archive, archive,
             "put", "notes/readme.txt", "edited\n",
             "regen", ".data/extern_modules", "numpy\n")
    names = check_container(archive, tpkg_bin)
    z = zipfile.ZipFile(archive)
    assert z.read("pkg_minimal_text_only/.data/extern_modules") == b"numpy\n"
    assert names.index("pkg_minimal_text_only/.data/extern_modules") < names.index(
        "pkg_minimal_text_only/.data/version")
    importer = PackageImporter(str(archive))
    assert importer.extern_modules == ["numpy"]
    assert importer.load_text("notes", "readme.txt") == "edited\n"


def test_journal_left_by_one_run_is_recovered_by_the_next(corpus_dir, tmp_path, edit_archive):
    archive = copy_case(corpus_dir, tmp_path, "pkg_minimal_text_only.pt")
    original = archive.read_bytes()
    run_edit(edit_archive, archive, "--no-save", "put", "notes/extra.txt", "kept in the journal\n")
    assert archive.read_bytes() == original
    assert (tmp_path / ".pkg_minimal_text_only.pt.tpkgfs" / "manifest").exists()
    result = run_edit(edit_archive, archive)
    assert result.stdout.startswith("recovered 1 edited record from ")
    assert PackageImporter(str(archive)).load_text("notes", "extra.txt") == "kept in the journal\n"


def test_no_change_leaves_bytes_and_mtime(corpus_dir, tmp_path, edit_archive):
    archive = copy_case(corpus_dir, tmp_path, "pkg_model_numpy.pt")
    os.utime(archive, ns=(1_000_000_000, 1_000_000_000))
    original = archive.read_bytes()
    util = zipfile.ZipFile(archive).read("pkg_model_numpy/corpus_models/util.py").decode()
    # An empty folder is saved (a folder entry) unless it is removed again.
    result = run_edit(edit_archive, archive, "put", "corpus_models/util.py", util, "mkdir", "scratch",
                      "rmdir", "scratch")
    assert "left untouched" in result.stdout
    assert archive.read_bytes() == original
    assert archive.stat().st_mtime_ns == 1_000_000_000


def test_refused_edit_keeps_archive_and_names_the_reason(corpus_dir, tmp_path, edit_archive):
    # torch's reader could not tell the two names apart: refused when made (a journal that
    # holds such a pair from before is refused by the save: the writer, zip_writer_test).
    archive = copy_case(corpus_dir, tmp_path, "pkg_minimal_text_only.pt")
    original = archive.read_bytes()
    result = run_edit(edit_archive, archive, "put", "notes/README.txt", "case clash\n", expect_ok=False)
    assert result.returncode == 1
    assert result.stderr == ("edit_archive: Cannot create 'notes/README.txt': 'notes/readme.txt' "
                             "differs from it only in case, and torch's reader, which ignores "
                             "the case of names, could not tell them apart\n"), result.stderr
    assert archive.read_bytes() == original
    assert not (tmp_path / ".pkg_minimal_text_only.pt.tpkgfs" / "save.tmp").exists()


def test_zip_tool_archive_with_directory_entries_and_deflate(corpus_dir, tmp_path, edit_archive, tpkg_bin):
    archive = copy_case(corpus_dir, tmp_path, "pkg_deflated_by_zip_tool.pt")
    before = model_output(archive)
    old = {i.filename: i for i in zipfile.ZipFile(archive).infolist()}
    util = zipfile.ZipFile(archive).read("pkg_model_numpy/corpus_models/util.py").decode()
    run_edit(edit_archive, archive, "put", "corpus_models/util.py", util.replace("* math.pi", "* math.pi * 2"))
    check_container(archive, tpkg_bin)
    new = {i.filename: i for i in zipfile.ZipFile(archive).infolist()}
    # Original order (the zip tool's, sorted by name), the folder entries kept in place but the
    # prefix folder's own, and torch's trailer last: `.data/version`; for an archive of torch 2.x
    # (the corpus is made by the stack's torch) then `.data/serialization_id`. Its `byteorder`
    # stays where the zip tool put it: records other than the trailer's follow it, so torch's
    # finish step did not write it there.
    root = "pkg_model_numpy/"
    serialization_id = root + SERIALIZATION_ID
    trailer = [root + ".data/version"] + [serialization_id] * (serialization_id in old)
    assert list(new) == [n for n in old if n not in (root, *trailer)] + trailer
    for name, info in old.items():
        # The id is derived from every record's CRC: the edit changes it (checked below).
        if name in new and not name.endswith("util.py") and name != serialization_id:
            assert (new[name].compress_type, new[name].CRC) == (info.compress_type, info.CRC), name
    if serialization_id in old:
        ours, theirs = torch_serialization_id(archive, tmp_path / "by_torch")
        assert ours == theirs
        assert ours != zipfile.ZipFile(corpus_dir / "pkg_deflated_by_zip_tool.pt").read(
            serialization_id).decode()
    assert any(i.compress_type == zipfile.ZIP_DEFLATED for i in new.values())
    assert torch.allclose(model_output(archive), before * 2)
