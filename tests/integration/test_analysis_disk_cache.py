"""The analysis cache on disk (tpkg/analysis_cache.h), through real mounts and `tpkg`.

A mount's save leaves the import scans of the package's sources in TPKG_CACHE_DIR; the next
mount of another copy of the package finds them there instead of scanning, and saves the very
same bytes as a mount without the disk cache; real torch loads them. A read-only mount reads
and fills the same folder for its generated files. `tpkg deps` reads and fills
the same folder, and prints the same graph with it or without. The next mount of the very
file a save wrote (or a read-only view analysed) knows its unchanged sources by their place in
it and reads none of them, until the file changes. A folder other users may write is
never used. A relative TPKG_CACHE_DIR is the folder next to the command, also for a daemon in
the background (which works from "/").
"""
import os
import subprocess
import zipfile

from mounting import BUILD, TPKGFS, unmount
from writing import session, torch_check, writable_copy

TPKG = BUILD / "src" / "tools" / "tpkg"


def edit_and_save(tmp_path, name):
    """Mounts a copy of the corpus package with -d, adds an import to one source, unmounts;
    returns (the saved archive, the daemon's stderr)."""
    archive = writable_copy(tmp_path, name)
    with session(archive, tmp_path / "mnt", "-d", allow=[r".*"]) as m:
        util = m.path / "corpus_models" / "util.py"
        util.write_text(util.read_text() + "\nimport json\n")
    assert m.problems == [], m.problems
    return archive, m.stderr()


def cache_summary(stderr):
    for line in stderr.splitlines():
        if "analysis cache over the mount: " in line:
            return line
    raise AssertionError("no analysis cache summary in the daemon's debug log:\n" + stderr)


def sources_found_on_disk(stderr):
    line = cache_summary(stderr)
    return int(line.split("analysis cache over the mount: ")[1].split(" results reused, ")[1]
               .split()[0])


def read_only_view(archive, mnt, cache_dir, monkeypatch):
    """Mounts `archive` read-only with -d and TPKG_CACHE_DIR=cache_dir; returns its generated
    extern_modules and deps.dot, and the daemon's stderr."""
    monkeypatch.setenv("TPKG_CACHE_DIR", cache_dir)
    with session(archive, mnt, "-d", "-o", "ro", allow=[r".*"]) as m:
        files = {name: (m.path / ".data" / name).read_bytes()
                 for name in ("extern_modules", "deps.dot")}
    assert m.problems == [], m.problems
    return files, m.stderr()


def sources_known_by_place(stderr):
    """Sources the daemon found on disk by their place in the archive file, without reading."""
    line = cache_summary(stderr)
    return int(line.split("instead of scanned (")[1].split()[0])


def test_a_second_mount_finds_the_scans_on_disk_and_saves_the_same_bytes(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("TPKG_CACHE_DIR", str(cache))
    first, log = edit_and_save(tmp_path, "first.pt")
    assert sources_found_on_disk(log) == 0
    assert len(list(cache.glob("*.pack"))) == 1
    second, log = edit_and_save(tmp_path, "second.pt")
    # corpus_models/{__init__,model,layers}.py at least; util.py too when its edited
    # text was what the first save scanned.
    assert sources_found_on_disk(log) >= 3
    monkeypatch.setenv("TPKG_CACHE_DIR", "")
    third, log = edit_and_save(tmp_path, "third.pt")
    assert sources_found_on_disk(log) == 0
    assert second.read_bytes() == third.read_bytes() == first.read_bytes()
    with zipfile.ZipFile(second) as zf:
        externs = zf.read(f"{zf.namelist()[0].split('/')[0]}/.data/extern_modules").decode()
    assert "json\n" in externs
    loaded = torch_check([{"name": "k", "archive": str(second), "attr": "DEFAULT_HIDDEN"}])
    assert "error" not in loaded["k"], loaded


def test_a_read_only_mount_reads_and_fills_the_disk_cache(tmp_path, monkeypatch):
    """The generated files of a read-only view come from the disk cache as a read/write mount's
    do: the first mount scans and leaves a pack, the next one scans nothing, and the files are
    the same bytes with the cache or without; the archive is never written."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    archive = writable_copy(tmp_path / "package")
    before = archive.read_bytes()

    def generated(cache_dir):
        files, stderr = read_only_view(archive, tmp_path / "mnt", cache_dir, monkeypatch)
        return files, sources_found_on_disk(stderr)

    first, found = generated(str(cache))
    assert found == 0
    assert len(list(cache.glob("*.pack"))) == 1
    second, found = generated(str(cache))
    assert found >= 4  # corpus_models/{__init__,model,layers,util}.py
    without, _ = generated("")
    # deps.dot is the analysis's own; extern_modules is the archive's while it is unedited.
    assert first == second == without
    assert b"corpus_models.util" in first["deps.dot"]
    assert archive.read_bytes() == before
    assert [p.name for p in archive.parent.iterdir()] == [archive.name]  # nothing beside it


def test_the_next_mount_of_a_saved_file_reads_only_what_the_save_wrote(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("TPKG_CACHE_DIR", str(cache))
    archive, log = edit_and_save(tmp_path, "saved.pt")  # util.py written anew
    assert sources_known_by_place(log) == 0  # a fresh copy: every source read and hashed

    def view(cache_dir):
        files, stderr = read_only_view(archive, tmp_path / "view", cache_dir, monkeypatch)
        return files, sources_known_by_place(stderr), sources_found_on_disk(stderr)

    without, _, _ = view("")
    assert b"json" in without["extern_modules"]
    # corpus_models/{__init__,model,layers}.py by their place; the edited util.py read.
    files, by_place, found = view(str(cache))
    assert (files, by_place, found) == (without, 3, 4)
    # That view noted util.py's place too.
    files, by_place, _ = view(str(cache))
    assert (files, by_place) == (without, 4)
    # A file whose times changed is read again (its bytes may have).
    os.utime(archive)
    files, by_place, found = view(str(cache))
    assert (files, by_place, found) == (without, 0, 4)


def tpkg_deps(archive, cache):
    env = dict(os.environ, TPKG_CACHE_DIR=str(cache))
    return subprocess.run([str(TPKG), "deps", str(archive)], env=env, capture_output=True,
                          text=True, check=True).stdout


def test_tpkg_deps_uses_the_disk_cache_and_prints_the_same_graph(tmp_path):
    archive = writable_copy(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    without = tpkg_deps(archive, "")
    assert "corpus_models.util" in without
    assert tpkg_deps(archive, cache) == without
    packs = list(cache.glob("*.pack"))
    assert len(packs) == 1
    inode = packs[0].stat().st_ino
    os.utime(packs[0], ns=(0, 0))
    assert tpkg_deps(archive, cache) == without
    # Read (and marked as recently used), not written again: nothing was new.
    assert packs[0].stat().st_mtime_ns > 0
    assert packs[0].stat().st_ino == inode


def test_a_folder_other_users_may_write_is_not_used(tmp_path):
    archive = writable_copy(tmp_path)
    cache = tmp_path / "shared"
    cache.mkdir()
    cache.chmod(0o777)
    assert "corpus_models.util" in tpkg_deps(archive, cache)
    assert list(cache.iterdir()) == []


def test_a_relative_cache_folder_is_next_to_the_command_that_mounted(tmp_path):
    archive = writable_copy(tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = dict(os.environ, TPKG_CACHE_DIR="relative/cache")
    subprocess.run([str(TPKGFS), str(archive), str(mnt)], cwd=tmp_path, env=env, check=True)
    try:
        util = mnt / "corpus_models" / "util.py"
        util.write_text(util.read_text() + "\n# edited\n")
        done = subprocess.run([str(TPKGFS), "-u", str(mnt)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    finally:
        unmount(mnt)
    assert len(list((tmp_path / "relative" / "cache").glob("*.pack"))) == 1
