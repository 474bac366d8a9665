"""Real-mount fixtures for the tpkgfs integration tests.

`mounted` (indirectly parametrized with an archive path) starts
`tpkgfs -f ARCHIVE MNT`, waits until MNT shows up in /proc/self/mountinfo,
yields a `Mount`, then always unmounts (`fusermount3 -u`, lazy `-uz` as a
fallback), waits for the daemon's exit status (kill after a timeout) and
fails the test if the daemon exited non-zero or wrote anything to stderr
that the test did not declare with `Mount.allow_stderr()`.

Every test here is skipped when /dev/fuse cannot be opened or the daemon
has not been built.
"""
import contextlib
import os
import pathlib
import re
import signal
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("TPKG_BUILD_DIR", REPO / "build"))
TPKGFS = BUILD / "src" / "fs" / "tpkgfs"
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()

MOUNT_TIMEOUT = 10.0
EXIT_TIMEOUT = 10.0


def _fuse_usable():
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


def pytest_collection_modifyitems(config, items):
    reason = None
    if not _fuse_usable():
        reason = "/dev/fuse cannot be opened"
    elif not TPKGFS.exists():
        reason = f"{TPKGFS} is not built"
    if reason:
        here = pathlib.Path(__file__).parent
        for item in items:
            if pathlib.Path(str(item.fspath)).parent == here:
                item.add_marker(pytest.mark.skip(reason=reason))


def unescape_mountinfo(field):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_entry(path):
    """The fstype of the mount at `path`, or None when nothing is mounted there."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if unescape_mountinfo(fields[4]) == path:
                sep = fields.index("-")
                return fields[sep + 1]
    return None


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def unmount(path):
    """fusermount3 -u, falling back to a lazy unmount; True when something was unmounted."""
    if mount_entry(path) is None:
        return False
    r = subprocess.run(["fusermount3", "-u", str(path)], capture_output=True)
    if r.returncode != 0:
        subprocess.run(["fusermount3", "-uz", str(path)], capture_output=True)
    return True


class Mount:
    """One `tpkgfs -f` daemon serving `archive` at `path`."""

    def __init__(self, archive, path, options=(), stderr_path=None):
        self.archive = pathlib.Path(archive)
        self.path = pathlib.Path(path)
        self.options = list(options)
        self.stderr_path = pathlib.Path(stderr_path or f"{path}.stderr")
        self.proc = None
        self.returncode = None
        self._allowed = []

    def start(self):
        self.path.mkdir(parents=True, exist_ok=True)
        self._stderr = open(self.stderr_path, "w+b")
        cmd = [str(TPKGFS), "-f", *self.options, str(self.archive), str(self.path)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._stderr)
        ok = wait_until(lambda: self.proc.poll() is not None or mount_entry(self.path),
                        MOUNT_TIMEOUT)
        if self.proc.poll() is not None or not ok:
            self.stop()
            pytest.fail(f"tpkgfs did not mount {self.archive.name}: {self.stderr()!r}")
        assert mount_entry(self.path) == "fuse.tpkgfs"
        return self

    def allow_stderr(self, pattern):
        """Declares that daemon stderr lines matching `pattern` are expected."""
        self._allowed.append(re.compile(pattern))

    def stderr(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def unexpected_stderr(self):
        return [line for line in self.stderr().splitlines()
                if line and not any(p.search(line) for p in self._allowed)]

    def wait(self, timeout=EXIT_TIMEOUT):
        """Waits for the daemon; kills it after `timeout`. Returns its exit status."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.returncode = "killed after timeout"
        self._stderr.close()
        return self.returncode

    def stop(self):
        """Unmounts (always), waits, and returns a list of problems."""
        if self.proc is None:
            return []
        if self.returncode is None:
            unmount(self.path)
            self.wait()
        problems = []
        if mount_entry(self.path) is not None:
            problems.append(f"{self.path} still mounted")
            subprocess.run(["fusermount3", "-uz", str(self.path)], capture_output=True)
        if self.returncode != 0:
            problems.append(f"tpkgfs exited with {self.returncode}")
        problems += [f"unexpected stderr: {line}" for line in self.unexpected_stderr()]
        return problems


@pytest.fixture(scope="session")
def tpkgfs_bin():
    return str(TPKGFS)


@pytest.fixture(scope="session")
def corpus():
    if not CORPUS.is_dir():
        pytest.skip("the shared corpus is not beside the repository")
    return CORPUS


@pytest.fixture
def mount_factory(tmp_path):
    """mount_factory(archive, *options, name=None) -> a started Mount; all are stopped at teardown."""
    mounts = []

    def start(archive, *options, name=None):
        m = Mount(archive, tmp_path / (name or f"mnt{len(mounts)}"), options)
        mounts.append(m)
        return m.start()

    yield start
    problems = []
    for m in reversed(mounts):
        problems += m.stop()
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def mounted(request, mount_factory):
    """The archive given by indirect parametrization, mounted at tmp_path/<stem>_dir."""
    archive = pathlib.Path(request.param)
    return mount_factory(archive, name=f"{archive.name.split('.')[0]}_dir")


@contextlib.contextmanager
def started_daemon(cmd, mountpoint):
    """Runs an arbitrary tpkgfs command line; always unmounts and reaps it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        unmount(mountpoint)
        try:
            proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            unmount(mountpoint)
