"""The mounted view of every corpus archive against Python's zipfile view."""
import errno
import mmap
import os
import pathlib
import shutil
import stat
import subprocess
import zipfile

import pytest

from mounting import CORPUS
from ziputil import expected_facts, expected_tree, mounted_tree

MOUNTABLE = sorted(p for p in CORPUS.glob("*") if p.suffix in (".pt", ".pth"))
PACKAGES = [p for p in MOUNTABLE if (expected_facts(p) or {}).get("kind") == "torch.package"]


def ids(paths):
    return [p.name for p in paths]


# Archives holding exactly the package of another case (re-zipped by a tool),
# whose exporter facts therefore apply.
SAME_PACKAGE_AS = {"pkg_deflated_by_zip_tool.pt": "pkg_model_numpy.pt"}


def exporter_facts(archive):
    return expected_facts(CORPUS / SAME_PACKAGE_AS.get(archive.name, archive.name))["exporter"]


def virtual_files(archive):
    """What the generated files must contain, from the facts real torch recorded."""
    facts = expected_facts(archive)
    if facts is None or facts["kind"] != "torch.package":
        return {}
    return {
        ".data/extern_modules": facts["package"]["extern_modules_raw"].encode(),
        ".data/deps.dot": exporter_facts(archive)["dependency_graph_string"].encode(),
    }


@pytest.mark.parametrize("mounted", MOUNTABLE, indirect=True, ids=ids(MOUNTABLE))
def test_tree_names_types_and_bytes_equal_zipfile_view(mounted):
    want = expected_tree(mounted.archive)
    want.update(virtual_files(mounted.archive))
    got = mounted_tree(mounted.path)
    assert sorted(got) == sorted(want)
    for path, content in want.items():
        assert got[path] == content, path


@pytest.mark.parametrize("mounted", PACKAGES, indirect=True, ids=ids(PACKAGES))
def test_virtual_files_equal_what_torch_reports(mounted):
    facts = expected_facts(mounted.archive)
    externs = mounted.path / ".data" / "extern_modules"
    assert externs.read_text() == facts["package"]["extern_modules_raw"]
    assert externs.stat().st_size == len(facts["package"]["extern_modules_raw"].encode())
    dot = mounted.path / ".data" / "deps.dot"
    want = exporter_facts(mounted.archive)["dependency_graph_string"]
    assert dot.read_text() == want
    assert dot.stat().st_size == len(want.encode())
    assert ".data/deps.dot" in [f".data/{n}" for n in os.listdir(mounted.path / ".data")]


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz")
@pytest.mark.parametrize("mounted", PACKAGES[:2], indirect=True, ids=ids(PACKAGES[:2]))
def test_graphviz_renders_deps_dot(mounted, tmp_path):
    svg = tmp_path / "deps.svg"
    subprocess.run(["dot", "-Tsvg", str(mounted.path / ".data" / "deps.dot"), "-o", str(svg)],
                   check=True, timeout=60)
    assert "<svg" in svg.read_text()


@pytest.mark.parametrize("mounted", MOUNTABLE, indirect=True, ids=ids(MOUNTABLE))
def test_attributes_are_sane_and_come_from_the_archive(mounted):
    archive_mtime = mounted.archive.stat().st_mtime_ns
    # What a zip tool stored (Unix mode, UT mtime), by path; torch stores none.
    held = {}
    with zipfile.ZipFile(mounted.archive) as zf:
        prefix = zf.infolist()[0].filename.split("/", 1)[0] + "/"
        for info in zf.infolist():
            if info.create_system == 3 and info.external_attr >> 16:
                mtime = None
                if info.extra[:2] == b"UT" and info.extra[4] & 1:
                    mtime = int.from_bytes(info.extra[5:9], "little") * 1_000_000_000
                held[info.filename[len(prefix):].rstrip("/")] = (
                    stat.S_IMODE(info.external_attr >> 16), mtime)
    for dirpath, dirnames, filenames in os.walk(mounted.path):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            mode, _ = held.get(os.path.relpath(path, mounted.path), (0o555, None))
            assert stat.S_IMODE(st.st_mode) == mode
            assert st.st_nlink >= 2
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            assert stat.S_ISREG(st.st_mode)
            rel = os.path.relpath(path, mounted.path)
            generated = rel in (".data/deps.dot", ".data/extern_modules")
            mode, mtime = (0o444, None) if generated else held.get(rel, (0o444, None))
            assert stat.S_IMODE(st.st_mode) == mode  # torch's: no setuid/setgid/sticky, no exec
            assert st.st_nlink == 1
            assert st.st_mtime_ns == (mtime if mtime is not None else archive_mtime)
            assert st.st_uid == os.getuid() and st.st_gid == os.getgid()
    root = os.stat(mounted.path)
    assert stat.S_ISDIR(root.st_mode)
    root_mtime = held.get("", (None, None))[1]  # the prefix folder's own entry, if any
    assert root.st_mtime_ns == (root_mtime if root_mtime is not None else archive_mtime)


@pytest.mark.parametrize("mounted", PACKAGES[:1], indirect=True, ids=ids(PACKAGES[:1]))
def test_files_are_not_folders_and_misses_are_enoent(mounted):
    version = mounted.path / ".data" / "version"
    for probe in (lambda: os.listdir(version),
                  lambda: open(version / "x"),
                  lambda: os.open(version, os.O_RDONLY | os.O_DIRECTORY)):
        with pytest.raises(NotADirectoryError):
            probe()
    with pytest.raises(FileNotFoundError):
        os.stat(mounted.path / "no_such_record")
    with pytest.raises(IsADirectoryError):
        open(mounted.path / ".data").read()


@pytest.mark.parametrize("mounted", PACKAGES[:1], indirect=True, ids=ids(PACKAGES[:1]))
def test_the_view_is_read_only(mounted):
    attempts = [
        lambda: open(mounted.path / ".data" / "version", "w"),
        lambda: open(mounted.path / ".data" / "version", "a"),
        lambda: open(mounted.path / ".data" / "extern_modules", "w"),
        lambda: open(mounted.path / ".data" / "deps.dot", "r+"),
        lambda: open(mounted.path / "new.txt", "w"),
        lambda: os.mkdir(mounted.path / "newdir"),
        lambda: os.unlink(mounted.path / ".data" / "version"),
        lambda: os.rename(mounted.path / ".data" / "version", mounted.path / "v"),
        lambda: os.chmod(mounted.path / ".data" / "version", 0o777),
    ]
    for attempt in attempts:
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.errno == errno.EROFS


@pytest.mark.parametrize("mounted", PACKAGES, indirect=True, ids=ids(PACKAGES))
def test_private_and_shared_mmap_read_the_record_bytes(mounted):
    want = expected_tree(mounted.archive)
    storages = [p for p in want if p.startswith(".data/") and p.endswith(".storage")]
    for name in storages:
        if not want[name]:
            continue  # a 0-byte storage cannot be mapped (torch does not map it either)
        with open(mounted.path / name, "rb") as f:
            with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE) as m:
                assert m[:] == want[name]
                m[0:1] = b"\x00"  # private: never reaches the file
            with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as m:
                assert m[:] == want[name]
        assert (mounted.path / name).read_bytes() == want[name]


@pytest.mark.parametrize("mounted", [CORPUS / "pkg_model_numpy.pt"], indirect=True,
                         ids=["pkg_model_numpy.pt"])
def test_statfs_reports_a_read_only_file_system(mounted):
    st = os.statvfs(mounted.path)
    assert st.f_flag & os.ST_RDONLY
    assert st.f_files >= len(expected_tree(mounted.archive))


def test_statfs_of_a_fresh_writable_mount_answers_without_making_the_journal(tmp_path,
                                                                             mount_factory):
    # The journal is made by the first change; df and find (an fstatfs per
    # folder) ask before that, and get the archive folder's file system.
    archive = tmp_path / "model.pt"
    shutil.copyfile(CORPUS / "pkg_model_numpy.pt", archive)
    archive.chmod(0o644)
    m = mount_factory(archive, name="rw")
    st = os.statvfs(m.path)
    assert not st.f_flag & os.ST_RDONLY
    assert st.f_blocks == os.statvfs(tmp_path).f_blocks
    subprocess.run(["find", str(m.path)], check=True, stdout=subprocess.DEVNULL)
    assert not (tmp_path / ".model.pt.tpkgfs").exists()
