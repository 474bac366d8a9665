"""`tpkgfs` and `tpkgfs -u` run by a user who is not root, on an archive of their own (issue 11).

The test becomes the user nobody (setpriv) in a folder of theirs under /tmp. It needs root to
switch users and a /dev/fuse other users may open (libfuse opens it before fusermount3 is
asked to mount); it is skipped otherwise, with the reason.
"""
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile

import pytest

from mounting import TPKGFS, unescape_mountinfo
from writing import INIT, records, torch_check, writable_copy


def still_mounted(mnt):
    with open("/proc/self/mountinfo") as f:
        return any(unescape_mountinfo(line.split()[4]) == str(mnt) for line in f)


def journal_of(archive):
    return archive.parent / f".{archive.name}.tpkgfs"


NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def nobody_can_use_fuse():
    """Whether the user nobody may open /dev/fuse (libfuse needs it before fusermount3 helps);
    Debian's udev rule makes it 0666, some containers keep it 0600."""
    return os.geteuid() == 0 and shutil.which("setpriv") and subprocess.run(
        [*NOBODY, "sh", "-c", "exec 3<>/dev/fuse"], capture_output=True).returncode == 0


@pytest.mark.skipif(not nobody_can_use_fuse(),
                    reason="needs root to become nobody, and /dev/fuse open to other users")
def test_tpkgfs_u_works_for_a_non_root_user_with_their_own_archive():
    home = pathlib.Path(tempfile.mkdtemp(prefix="tpkgfs-nobody-", dir="/tmp"))  # not under
    try:                                                # pytest's 0700 folder: nobody walks it
        shutil.chown(home, "nobody", "nogroup")
        archive = writable_copy(home)
        mnt = home / "mnt"
        mnt.mkdir()
        for path in (archive, mnt):
            shutil.chown(path, "nobody", "nogroup")
        env = {"PATH": os.environ["PATH"], "HOME": str(home)}
        r = subprocess.run([*NOBODY, str(TPKGFS), archive, mnt], capture_output=True, text=True,
                           timeout=60, env=env)
        assert r.returncode == 0, r.stderr
        edit = subprocess.run([*NOBODY, "sh", "-c", f"printf 'X = 1\\n' >> {mnt / INIT}"],
                              capture_output=True, text=True, env=env)
        assert edit.returncode == 0, edit.stderr
        u = subprocess.run([*NOBODY, str(TPKGFS), "-u", mnt], capture_output=True, text=True,
                           timeout=120, env=env)
        assert (u.returncode, u.stderr) == (0, ""), u
        assert u.stdout.startswith(f"tpkgfs: saved {archive}: 1 record from the journal"), u.stdout
        assert not still_mounted(mnt) and not journal_of(archive).exists()
        assert archive.stat().st_uid == pwd.getpwnam("nobody").pw_uid
        assert records(archive)[INIT].endswith(b"X = 1\n")
        loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "X"}])
        assert loaded["k"].get("value") == "1", loaded
    finally:
        if still_mounted(home / "mnt"):
            subprocess.run(["fusermount3", "-uz", str(home / "mnt")], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
