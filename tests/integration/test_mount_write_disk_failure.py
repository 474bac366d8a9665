"""A disk that fails or fills under a read/write mount. The journal's background sync
(group commit) fails with no caller waiting for it. The daemon must say so
at once, in its log, not at the next operation (which may never come);
later changes fail with EIO; the unmount's save fails and the archive is
left exactly as it was.

The failing disk is real: ext4 on a loop device whose sparse image lives on
a small tmpfs. Once the tmpfs is full, every block the file system writes
for the first time fails in the loop driver, and fdatasync reports EIO or
ENOSPC, as on a disk that dies or a thin volume that runs out of space.
Needs root (mount, loop devices); skipped otherwise.
"""
import contextlib
import errno
import os
import pathlib
import shutil
import subprocess
import time

import pytest

from mounting import CORPUS, TPKGFS, Mount, mount_entry, private_copy, unmount, wait_until

ARCHIVE = CORPUS / "pkg_minimal_text_only.pt"
BACKGROUND_FAILURE = "tpkgfs: Cannot sync the journal manifest "
LONG_NAME = "n" * 200  # long names fill the manifest's blocks in few creates


def run(*cmd):
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)


@contextlib.contextmanager
def mounted_fs(*cmd, target):
    run(*cmd, target)
    try:
        yield target
    finally:
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture
def failing_disk(tmp_path):
    """(folder on ext4, fill()) where fill() makes every new block fail."""
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4") or not os.path.exists(
            "/dev/loop-control"):
        pytest.skip("needs root, mkfs.ext4 and loop devices")
    backing = tmp_path / "tmpfs"
    ext = tmp_path / "ext"
    backing.mkdir()
    ext.mkdir()
    with mounted_fs("mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", target=backing):
        image = backing / "disk.img"
        run("truncate", "-s", "64M", image)
        # No ext4 journal: a failed data write reaches fdatasync directly.
        run("mkfs.ext4", "-q", "-F", "-O", "^has_journal", image)
        with mounted_fs("mount", "-o", "loop", image, target=ext):

            def fill():
                os.sync()
                with open(backing / "fill", "wb") as f:
                    with contextlib.suppress(OSError):
                        while True:
                            f.write(b"\0" * (1 << 20))
                            f.flush()

            yield ext, fill


def test_a_failed_background_sync_is_logged_when_it_happens(failing_disk, tmp_path):
    ext, fill = failing_disk
    archive = private_copy(ARCHIVE, ext)
    original = ARCHIVE.read_bytes()
    m = Mount(archive, tmp_path / "mnt")
    m.allow_stderr(r".*")  # asserted line by line below
    m.start()
    try:
        (m.path / "first.py").write_text("x = 1\n")  # the journal exists, its first blocks too
        fill()
        logged = False
        for i in range(200):
            # Each create returns before its background sync: only the log can tell.
            (m.path / f"{LONG_NAME}{i}.txt").touch()
            if wait_until(lambda: BACKGROUND_FAILURE in m.stderr(), 0.5):
                logged = True
                break
        assert logged, m.stderr()
        first = next(line for line in m.stderr().splitlines() if line)
        assert first.startswith(BACKGROUND_FAILURE), m.stderr()
        assert "manifest" in first and "nothing more is accepted" in first

        with pytest.raises(OSError) as failed:
            (m.path / "after.txt").touch()
        assert failed.value.errno == errno.EIO
    finally:
        unmount(m.path)
        status = m.wait()
    assert status not in (0, "killed after timeout"), m.stderr()
    assert "Cannot save" in m.stderr()
    assert archive.read_bytes() == original


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs: a folder whose space runs out."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mount)")
    disk = tmp_path / "small"
    disk.mkdir()
    with mounted_fs("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", target=disk):
        yield disk


# A new file is a whole journal file; a stored record of the archive is written in place
# (a patch over the archive's bytes, tpkg/record_patch.h): both must cut a write short.
@pytest.mark.parametrize("name", ["appended.bin", "notes/readme.txt"])
def test_a_write_the_full_disk_cuts_short_is_a_short_write_never_a_duplicate(small_disk, tmp_path,
                                                                              name):
    """write(2) on a native file that fills the disk returns how much it wrote; the writer then
    retries the rest. Through the mount the same: an O_APPEND writer that frees space and
    retries what was not written ends with exactly the bytes it wrote (it used to get ENOSPC
    for bytes the journal had kept, and wrote them twice)."""
    archive = private_copy(ARCHIVE, small_disk)
    m = Mount(archive, tmp_path / "mnt")
    m.allow_stderr(r".*")
    m.start()
    try:
        target = m.path / name
        expected = target.read_bytes() if target.exists() else b""
        ballast = small_disk / "ballast"
        free = shutil.disk_usage(small_disk).free
        with open(ballast, "wb") as f:  # leave about 1.5 MiB
            f.write(b"\0" * (free - 3 * (1 << 19)))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        full, start = 0, len(expected)
        try:
            for i in range(6):
                block = bytes([65 + i]) * (1 << 20)
                while block:
                    try:
                        n = os.write(fd, block)
                    except OSError as e:
                        assert e.errno == errno.ENOSPC and ballast.exists(), e
                        full += 1
                        ballast.unlink()  # room again: retry what was not written
                        continue
                    expected += block[:n]
                    block = block[n:]
        finally:
            os.close(fd)
        assert full == 1
        assert target.read_bytes() == expected
        assert len(expected) == start + (6 << 20)
    finally:
        unmount(m.path)
        m.wait()


def fill_up(disk, name):
    """Writes `name` on `disk` until the disk is full."""
    with open(disk / name, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)


def test_a_disk_full_from_the_start_is_named_at_mount_and_at_unmount(small_disk, tmp_path):
    """No room even for the save log's reservation: the mount says so at once, and when the
    save then finds no room either, `tpkgfs -u` says the daemon ran to its end without room to
    record the outcome (not that it was killed), and the edits are kept."""
    archive = private_copy(ARCHIVE, small_disk)
    original = archive.read_bytes()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fill_up(small_disk, "ballast")
    try:
        started = subprocess.run([str(TPKGFS), str(archive), str(mnt)], capture_output=True,
                                 text=True, timeout=60)
        assert started.returncode == 0, started.stderr
        assert "the save log has no room reserved" in started.stderr
        assert "the disk is full" in started.stderr
        os.truncate(small_disk / "ballast", 0)
        (mnt / "edit.txt").write_text("kept\n")
        fill_up(small_disk, "ballast2")
        u = subprocess.run([str(TPKGFS), "-u", str(mnt)], capture_output=True, text=True,
                           timeout=120)
        assert u.returncode == 1, u
        assert "could not record the outcome of its save" in u.stderr, u.stderr
        assert "was it killed" not in u.stderr
        # The outcome itself, kept in the daemon's ended record (the registry is on /run).
        assert "(is its disk full?); it was:\ntpkgfs: Cannot save" in u.stderr, u.stderr
        assert "No space left on device" in u.stderr, u.stderr
        assert archive.read_bytes() == original
        assert (small_disk / f".{archive.name}.tpkgfs").is_dir()  # the edits are kept
    finally:
        if mount_entry(mnt):
            subprocess.run(["fusermount3", "-uz", str(mnt)], capture_output=True)
