"""SIGTERM, SIGINT or SIGHUP while files are open for writing in a read/write mount: the daemon
detaches the mount, keeps serving those files until they are closed (within -o close_wait),
then saves what they wrote, also through a shared mapping (src/fs/graceful_stop.h)."""
import contextlib
import errno
import mmap
import os
import pathlib
import re
import signal
import subprocess
import time
import zipfile

import pytest

from mounting import CORPUS, TPKGFS, mount_entry, private_copy, wait_until

MODEL = CORPUS / "pkg_model_numpy.pt"  # only read: daemons get copies
PREFIX = "pkg_model_numpy/"
UTIL = "corpus_models/util.py"
INIT = "corpus_models/__init__.py"


def saved(archive, path):
    with zipfile.ZipFile(archive) as z:
        return z.read(PREFIX + path)


def waiting_line(m, sig="SIGTERM"):
    return re.search(rf"^tpkgfs: {sig}: \d+ files? (is|are) still open for writing in "
                     rf"{re.escape(str(m.path))} \(.*\); the mount is detached, .*$", m.stderr(),
                     re.M)


@contextlib.contextmanager
def held_for_writing(m, mode="ab"):
    """UTIL open in the mount (for writing unless `mode` says otherwise), with BEFORE written
    and flushed when writing; closed at the end, whatever the connection's state."""
    f = open(m.path / UTIL, mode)
    try:
        if mode != "rb":
            f.write(b"\nBEFORE = 1\n")
            f.flush()
        yield f
    finally:
        try:
            f.close()
        except OSError:  # the connection is gone
            pass


@contextlib.contextmanager
def init_written_through_a_mapping(m):
    """INIT's first two bytes made "#!" through a shared mapping, dirty in the page cache only
    (the file itself is closed, the mapping kept until the end)."""
    with open(m.path / INIT, "r+b") as mapped_file:
        mapping = mmap.mmap(mapped_file.fileno(), 0)
    try:
        mapping[0:2] = b"#!"
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):  # the connection is gone
            mapping.close()


def cut_off(m, lead):
    """The line that names UTIL as still open when the save runs."""
    return (f"tpkgfs: {lead} with 1 file still open for writing in {m.path} ({UTIL}): what "
            f"reached the mount is saved; their later writes fail\n")


@pytest.fixture
def archive(tmp_path):
    return private_copy(MODEL, tmp_path / "archive")


def test_writes_after_the_signal_and_through_a_mapping_are_saved(mount_factory, archive):
    m = mount_factory(archive, "-o", "close_wait=60")
    m.allow_stderr(r"^tpkgfs: (SIGTERM: |saved |every file open for writing in .* was closed: "
                   r"saving$)")
    original_init = saved(archive, INIT)
    with open(m.path / UTIL, "ab") as f, open(m.path / INIT, "r+b") as mapped_file:
        f.write(b"\nBEFORE = 1\n")
        f.flush()
        mapping = mmap.mmap(mapped_file.fileno(), 0)
        mapping[0:1] = b"#"  # dirty in the page cache only: not synced, not written
        m.proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: waiting_line(m), 20), m.stderr()
        line = waiting_line(m).group(0)
        assert line == (f"tpkgfs: SIGTERM: 2 files are still open for writing in {m.path} "
                        f"({INIT}, {UTIL}); the mount is detached, and tpkgfs saves once they "
                        f"are closed, or after 60 s (-o close_wait=SECONDS; another signal saves "
                        f"at once)"), line
        assert mount_entry(m.path) is None  # detached: no new path reaches it
        assert m.proc.poll() is None  # still serving the open files
        f.write(b"AFTER = 2\n")
        mapping[1:2] = b"!"
        mapping.close()  # munmap: the kernel writes the mapping's pages back now
    assert m.wait() == 0, m.stderr()
    assert saved(archive, UTIL).endswith(b"\nBEFORE = 1\nAFTER = 2\n")
    assert saved(archive, INIT) == b"#!" + original_init[2:]


def test_the_wait_is_bounded_and_names_what_stayed_open(mount_factory, archive):
    m = mount_factory(archive, "-o", "close_wait=1")
    m.allow_stderr(r"^tpkgfs: (SIGTERM: |saving after |saved )")
    with held_for_writing(m) as f:
        m.proc.send_signal(signal.SIGTERM)
        assert m.wait(timeout=30) == 0, m.stderr()
        assert cut_off(m, "saving after 1 s") in m.stderr()
        assert saved(archive, UTIL).endswith(b"\nBEFORE = 1\n")
        with pytest.raises(OSError) as late:
            f.write(b"LATE = 1\n")
            f.flush()
        assert late.value.errno == errno.ENOTCONN


def test_pages_a_mapping_still_holds_when_the_wait_runs_out_are_saved(mount_factory, archive):
    """A process that keeps a shared mapping past -o close_wait: its pages, dirty in the kernel's
    cache and never synced, are written back to the daemon before the save, not dropped with
    the connection."""
    m = mount_factory(archive, "-o", "close_wait=1")
    m.allow_stderr(r"^tpkgfs: (SIGTERM: |saving after |saved )")
    original_init = saved(archive, INIT)
    with init_written_through_a_mapping(m):
        m.proc.send_signal(signal.SIGTERM)
        assert m.wait(timeout=30) == 0, m.stderr()
        assert cut_off(m, "saving after 1 s").replace(UTIL, INIT) in m.stderr()
    assert saved(archive, INIT) == b"#!" + original_init[2:]


def test_pages_a_mapping_holds_are_saved_when_a_second_signal_ends_the_wait(mount_factory,
                                                                             archive):
    """The second signal saves at once, but first has the mapping's dirty pages written back,
    as the end of -o close_wait does: they never reached the mount, and would go with it."""
    m = mount_factory(archive, "-o", "close_wait=600")
    m.allow_stderr(r"^tpkgfs: (SIGTERM: |SIGTERM again: |saved )")
    keep_pages_dirty_until_synced(m.path)
    original_init = saved(archive, INIT)
    with init_written_through_a_mapping(m):
        m.proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: waiting_line(m), 20), m.stderr()
        time.sleep(0.2)  # past the 100 ms in which the same signal is the same event
        m.proc.send_signal(signal.SIGTERM)
        assert m.wait(timeout=30) == 0, m.stderr()
        assert cut_off(m, "SIGTERM again: saving now").replace(UTIL, INIT) in m.stderr()
    assert saved(archive, INIT) == b"#!" + original_init[2:]


def helper_waits_on_the_mount(pid):
    """Whether a thread of the daemon waits for an answer of its own mount (the cut-off's
    fsync, served by the loop)."""
    for wchan in pathlib.Path(f"/proc/{pid}/task").glob("*/wchan"):
        with contextlib.suppress(OSError):
            if wchan.read_text() == "request_wait_answer":
                return True
    return False


def keep_pages_dirty_until_synced(mountpoint):
    """Lifts the strict writeback limit the kernel gives a FUSE mount's device (its own pages
    only; the device goes with the mount). Under that limit the flusher writes the mount's
    dirty pages back early whenever other devices write much (a CI machine installing
    packages), and the cut-off's fsync is then over before it can be seen."""
    dev = os.stat(mountpoint).st_dev
    with contextlib.suppress(OSError):  # an older kernel (before 6.2) has no such file
        pathlib.Path(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/strict_limit").write_text(
            "0")


def test_a_second_signal_during_the_cut_offs_fsync_still_saves(mount_factory, tmp_path):
    """The cut-off fsyncs the files still open through the mount, which the loop answers: a
    second signal then must not end the loop under it (the daemon would wait for ever). The
    fsync is a window of some 100 ms; a round that misses it (the daemon saved first) proves
    nothing and is run again, on a new mount."""
    size = 256 << 20  # enough dirty pages for the fsync to take a while
    for attempt in range(3):
        archive = private_copy(MODEL, tmp_path / f"archive{attempt}")
        m = mount_factory(archive, "-s", "-o", "close_wait=1")
        m.allow_stderr(r"^tpkgfs: (SIGTERM: |saving after |SIGHUP again: |saved )")
        keep_pages_dirty_until_synced(m.path)
        with open(m.path / "big.bin", "wb") as f:
            f.truncate(size)
        with open(m.path / "big.bin", "r+b") as mapped_file:
            mapping = mmap.mmap(mapped_file.fileno(), 0)
        try:
            for offset in range(0, size, mmap.PAGESIZE):
                mapping[offset] = 1
            m.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            while not helper_waits_on_the_mount(m.proc.pid) and m.proc.poll() is None:
                assert time.monotonic() < deadline, m.stderr()
                time.sleep(0.001)  # a short window: polled closely
            caught = m.proc.poll() is None
            if caught:
                m.proc.send_signal(signal.SIGHUP)
            assert m.wait(timeout=60) == 0, m.stderr()
            with zipfile.ZipFile(archive) as z, z.open(PREFIX + "big.bin") as saved_file:
                assert z.getinfo(PREFIX + "big.bin").file_size == size
                first_pages = saved_file.read(mmap.PAGESIZE + 1)
                assert first_pages == b"\1" + bytes(mmap.PAGESIZE - 1) + b"\1", m.stderr()
        finally:
            with contextlib.suppress(OSError, ValueError):
                mapping.close()
        if caught:
            return
    pytest.fail("the cut-off's fsync ended before it was seen, 3 times")


def test_another_signal_ends_the_wait_at_once(mount_factory, archive):
    m = mount_factory(archive, "-o", "close_wait=600")
    m.allow_stderr(r"^tpkgfs: (SIGTERM: |SIGTERM again: |saved )")
    with held_for_writing(m):
        # Twice at once is one event sent twice (a closing terminal's SIGHUP comes from the
        # kernel and from the shell): it begins the wait.
        m.proc.send_signal(signal.SIGTERM)
        m.proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: waiting_line(m), 20), m.stderr()
        time.sleep(0.3)
        assert m.proc.poll() is None
        m.proc.send_signal(signal.SIGTERM)  # a second request
        assert m.wait(timeout=30) == 0, m.stderr()
        assert cut_off(m, "SIGTERM again: saving now") in m.stderr()
        assert saved(archive, UTIL).endswith(b"\nBEFORE = 1\n")


def test_two_signals_at_once_still_say_what_stayed_open(mount_factory, archive):
    """Ctrl-C then kill, faster than the daemon can begin its wait: the save runs at once, and
    a line still names the file whose later writes fail."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        pytest.skip("SIGINT is ignored by the test run itself (the daemon inherits that)")
    m = mount_factory(archive, "-o", "close_wait=600")
    m.allow_stderr(r"^tpkgfs: (SIGTERM: |SIGINT: |SIGINT again: |SIGTERM again: |saved )")
    with held_for_writing(m):
        m.proc.send_signal(signal.SIGTERM)
        m.proc.send_signal(signal.SIGINT)
        assert m.wait(timeout=30) == 0, m.stderr()
        # Both pending at once, the kernel delivers the lower number first: SIGINT.
        assert (cut_off(m, "SIGINT again: saving now") in m.stderr()
                or cut_off(m, "SIGTERM again: saving now") in m.stderr()), m.stderr()
        assert saved(archive, UTIL).endswith(b"\nBEFORE = 1\n")


@pytest.mark.parametrize("options", [(), ("-o", "close_wait=0")], ids=["reading", "close_wait=0"])
def test_files_open_only_for_reading_and_close_wait_0_do_not_delay_the_save(
        mount_factory, archive, options):
    m = mount_factory(archive, *options)
    m.allow_stderr(r"^tpkgfs: saved ")
    writing = bool(options)
    with held_for_writing(m, "ab" if writing else "rb"):
        m.proc.send_signal(signal.SIGTERM)
        assert m.wait(timeout=30) == 0, m.stderr()
    assert "open for writing" not in m.stderr()
    if writing:
        assert saved(archive, UTIL).endswith(b"\nBEFORE = 1\n")


@pytest.mark.parametrize("value", ["x", "-1", "1.5", "86401", ""])
def test_a_bad_close_wait_is_a_usage_error(tmp_path, archive, value):
    (tmp_path / "mnt").mkdir()
    r = subprocess.run([str(TPKGFS), "-f", "-o", f"close_wait={value}", str(archive),
                        str(tmp_path / "mnt")], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert f"bad -o close_wait='{value}': give whole seconds from 0 to 86400" in r.stderr
    assert mount_entry(tmp_path / "mnt") is None
