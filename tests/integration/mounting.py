"""Helpers for tests that mount archives with the tpkgfs daemon.

`Mount` runs one `tpkgfs -f ARCHIVE MNT`, waits until MNT shows up in
/proc/self/mountinfo, and on stop() always unmounts (`fusermount3 -u`, lazy
`-uz` as a fallback), waits for the daemon's exit status (kill after a
timeout) and reports an exit status other than 0 or daemon stderr that the
test did not declare with `Mount.allow_stderr()`.
"""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

import pytest

from corpus_paths import BUILD, CORPUS  # noqa: F401  CORPUS re-exported: the test corpus, never written

REPO = pathlib.Path(__file__).resolve().parents[2]
TPKGFS = BUILD / "src" / "fs" / "tpkgfs"

MOUNT_TIMEOUT = 10.0
EXIT_TIMEOUT = 10.0


def fuse_usable():
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


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


def pid_gone(pid):
    """True once `pid` has exited (a zombie too: its files, and so its FUSE connection, are
    closed). Not its command line: that empties while the process is still exiting."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"  # exited; waiting for a parent that is not us


def kill_daemon(pid):
    """SIGKILLs a daemon and returns once it has exited, so that what runs next meets a dead
    daemon, not one still closing its files."""
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: pid_gone(pid), 30), f"daemon {pid} did not exit after SIGKILL"


def unmount(path):
    """fusermount3 -u, falling back to a lazy unmount; True when something was unmounted."""
    if mount_entry(path) is None:
        return False
    r = subprocess.run(["fusermount3", "-u", str(path)], capture_output=True)
    if r.returncode != 0:
        subprocess.run(["fusermount3", "-uz", str(path)], capture_output=True)
    return True


def read_only_expected(archive, options):
    """Whether the daemon will serve `archive` read-only with a warning: the
    archive or its folder has no write bit (see private_copy), or -o nostrict."""
    archive = pathlib.Path(archive)
    no_write_bit = any(p.exists() and not p.stat().st_mode & 0o222
                       for p in (archive, archive.parent))
    return no_write_bit or any("nostrict" in o for o in options)


def private_copy(archive, directory, read_only=False):
    """A copy of `archive` (from the corpus) in `directory`, for a daemon started without
    -o ro: the corpus is never served read/write, so no test can save into it. With
    `read_only`, the copy has no write bit, which tpkgfs serves read-only with a warning."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / pathlib.Path(archive).name
    shutil.copyfile(archive, copy)
    copy.chmod(0o444 if read_only else 0o644)
    return copy


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
        if read_only_expected(self.archive, self.options):
            self.allow_stderr(r"^tpkgfs: mounting .* read-only: ")

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


def private_propagation(paths):
    """unshare's --propagation for a namespace whose mounts under `paths` never reach anyone
    else: `private` when the root is a mount of this namespace; in a chroot (a Debian 13 root),
    whose root is not, unshare cannot change it, and `unchanged` is as safe when the mounts
    holding `paths` share nothing (scripts/debian13.sh runs in a namespace of its own, as a
    slave); None when one of them shares with others and nothing would keep the mounts in."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            optional = fields[6:fields.index("-")]
            mounts.append((fields[4], any(o.startswith("shared:") for o in optional)))
    if any(point == "/" for point, _ in mounts):
        return "private"
    for path in paths:
        holder = max((m for m in mounts if path == m[0] or path.startswith(m[0].rstrip("/") + "/")),
                     key=lambda m: len(m[0]), default=None)
        if holder is not None and holder[1]:
            return None
    return "unchanged"
