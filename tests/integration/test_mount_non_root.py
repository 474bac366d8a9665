"""`tpkgfs` and `tpkgfs -u` run by a user who is not root, on an archive of their own (issue 11),
and root's `tpkgfs -u` of that user's mount after they unmounted it themselves.

The tests become the user nobody (setpriv) in a folder of theirs under /tmp. A user other than
root needs a /dev/fuse they may open (libfuse opens it before it asks fusermount3 to mount):
Debian's udev rule makes it 0666, but containers and CI machines often keep it 0600. So the
mounts run in a private mount namespace (unshare) where a node of the same device, open to
everyone, is bound over /dev/fuse, and a private tmpfs over /run holds nobody's runtime folder
(and so their mount registry) and root's registry: nothing outside changes, and whatever is
mounted inside ends with the namespace. Needs root, unshare(1) and setpriv(1); skipped
otherwise.
"""
import json
import os
import pathlib
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

from mounting import TPKGFS, private_propagation
from writing import INIT, records, torch_check, writable_copy

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
STEP_TIMEOUT = 120

# Runs as root inside the namespace: a fuse node open to everyone over /dev/fuse, nobody's
# runtime folder on a private /run, then the command.
NAMESPACE_SETUP = r"""
set -e
private=$1 major=$2 minor=$3; shift 3
mount -t tmpfs -o mode=0755 tpkgfs-test "$private"
mknod -m 0666 "$private/fuse" c "$major" "$minor"
mount --bind "$private/fuse" /dev/fuse
mount -t tmpfs -o mode=0755 tpkgfs-test /run
install -d -m 0755 /run/user
install -d -o nobody -g nogroup -m 0700 "/run/user/$(id -u nobody)"
exec "$@"
"""

# Runs the steps (JSON: [[as_nobody, argv], ...]; argv ["mounted?", path] reads mountinfo) in
# the namespace and prints [[status, stdout, stderr], ...]; lazily unmounts what is left, so
# that no daemon outlives a failed test there, where nobody else could see it.
STEPS_DRIVER = r"""
import json, subprocess, sys
nobody, steps, mnt = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": sys.argv[4]}

def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)

results = []
try:
    for as_nobody, argv in steps:
        if argv[0] == "mounted?":
            results.append([int(mounted(argv[1])), "", ""])
            continue
        r = subprocess.run((nobody if as_nobody else []) + argv, capture_output=True, text=True,
                           timeout=%d, env=env)
        results.append([r.returncode, r.stdout, r.stderr])
finally:
    if mounted(mnt):
        subprocess.run(["fusermount3", "-uz", mnt], capture_output=True)
print(json.dumps(results))
""" % STEP_TIMEOUT


def propagation():
    # /tmp and /run hold the test's mounts; /dev, where the fuse node goes.
    return private_propagation(("/tmp", "/run", "/dev"))


def can_run():
    return (os.geteuid() == 0 and shutil.which("setpriv") and shutil.which("unshare")
            and os.path.exists("/dev/fuse") and os.path.isdir("/run") and propagation())


@pytest.fixture
def home():
    """A folder of nobody's under /tmp (pytest's own folders are 0700: nobody cannot walk them),
    with a copy of the test package and a mountpoint."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="tpkgfs-nobody-", dir="/tmp"))
    try:
        shutil.chown(folder, "nobody", "nogroup")
        archive = writable_copy(folder)
        (folder / "mnt").mkdir()
        (folder / "namespace").mkdir()
        for path in (archive, folder / "mnt"):
            shutil.chown(path, "nobody", "nogroup")
        yield folder
    finally:  # whatever was mounted lived in the namespace, which has ended
        shutil.rmtree(folder, ignore_errors=True)


def run_steps(home, steps):
    """Runs `steps` (see STEPS_DRIVER) in a private mount namespace; returns their results."""
    device = os.stat("/dev/fuse").st_rdev
    command = ["unshare", "--mount", "--propagation", propagation(), "sh", "-c", NAMESPACE_SETUP, "sh",
               str(home / "namespace"), str(os.major(device)), str(os.minor(device)),
               sys.executable, "-c", STEPS_DRIVER, json.dumps(NOBODY), json.dumps(steps),
               str(home / "mnt"), str(home)]
    r = subprocess.run(command, capture_output=True, text=True,
                       timeout=STEP_TIMEOUT * (len(steps) + 1))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def journal_of(archive):
    return archive.parent / f".{archive.name}.tpkgfs"


def append_line(mnt, line):
    return ["sh", "-c", f"printf '{line}\\n' >> {mnt / INIT}"]


pytestmark = pytest.mark.skipif(not can_run(),
                                reason="needs root, setpriv(1), unshare(1) and mounts that can "
                                       "be kept in a namespace")


def test_tpkgfs_u_works_for_a_non_root_user_with_their_own_archive(home):
    archive, mnt = home / "model.pt", home / "mnt"
    mount, edit, unmount, mounted = run_steps(home, [
        [True, [str(TPKGFS), str(archive), str(mnt)]],
        [True, append_line(mnt, "X = 1")],
        [True, [str(TPKGFS), "-u", str(mnt)]],
        [False, ["mounted?", str(mnt)]],
    ])
    assert mount[0] == 0, mount
    assert edit[0] == 0, edit
    assert (unmount[0], unmount[2]) == (0, ""), unmount
    assert unmount[1].startswith(f"tpkgfs: saved {archive}: 1 record from the journal"), unmount
    assert mounted[0] == 0 and not journal_of(archive).exists()
    assert archive.stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert records(archive)[INIT].endswith(b"X = 1\n")
    loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "X"}])
    assert loaded["k"].get("value") == "1", loaded


def test_root_reports_the_save_of_a_mount_its_user_unmounted(home):
    """`fusermount3 -u m` by the user, then root's `tpkgfs -u m`: the daemon (still saving, or
    ended) is the user's, found in their registry, so root gets the save's outcome, not
    "it is not mounted"."""
    archive, mnt = home / "model.pt", home / "mnt"
    mount, edit, fusermount, report = run_steps(home, [
        [True, [str(TPKGFS), str(archive), str(mnt)]],
        [True, append_line(mnt, "Y = 2")],
        [True, ["fusermount3", "-u", str(mnt)]],
        [False, [str(TPKGFS), "-u", str(mnt)]],
    ])
    assert mount[0] == 0 and edit[0] == 0 and fusermount[0] == 0, (mount, edit, fusermount)
    assert (report[0], report[2]) == (0, ""), report
    assert report[1].startswith(f"tpkgfs: saved {archive}: 1 record from the journal"), report
    assert records(archive)[INIT].endswith(b"Y = 2\n")
