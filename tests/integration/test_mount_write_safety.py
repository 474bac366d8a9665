"""The read/write mount never loses a byte: POSIX errors instead of crashes,
recovery after SIGKILL, an untouched archive when nothing changed or the save
fails (ENOSPC), a read-only view when edits could not be kept, and
concurrent writers that all get their bytes back."""
import ctypes
import errno
import multiprocessing
import os
import signal
import subprocess
import time

import pytest

from mounting import TPKGFS, mount_entry, wait_until
from writing import INIT, INIT_TEXT, records, session, stop, torch_check, writable_copy

SLOW = os.environ.get("TPKG_SLOW") == "1"


def test_fuse_zip_crash_sequence_gives_enotempty_and_the_daemon_stays_up(tmp_path):
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        os.mkdir(m.path / "a")
        os.mkdir(m.path / "b")
        (m.path / "b" / "f").touch()
        mv = subprocess.run(["mv", "-T", str(m.path / "a"), str(m.path / "b")],
                            capture_output=True, text=True)
        assert mv.returncode != 0 and "Directory not empty" in mv.stderr
        with pytest.raises(OSError) as info:
            os.rename(m.path / "a", m.path / "b")
        assert info.value.errno == errno.ENOTEMPTY
        os.unlink(m.path / "b" / "f")
        assert sorted(os.listdir(m.path / "b")) == []
        assert (m.path / INIT).read_bytes() == INIT_TEXT  # still serving
    assert m.problems == []


def test_what_a_package_cannot_hold_is_refused_with_eperm_or_enametoolong(tmp_path):
    archive = writable_copy(tmp_path)
    allow = [r"a package holds only regular files and directories"]
    with session(archive, tmp_path / "mnt", allow=allow) as m:
        for make in (lambda p: os.symlink("x", p), lambda p: os.link(m.path / INIT, p),
                     lambda p: os.mkfifo(p)):
            with pytest.raises(OSError) as info:
                make(m.path / "special")
            assert info.value.errno == errno.EPERM
        with pytest.raises(OSError) as info:
            (m.path / ("n" * 256)).write_bytes(b"")
        assert info.value.errno == errno.ENAMETOOLONG
    assert m.problems == []
    assert records(archive) == records(writable_copy(tmp_path / "orig"))


def test_names_differing_only_in_case_are_refused_when_made(tmp_path):
    """torch's reader ignores the case of names: `util.py` beside `UTIL.py` (or a file beside a
    folder of the same name) could not be told apart, and a save would refuse the pair. So the
    mount refuses to make one (EEXIST, and a line saying why), whether by create, mkdir or
    rename, also for a name below a folder moved; renaming a name to another case of itself is
    no pair, and two folders are fine (only whole names collide), which the save keeps."""
    archive = writable_copy(tmp_path)
    pkg = "corpus_models"
    with session(archive, tmp_path / "mnt", allow=[r"differs from .* only in case"]) as m:
        (m.path / pkg / "new.txt").write_bytes(b"new\n")
        os.mkdir(m.path / "Other")
        (m.path / "Other" / "UTIL.py").write_bytes(b"y = 2\n")
        for make in (lambda: (m.path / pkg / "UTIL.py").write_bytes(b"x = 1\n"),
                     lambda: (m.path / "CORPUS_MODELS").write_bytes(b"a file\n"),
                     lambda: os.rename(m.path / pkg / "new.txt", m.path / pkg / "Util.PY"),
                     lambda: os.mkdir(m.path / pkg / "NEW.TXT"),
                     lambda: os.rename(m.path / "Other", m.path / "Corpus_Models")):
            with pytest.raises(OSError) as info:
                make()
            assert info.value.errno == errno.EEXIST
        os.rename(m.path / pkg / "new.txt", m.path / pkg / "NEW.txt")  # itself, in other case
        os.mkdir(m.path / "Corpus_Models")  # beside corpus_models: two folders
        (m.path / "Corpus_Models" / "notes.txt").write_bytes(b"notes\n")
        assert sorted(os.listdir(m.path / pkg)) == ["NEW.txt", "__init__.py", "layers.py",
                                                     "model.py", "util.py"]
    assert m.problems == []
    assert (f"tpkgfs: Cannot create '{pkg}/UTIL.py': '{pkg}/util.py' differs from it only in "
            "case, and torch's reader, which ignores the case of names, could not tell them "
            "apart\n") in m.stderr()
    for refused in (f"create 'CORPUS_MODELS': '{pkg}' differs from it",
                    f"rename '{pkg}/Util.PY': '{pkg}/util.py' differs from it",
                    f"create directory '{pkg}/NEW.TXT': '{pkg}/new.txt' differs from it",
                    f"rename 'Corpus_Models': '{pkg}/util.py' differs from "
                    f"'Corpus_Models/UTIL.py'"):
        assert f"tpkgfs: Cannot {refused} only in case" in m.stderr(), refused
    assert records(archive)["corpus_models/NEW.txt"] == b"new\n"
    assert records(archive)["Corpus_Models/notes.txt"] == b"notes\n"
    loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "DEFAULT_HIDDEN"}])
    assert "error" not in loaded["k"], loaded


def test_generated_files_follow_edits_and_refuse_writes(tmp_path):
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt", allow=[r"is generated from the package",
                                                           r"holds files generated from"]) as m:
        externs = m.path / ".data" / "extern_modules"
        before = externs.read_bytes()
        assert b"json" not in before
        with open(m.path / INIT, "ab") as f:
            f.write(b"import json\n")
        assert externs.read_bytes() == before + b"json\n"
        assert '"corpus_models" -> "json"' in (m.path / ".data" / "deps.dot").read_text()
        for write in (lambda: externs.write_bytes(b"x\n"), lambda: os.truncate(externs, 0),
                      lambda: os.unlink(externs),
                      lambda: os.rename(m.path / ".data", m.path / "moved")):
            with pytest.raises(PermissionError):
                write()
        assert externs.read_bytes() == before + b"json\n"
    assert m.problems == []
    assert records(archive)[".data/extern_modules"] == before + b"json\n"


def test_a_rename_flag_the_journal_cannot_honour_is_refused(tmp_path):
    """RENAME_EXCHANGE and RENAME_WHITEOUT get EINVAL, never a plain rename."""
    libc = ctypes.CDLL(None, use_errno=True)
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        source, other = m.path / INIT, m.path / "corpus_models" / "util.py"
        new = m.path / "corpus_models" / "renamed.py"
        before = (source.read_bytes(), other.read_bytes())
        for target, flag in ((other, 2), (new, 4)):  # RENAME_EXCHANGE, RENAME_WHITEOUT
            rc = libc.renameat2(-100, bytes(source), -100, bytes(target), flag)  # AT_FDCWD
            # Without CAP_MKNOD the kernel refuses a whiteout before the mount sees it.
            refusals = {errno.EINVAL} if flag == 2 or os.geteuid() == 0 else {errno.EPERM}
            assert rc == -1 and ctypes.get_errno() in refusals, (flag, ctypes.get_errno())
        assert (source.read_bytes(), other.read_bytes()) == before and not new.exists()
    assert m.problems == []


def test_noop_mount_leaves_the_archive_byte_and_mtime_identical(tmp_path):
    archive = writable_copy(tmp_path)
    os.utime(archive, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = (archive.read_bytes(), os.stat(archive).st_mtime_ns, os.stat(archive).st_ino)
    with session(archive, tmp_path / "mnt") as m:
        (m.path / INIT).read_bytes()
        os.listdir(m.path / ".data")
        (m.path / ".data" / "deps.dot").read_bytes()
    assert m.problems == []
    assert (archive.read_bytes(), os.stat(archive).st_mtime_ns, os.stat(archive).st_ino) == before
    # No journal is left; the save log beside the archive records that nothing changed.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".model.pt.tpkgfs.log", "mnt", "mnt.stderr", "model.pt"]
    assert f" unchanged {archive}\n" in (tmp_path / ".model.pt.tpkgfs.log").read_text()


def test_sigkill_with_pending_edits_loses_nothing(tmp_path):
    archive = writable_copy(tmp_path)
    original = records(archive)
    with session(archive, tmp_path / "mnt") as m:
        (m.path / INIT).write_bytes(INIT_TEXT.replace(b"= 3", b"= 21"))
        (m.path / "corpus_models" / "added.py").write_bytes(b"ADDED = 1\n")
        os.rename(m.path / "corpus_models" / "util.py", m.path / "corpus_models" / "util2.py")
        os.rename(m.path / "corpus_models" / "util2.py", m.path / "corpus_models" / "util.py")
        os.mkdir(m.path / "empty_dir")
        m.proc.send_signal(signal.SIGKILL)
        m.wait()
        subprocess.run(["fusermount3", "-uz", str(m.path)], capture_output=True)
    assert m.problems == [f"tpkgfs exited with {-signal.SIGKILL}"]
    assert records(archive) == original  # nothing saved yet
    with session(archive, tmp_path / "again",
                 allow=[r"^tpkgfs: recovered \d+ edited records?"]) as m:
        assert (m.path / INIT).read_bytes() == INIT_TEXT.replace(b"= 3", b"= 21")
        assert (m.path / "corpus_models" / "added.py").read_bytes() == b"ADDED = 1\n"
        assert (m.path / "empty_dir").is_dir()
    assert m.problems == []
    assert "recovered" in m.stderr()
    saved = records(archive)
    assert saved[INIT] == INIT_TEXT.replace(b"= 3", b"= 21")
    assert saved["corpus_models/added.py"] == b"ADDED = 1\n"
    assert not list(tmp_path.glob(".*.tpkgfs"))
    loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "DEFAULT_HIDDEN"}])
    assert loaded["k"].get("value") == "21", loaded


def test_creates_and_fsynced_data_survive_a_killed_daemon_with_group_commit(tmp_path):
    """Creates share their journal syncs (group commit, tpkg/journal.h); each is still in the
    journal when it returns, so SIGKILL loses none, and fsync/fsyncdir return once committed."""
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        folder = m.path / "many"
        folder.mkdir()
        for i in range(300):
            (folder / f"f{i:03d}.txt").write_bytes(b"%d\n" % i)
        with open(folder / "synced.txt", "wb") as f:
            f.write(b"fsynced bytes\n")
            f.flush()
            os.fsync(f.fileno())
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.rename(folder / "f000.txt", folder / "renamed.txt")
            os.fsync(dir_fd)  # fsyncdir: the rename is committed
        finally:
            os.close(dir_fd)
        (folder / "f001.txt").unlink()
        m.proc.send_signal(signal.SIGKILL)
        m.wait()
        subprocess.run(["fusermount3", "-uz", str(m.path)], capture_output=True)
    assert m.problems == [f"tpkgfs exited with {-signal.SIGKILL}"]
    with session(archive, tmp_path / "again",
                 allow=[r"^tpkgfs: recovered \d+ edited records?"]) as m:
        folder = m.path / "many"
        assert (folder / "synced.txt").read_bytes() == b"fsynced bytes\n"
        assert (folder / "renamed.txt").read_bytes() == b"0\n"
        assert not (folder / "f000.txt").exists() and not (folder / "f001.txt").exists()
        assert sorted(os.listdir(folder)) == sorted(
            [f"f{i:03d}.txt" for i in range(2, 300)] + ["renamed.txt", "synced.txt"])
        assert (folder / "f299.txt").read_bytes() == b"299\n"
    assert m.problems == []
    assert records(archive)["many/synced.txt"] == b"fsynced bytes\n"


def test_a_package_that_would_not_load_is_not_saved(tmp_path):
    archive = writable_copy(tmp_path)
    before = archive.read_bytes()
    allow = [r"^tpkgfs: Cannot save .*would no longer load", r"^\s*$", r"^\s*\*|^\s+\S",
             r"the edits are kept in", r"would not export as it is"]
    with session(archive, tmp_path / "mnt", allow=allow) as m:
        os.unlink(m.path / "corpus_models" / "util.py")  # model.py imports it
    assert m.problems == ["tpkgfs exited with 1"]
    assert "corpus_models.util" in m.stderr()
    assert archive.read_bytes() == before
    assert list(tmp_path.glob(".*.tpkgfs"))  # the edit is kept


def test_an_archive_without_write_permission_mounts_read_only(tmp_path):
    archive = writable_copy(tmp_path / "ro")
    archive.chmod(0o444)
    with session(archive, tmp_path / "mnt") as m:  # the warning is expected (mounting.py)
        assert "read-only" in m.stderr()
        with pytest.raises(OSError) as info:
            (m.path / INIT).write_bytes(b"x")
        assert info.value.errno == errno.EROFS
    assert m.problems == []
    assert not list((tmp_path / "ro").glob(".*.tpkgfs"))


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 3 MiB tmpfs mounted in tmp_path (root only); always unmounted."""
    where = tmp_path / "small"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tpkg-test", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_enospc_during_write_back_keeps_the_original_and_the_edits(tmp_path, small_tmpfs):
    # A 1.6 MB package: the save needs a second copy, which does not fit in 3 MiB.
    big = writable_copy(tmp_path / "build")
    with session(big, tmp_path / "build_mnt") as m:
        (m.path / ".data" / "padding.bin").write_bytes(os.urandom(1_600_000))
    assert m.problems == []
    archive = writable_copy(small_tmpfs, source=big)
    before = archive.read_bytes()
    allow = [r"^tpkgfs: Cannot save .*No space left on device", r"the edits are kept in"]
    with session(archive, tmp_path / "mnt", allow=allow) as m:
        with open(m.path / INIT, "ab") as f:
            f.write(b"ENOSPC_EDIT = 1\n")
    assert m.problems == ["tpkgfs exited with 1"]
    assert "No space left on device" in m.stderr()
    assert archive.read_bytes() == before
    assert sorted(p.name for p in small_tmpfs.iterdir()) == [
        ".model.pt.tpkgfs", ".model.pt.tpkgfs.log", "model.pt"]
    assert "No space left on device" in (small_tmpfs / ".model.pt.tpkgfs.log").read_text()
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_tmpfs)], check=True)
    allow = [r"^tpkgfs: recovered ", r"^tpkgfs: the last save of .* failed .*No space left on device"]
    with session(archive, tmp_path / "again", allow=allow) as m:
        assert (m.path / INIT).read_bytes().endswith(b"ENOSPC_EDIT = 1\n")
    assert m.problems == []
    assert "the last save of" in m.stderr()  # the next mount says why the edits are pending
    assert records(archive)[INIT].endswith(b"ENOSPC_EDIT = 1\n")


def fill_until_enospc(path, block):
    """Writes `block`-byte pieces to `path` until the file system is full."""
    with pytest.raises(OSError) as info, open(path, "wb") as f:
        while True:
            f.write(b"\0" * block)
            f.flush()
    assert info.value.errno == errno.ENOSPC


def unmount_after_filling_the_disk(tmp_path, archive, block):
    """Mounts `archive` in the background, fills its disk through the mount, and returns what
    `tpkgfs -u` says: the failed save's outcome can only come from the save log."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run([str(TPKGFS), str(archive), str(mnt)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        fill_until_enospc(mnt / "fill.bin", block)
        return subprocess.run([str(TPKGFS), "-u", str(mnt)], capture_output=True, text=True,
                              timeout=60)
    finally:
        if mount_entry(mnt):
            subprocess.run(["fusermount3", "-uz", str(mnt)], capture_output=True)


def assert_the_saves_reason_was_reported(u):
    assert u.returncode == 1, u.stdout + u.stderr
    assert "No space left on device" in u.stderr, u.stderr
    assert "was it killed" not in u.stderr, u.stderr
    assert "the edits are kept in" in u.stderr, u.stderr


def test_a_disk_filled_through_the_mount_still_gets_the_saves_reason(tmp_path, small_tmpfs):
    # The daemon in the background, the disk filled up to the last block: the save fails, and
    # its outcome must still reach the save log (room reserved at mount), which is all that
    # `tpkgfs -u` can report. It used to say "exited without recording ... (was it killed?)".
    archive = writable_copy(small_tmpfs)
    assert_the_saves_reason_was_reported(unmount_after_filling_the_disk(tmp_path, archive, 65536))


@pytest.mark.parametrize("earlier_log", [0, 28 * 1024])
def test_a_disk_nearly_full_at_mount_still_gets_the_saves_reason(tmp_path, small_tmpfs,
                                                                  earlier_log):
    # Less free room than the log's 64 KiB when the mount starts: the room of one entry is
    # reserved instead (tmpfs reserves nothing of a range that does not fit), past what the log
    # already holds (a 28 KiB log, whole pages, and 24 KiB free: room below 28 KiB is none),
    # and the save that the disk filled through the mount makes fail is still reported, not
    # "was it killed".
    archive = writable_copy(small_tmpfs)
    if earlier_log:
        entry = f"2025-01-31T12:00:00Z tpkgfs[1] saved {archive}\n  an earlier save\n"
        entries = entry * (earlier_log // len(entry) - 1)
        last = entry[:-1] + "." * (earlier_log - len(entries) - len(entry)) + "\n"
        log = small_tmpfs / f".{archive.name}.tpkgfs.log"
        log.write_text(entries + last)
        assert log.stat().st_size == earlier_log  # whole pages: no slack an entry could use
    filler = small_tmpfs / "filler.bin"
    fill_until_enospc(filler, 65536)
    os.truncate(filler, filler.stat().st_size - (24576 if earlier_log else 40960))
    assert os.statvfs(small_tmpfs).f_bavail * os.statvfs(small_tmpfs).f_frsize < 65536
    assert_the_saves_reason_was_reported(unmount_after_filling_the_disk(tmp_path, archive, 4096))


def _writer(root, index, seconds, result):
    """Rewrites its own file with changing content and reads it back; counts mismatches."""
    path = os.path.join(root, f"worker{index}.bin")
    deadline = time.monotonic() + seconds
    rounds = bad = 0
    data = b""
    while time.monotonic() < deadline:
        data = bytes([(index * 31 + rounds) % 256]) * (4096 * (1 + rounds % 7)) + b"%d\n" % rounds
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            bad += f.read() != data
        rounds += 1
    result.put((index, rounds, bad, data))


def test_concurrent_writers_and_readers_get_every_byte(tmp_path):
    archive = writable_copy(tmp_path)
    seconds = 30 if SLOW else 10
    workers = 4
    with session(archive, tmp_path / "mnt") as m:
        result = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=_writer, args=(str(m.path), i, seconds, result))
                 for i in range(workers)]
        for p in procs:
            p.start()
        outcomes = [result.get(timeout=seconds + 60) for _ in procs]
        for p in procs:
            p.join()
        assert (m.path / INIT).read_bytes() == INIT_TEXT
    assert m.problems == []
    saved = records(archive)
    for index, rounds, bad, data in outcomes:
        assert rounds > 0 and bad == 0, (index, rounds, bad)
        assert saved[f"worker{index}.bin"] == data
