"""Where a mount must not go (src/fs/mount_site.h), through real mounts.

A daemon that touched a path inside its own mount waited for itself for good: an archive
mounted over its own folder (its journal and save log would be inside the mount) is served
read-only with a warning, and an analysis cache folder inside the mountpoint is not used. A
mountpoint that is already a tpkgfs mount is refused; one that holds files is mounted over with
a warning naming how many the mount hides. Every step has a timeout: a hang fails the test.
"""
import subprocess

import pytest

from mounting import TPKGFS, fuse_usable
from writing import records, session, writable_copy

pytestmark = pytest.mark.skipif(not fuse_usable(), reason="needs /dev/fuse")

HIDDEN = r"^tpkgfs: mountpoint '.*' is not empty: its \d+ entr(y is|ies are) hidden until it is unmounted$"
READ_ONLY = (r"^tpkgfs: mounting .* read-only: it, its journal or its save log lies inside the "
             r"mountpoint, where the mount would hide them from the daemon itself$")


def run(*args, **kwargs):
    return subprocess.run([str(TPKGFS), *map(str, args)], capture_output=True, text=True,
                          timeout=30, **kwargs)


def test_an_archive_mounted_over_its_own_folder_is_read_only(tmp_path):
    folder = tmp_path / "folder"
    archive = writable_copy(folder)
    before = archive.read_bytes()
    with session(archive, folder, allow=[HIDDEN, READ_ONLY]) as m:
        names = sorted(p.name for p in folder.iterdir())
        assert "corpus_models" in names
        util = folder / "corpus_models" / "util.py"
        assert b"def " in util.read_bytes()
        with pytest.raises(OSError):
            util.write_text("x = 1\n")
    assert m.problems == [], m.problems
    assert archive.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [archive.name]  # no journal, no log


def test_an_archive_mounted_over_its_own_journal_folder_is_read_only(tmp_path):
    archive = writable_copy(tmp_path)
    journal = tmp_path / f".{archive.name}.tpkgfs"
    with session(archive, journal, allow=[READ_ONLY]) as m:
        assert (journal / "corpus_models").is_dir()
    assert m.problems == [], m.problems
    assert journal.is_dir()  # the folder mounted on is left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [archive.name, journal.name, f"{journal.name}.stderr"])


def test_an_analysis_cache_inside_the_mountpoint_is_not_used(tmp_path, monkeypatch):
    archive = writable_copy(tmp_path)
    mnt = tmp_path / "mnt"
    monkeypatch.setenv("TPKG_CACHE_DIR", str(mnt / "cache"))
    with session(archive, mnt, allow=[r"^tpkgfs: not using the analysis cache .*/mnt/cache: it "
                                      r"lies inside the mountpoint$"]) as m:
        assert b"corpus_models.util" in (mnt / ".data" / "deps.dot").read_bytes()
        util = mnt / "corpus_models" / "util.py"
        util.write_text(util.read_text() + "\nimport json\n")
    assert m.problems == [], m.problems
    assert "corpus_models/util.py" in records(archive)
    assert not any(name.startswith("cache/") for name in records(archive))


def test_a_mountpoint_already_mounted_by_tpkgfs_is_refused(tmp_path):
    first = writable_copy(tmp_path, "first.pt")
    second = writable_copy(tmp_path, "second.pt")
    mnt = tmp_path / "mnt"
    with session(first, mnt) as m:
        r = run(second, mnt)
        assert r.returncode == 1
        assert r.stderr == (f"tpkgfs: mountpoint '{mnt}' is already a tpkgfs mount (of "
                            f"'{first}'): unmount it first (tpkgfs -u {mnt})\n")
        assert (mnt / "corpus_models").is_dir()  # still the first mount, alone
    assert m.problems == [], m.problems


def test_a_mountpoint_with_files_is_mounted_over_with_a_warning(tmp_path):
    archive = writable_copy(tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    (mnt / "a").write_text("1")
    (mnt / "b").write_text("2")
    with session(archive, mnt, allow=[HIDDEN]) as m:
        assert not (mnt / "a").exists()
    assert m.problems == [], m.problems
    assert "its 2 entries are hidden until it is unmounted" in m.stderr()
    assert sorted(p.name for p in mnt.iterdir()) == ["a", "b"]
