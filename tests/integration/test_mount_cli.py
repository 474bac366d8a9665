"""The daemon's command line, refusals, mount helpers and ways to stop it."""
import errno
import os
import pathlib
import shutil
import signal
import sys
import subprocess
import time
import zipfile

import pytest

from mounting import (CORPUS, REPO, TPKGFS, mount_entry, pid_gone, private_copy,
                      private_propagation, unmount, wait_until)
from ziputil import data_offset

MODEL = CORPUS / "pkg_model_numpy.pt"  # only read: daemons get copies (`good`, private_copy)
# Run first in every namespace these tests unshare: the copies of other people's FUSE mounts
# would keep those alive after their owners unmount them.
DETACH_FUSE_COPIES = REPO / "scripts" / "detach_fuse_copies.sh"


def run_tpkgfs(*args, timeout=20, **kwargs):
    return subprocess.run([str(TPKGFS), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def daemon_pids(mountpoint):
    """Live tpkgfs processes serving `mountpoint` (for daemons we did not start directly)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"tpkgfs") and str(mountpoint).encode() in argv:
            pids.append(int(entry))
    return pids


@pytest.fixture
def good(tmp_path):
    """A copy of MODEL without write bits: these tests expect the read-only mount of a
    read-only archive, and a daemon must never be given the corpus itself."""
    return private_copy(MODEL, tmp_path / "archive", read_only=True)


@pytest.fixture(autouse=True)
def nothing_left_mounted(tmp_path):
    yield
    leftovers = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point.startswith(str(tmp_path)):
                leftovers.append(point)
                subprocess.run(["fusermount3", "-uz", point], capture_output=True)
    assert not leftovers, f"mounts left behind: {leftovers}"


# --- archives that must be refused at mount time ---------------------------

def truncated(tmp):
    path = tmp / "truncated.pt"
    path.write_bytes(MODEL.read_bytes()[:-100])
    return path


def bad_central_directory(tmp):
    data = bytearray(MODEL.read_bytes())
    at = data.rfind(b"PK\x01\x02")
    data[at:at + 4] = b"XXXX"
    path = tmp / "bad_cd.pt"
    path.write_bytes(bytes(data))
    return path


def not_a_zip(tmp):
    path = tmp / "not_a_zip.pt"
    path.write_bytes(b"\x80\x02\x8a\x0a" + b"legacy torch.save stream, not a zip" * 10)
    return path


def legacy_torch_save(tmp):
    # What torch.save(..., _use_new_zipfile_serialization=False) starts with:
    # PROTO 2, then torch's magic number as a LONG1.
    path = tmp / "legacy.pt"
    path.write_bytes(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19." + b"\0" * 600)
    return path


def fifo(tmp):
    path = tmp / "fifo.pt"
    os.mkfifo(path)
    return path


def empty_file(tmp):
    path = tmp / "empty.pt"
    path.write_bytes(b"")
    return path


def no_prefix(tmp):
    return private_copy(CORPUS / "bad_no_prefix.zip", tmp)


@pytest.mark.parametrize("make", [truncated, bad_central_directory, not_a_zip, empty_file,
                                  no_prefix, legacy_torch_save, fifo])
def test_hostile_archives_are_refused_with_their_reason(tmp_path, make):
    archive = make(tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_tpkgfs("-f", archive, mnt)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"tpkgfs: cannot mount {archive}: "), lines[0]
    assert len(lines[0]) > len(f"tpkgfs: cannot mount {archive}: ") + 5  # a reason follows
    assert mount_entry(mnt) is None
    named = {legacy_torch_save: "a legacy torch.save file (PyTorch < 1.6), not a ZIP archive",
             fifo: "is a FIFO, not an archive"}
    if make in named:
        assert named[make] in lines[0]


def test_the_refusal_names_the_prefix_rule_and_offers_nostrict(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_tpkgfs("-f", private_copy(CORPUS / "bad_no_prefix.zip", tmp_path), mnt)
    assert "prefix" in r.stderr and "-o nostrict" in r.stderr


def test_nostrict_mounts_what_the_lenient_reader_accepts(mount_factory, tmp_path):
    m = mount_factory(private_copy(CORPUS / "bad_no_prefix.zip", tmp_path), "-o", "nostrict")
    assert os.listdir(m.path)


# --- corrupt data is never served as good ----------------------------------

def flip_byte(src, dst, record, delta=0):
    data = bytearray(src.read_bytes())
    data[data_offset(src, record) + delta] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("archive,record", [
    (CORPUS / "pkg_minimal_text_only.pt", "pkg_minimal_text_only/notes/readme.txt"),
    (CORPUS / "pkg_deflated_by_zip_tool.pt", "pkg_model_numpy/corpus_models/model.py"),
])
def test_a_crc_mismatch_reads_as_eio_and_is_logged(tmp_path, mount_factory, archive, record):
    bad = flip_byte(archive, tmp_path / archive.name, record, delta=5)
    m = mount_factory(bad)
    m.allow_stderr(r"^tpkgfs: Cannot read '" + record + "': ")
    m.allow_stderr(r"cannot regenerate the package metadata: .*" + record)
    rel = record.split("/", 1)[1]
    with pytest.raises(OSError) as info:
        (m.path / rel).read_bytes()
    assert info.value.errno == errno.EIO
    with zipfile.ZipFile(archive) as zf:  # the other records are fine
        for name in zf.namelist():
            if name != record and not name.endswith("/"):
                assert (m.path / name.split("/", 1)[1]).read_bytes() == zf.read(name)
    if record.endswith(".py"):  # the analysis cannot read it either
        with pytest.raises(OSError) as info:
            (m.path / ".data" / "deps.dot").read_bytes()
        assert info.value.errno == errno.EIO
        with zipfile.ZipFile(archive) as zf:  # the archive's own list is still served
            own = zf.read(record.split("/", 1)[0] + "/.data/extern_modules")
        assert (m.path / ".data" / "extern_modules").read_bytes() == own
    m.stop()
    assert "Cannot read '" + record + "'" in m.stderr()


# --- command line errors ---------------------------------------------------

def test_usage_errors_exit_2_with_one_line(tmp_path, good):
    for args in ([], [good], [good, tmp_path, "extra"], ["--bogus", good, tmp_path],
                 ["--version", "extra"], ["-V", good, tmp_path]):
        r = run_tpkgfs(*args)
        assert r.returncode == 2, args
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("tpkgfs: "), r.stderr


def test_help_and_version(tmp_path):
    r = run_tpkgfs("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: tpkgfs [options] ARCHIVE MOUNTPOINT")
    r = run_tpkgfs("-V")
    assert r.returncode == 0 and r.stdout.startswith("tpkgfs ") and "libfuse 3." in r.stdout


def test_path_errors_exit_1_with_one_clear_line(tmp_path, good):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        ((tmp_path / "missing.pt", mnt), "cannot open archive '{0}': No such file or directory"),
        ((tmp_path, mnt), "cannot open archive '{0}': it is a directory"),
        ((good, tmp_path / "nope"), "mountpoint '{1}' does not exist"),
        ((good, a_file), "mountpoint '{1}' is not a directory"),
    ]
    for args, message in cases:
        r = run_tpkgfs("-f", *args)
        assert r.returncode == 1, args
        assert r.stderr == "tpkgfs: " + message.format(*args) + "\n"
        assert mount_entry(mnt) is None


def test_unknown_fuse_option_is_refused_before_mounting(tmp_path, good):
    writable = private_copy(MODEL, tmp_path / "writable")
    mnt = tmp_path / "mnt"  # outside the archives' folders: the writable one mounts read/write
    mnt.mkdir()
    for archive in (good, writable):
        r = run_tpkgfs("-f", "-o", "no_such_option", archive, mnt)
        assert r.returncode != 0
        # One line, with libfuse's reason in it (after the read-only note of `good`).
        assert r.stderr.splitlines()[-1] == ("tpkgfs: cannot start a FUSE session: unknown "
                                             "option(s): `-o no_such_option'"), r.stderr
        assert "fuse:" not in r.stderr
        assert mount_entry(mnt) is None
        # A start that fails leaves nothing beside the archive (no save log, no journal).
        assert os.listdir(archive.parent) == [archive.name]
    # An option libfuse takes and the kernel refuses: one line as well, naming the mountpoint.
    r = run_tpkgfs("-f", "-o", "fsname=", writable, mnt)
    assert r.returncode == 1
    assert r.stderr == (f"tpkgfs: cannot mount on '{mnt}': mount failed: Invalid argument "
                        "(a -o option the kernel refused?)\n"), r.stderr
    assert mount_entry(mnt) is None


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_missing_dev_fuse_is_reported(tmp_path, good):
    # A private mount namespace whose /dev is an empty tmpfs: no /dev/fuse.
    script = (f"bash {DETACH_FUSE_COPIES} && mount -t tmpfs none /dev && "
              f"exec {TPKGFS} -f {good} {tmp_path}")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                       timeout=20)
    if "tpkgfs" not in r.stderr:
        pytest.skip(f"cannot make a mount namespace here: {r.stderr.strip()}")
    assert r.returncode == 1
    assert r.stderr == ("tpkgfs: FUSE is not available: cannot open /dev/fuse: "
                        "No such file or directory\n")


# --- how the daemon starts and stops ---------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_end_the_daemon_cleanly(mount_factory, sig, good):
    if signal.getsignal(sig) == signal.SIG_IGN:
        # Inherited by the daemon, which keeps it as libfuse does (e.g. under nohup).
        pytest.skip(f"{sig.name} is ignored by the test run itself")
    m = mount_factory(good)
    m.proc.send_signal(sig)
    assert m.wait() == 0
    assert mount_entry(m.path) is None


@pytest.mark.parametrize("command", [["fusermount3", "-u"], ["umount"]])
def test_unmount_commands_end_the_daemon_cleanly(mount_factory, command, good):
    m = mount_factory(good)
    subprocess.run([*command, str(m.path)], check=True)
    assert m.wait() == 0
    assert mount_entry(m.path) is None


def abort_connection(path):
    """What an administrator does to a FUSE file system whose daemon hangs: writes to
    /sys/fs/fuse/connections/N/abort (fusectl mounted in a namespace of its own)."""
    minor = os.minor(os.stat(path).st_dev)
    propagation = private_propagation(("/sys",))
    if propagation is None:
        pytest.skip("/sys shares its mounts with others here: fusectl would be mounted there too")
    script = (f"bash {DETACH_FUSE_COPIES} && mount -t fusectl fusectl /sys/fs/fuse/connections && "
              f"echo 1 > /sys/fs/fuse/connections/{minor}/abort")
    r = subprocess.run(["unshare", "--mount", "--propagation", propagation, "--", "sh", "-c",
                        script], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        pytest.skip(f"cannot abort a FUSE connection here: {r.stderr.strip()}")
    return minor


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root (fusectl) and unshare(1)")
@pytest.mark.parametrize("writable", [True, False], ids=["read-write", "read-only"])
def test_an_aborted_connection_is_detached_and_its_edits_saved(mount_factory, tmp_path, writable):
    """The kernel leaves an aborted connection's mount in place, dead (ENOTCONN), and libfuse
    does not unmount it (it left it so): the daemon detaches it, says so, and saves what it had
    accepted, as after an unmount."""
    archive = private_copy(MODEL, tmp_path / "archive")
    m = mount_factory(archive, *([] if writable else ["-o", "ro"]))
    m.allow_stderr(r"saved |the FUSE connection of .* was aborted")
    edited = m.path / "corpus_models" / "util.py"
    if writable:
        with open(edited, "ab") as f:
            f.write(b"\nABORTED = 1\n")
    minor = abort_connection(m.path)
    assert m.wait() == 0
    assert mount_entry(m.path) is None
    assert (f"tpkgfs: the FUSE connection of {m.path} was aborted "
            f"(/sys/fs/fuse/connections/{minor}/abort); its dead mount is detached\n") in m.stderr()
    with zipfile.ZipFile(archive) as z:
        saved = z.read("pkg_model_numpy/corpus_models/util.py")
    assert saved.endswith(b"\nABORTED = 1\n") == writable


class NamespaceCopy:
    """A mount namespace made as scripts/debian13.sh makes one (unshare --propagation slave),
    so holding copies of this namespace's mounts, alive until the `with` block ends; with
    `detach` it first runs scripts/detach_fuse_copies.sh, as debian13.sh does."""

    def __init__(self, detach):
        prefix = f"bash {DETACH_FUSE_COPIES} && " if detach else ""
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "slave", "--", "bash", "-c",
             prefix + "echo ready && exec sleep 60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def __enter__(self):
        if self.proc.stdout.readline() != "ready\n":
            self.__exit__()
            pytest.skip(f"cannot make a mount namespace here: {self.proc.stderr.read().strip()}")
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def mount_is_shared(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) and "shared:" in line for line in f)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_a_copy_in_another_mount_namespace_keeps_the_daemon_until_it_goes(mount_factory, good):
    # Why a daemon could outlive `fusermount3 -u` (the kernel's rule, not ours): a private
    # copy of the mount keeps the file system, so the daemon serves it until the copy goes.
    m = mount_factory(good)
    if mount_is_shared(m.path):
        pytest.skip("shared mounts propagate the unmount to the copy")
    with NamespaceCopy(detach=False):
        subprocess.run(["fusermount3", "-u", str(m.path)], check=True)
        assert mount_entry(m.path) is None
        time.sleep(1)
        assert m.proc.poll() is None  # still serving the copy
    assert m.wait() == 0  # the namespace has ended: so has the daemon


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_tpkgfs_u_says_which_namespace_keeps_the_daemon(mount_factory, good, tmp_path):
    m = mount_factory(good)
    if mount_is_shared(m.path):
        pytest.skip("shared mounts propagate the unmount to the copy")
    said = tmp_path / "unmount.stderr"
    with NamespaceCopy(detach=False) as copy, open(said, "w") as err:
        u = subprocess.Popen([str(TPKGFS), "-u", str(m.path)], stdout=subprocess.PIPE,
                             stderr=err, text=True)
        try:
            assert wait_until(lambda: "still holds a copy" in said.read_text(), 10), \
                said.read_text()
        finally:
            copy.__exit__()  # ends the copy: the daemon, and so `tpkgfs -u`, end too
            out, _ = u.communicate(timeout=20)
    assert said.read_text() == (
        f"tpkgfs: {m.path} is unmounted here, but the mount namespace of pid {copy.proc.pid} "
        f"(sleep) still holds a copy of it: its daemon (pid {m.proc.pid}) serves that copy "
        "and exits (saving) only when the copy goes; waiting for it\n")
    assert u.returncode == 0 and "read-only: nothing to save" in out
    assert m.wait() == 0


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_a_mount_waiting_for_a_kept_daemon_says_why(mount_factory, tmp_path):
    archive = private_copy(MODEL, tmp_path / "rw")
    m = mount_factory(archive)
    m.allow_stderr(r"no changes")
    if mount_is_shared(m.path):
        pytest.skip("shared mounts propagate the unmount to the copy")
    second_mnt, said = tmp_path / "second", tmp_path / "second.stderr"
    second_mnt.mkdir()
    second = None
    try:
        with NamespaceCopy(detach=False) as copy, open(said, "w") as err:
            subprocess.run(["fusermount3", "-u", str(m.path)], check=True)
            second = subprocess.Popen([str(TPKGFS), "-f", str(archive), str(second_mnt)],
                                      stdout=subprocess.DEVNULL, stderr=err)
            assert wait_until(lambda: "has not begun" in said.read_text(), 10), said.read_text()
        assert said.read_text() == (
            f"tpkgfs: waiting for the save of {archive} (pid {m.proc.pid}) to finish\n"
            f"tpkgfs: pid {m.proc.pid} has not begun that save: it still serves {m.path} in the "
            f"mount namespace of pid {copy.proc.pid} (sleep), and saves when that copy goes\n")
        assert m.wait() == 0  # the copy is gone: the first daemon saved and exited ...
        assert wait_until(lambda: mount_entry(second_mnt), 10)  # ... and the second mounted
    finally:
        stop_waiting_mount(second, second_mnt)
    assert second.returncode == 0


def stop_waiting_mount(proc, mnt):
    """Ends a second `tpkgfs -f` that waited for another daemon's save, and its mount."""
    if proc:
        unmount(mnt)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if mount_entry(mnt):
        subprocess.run(["fusermount3", "-uz", str(mnt)])


class HeldOpen:
    """A `sleep` that holds `path` open (as its stdin) until the block ends: after a lazy
    unmount it keeps the detached file system, and so its daemon's save, waiting."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.proc = subprocess.Popen(["sleep", "600"], stdin=f)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def edited_and_held_then_detached(mount_factory, tmp_path):
    """A read/write mount with one edit, a `sleep` holding that file open, and the mount
    detached by `fusermount3 -uz`: its daemon serves on, unsaved, until the file is closed."""
    archive = private_copy(MODEL, tmp_path / "rw")
    m = mount_factory(archive)
    m.allow_stderr(r"saved ")
    edited = m.path / "corpus_models" / "util.py"
    with open(edited, "ab") as f:
        f.write(b"\nHELD = 1\n")
    held = HeldOpen(edited)
    subprocess.run(["fusermount3", "-uz", str(m.path)], check=True)
    assert mount_entry(m.path) is None
    return archive, m, held


HOLD_MANY = """
import os, sys, time
fds = [os.open(sys.argv[1], os.O_RDONLY) for _ in range(int(sys.argv[2]))]
print("held", flush=True)
time.sleep(600)
"""


def test_the_last_close_in_a_detached_mount_ends_the_daemon_cleanly(mount_factory, tmp_path):
    """When the last of many files open in a detached mount is closed, the kernel tears the
    connection down while the files' RELEASE requests are still being read: one read of
    /dev/fuse can then fail with ECONNABORTED (a race in fs/fuse/dev.c, with no abort). libfuse
    printed "fuse: reading device: Software caused connection abort" and the daemon exited 1
    after a good save, in about two rounds of three here. Five rounds, each must end cleanly."""
    for round_ in range(5):
        archive = private_copy(MODEL, tmp_path / f"rw{round_}")
        m = mount_factory(archive, name=f"mnt{round_}")
        m.allow_stderr(r"^tpkgfs: saved ")
        edited = m.path / "corpus_models" / "util.py"
        with open(edited, "ab") as f:
            f.write(b"\nHELD = 1\n")
        holder = subprocess.Popen([sys.executable, "-c", HOLD_MANY, str(edited), "200"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline() == "held\n"
            subprocess.run(["fusermount3", "-uz", str(m.path)], check=True)
        finally:
            holder.kill()
            holder.wait()
        assert m.wait() == 0, m.stderr()
        assert m.unexpected_stderr() == [], round_
        with zipfile.ZipFile(archive) as z:
            assert z.read("pkg_model_numpy/corpus_models/util.py").endswith(b"\nHELD = 1\n")


def test_tpkgfs_u_after_a_lazy_unmount_names_who_keeps_files_open(mount_factory, tmp_path):
    archive, m, held = edited_and_held_then_detached(mount_factory, tmp_path)
    said = tmp_path / "unmount.stderr"
    with held, open(said, "w") as err:
        u = subprocess.Popen([str(TPKGFS), "-u", str(m.path)], stdout=subprocess.PIPE,
                             stderr=err, text=True)
        try:
            assert wait_until(lambda: "was detached" in said.read_text(), 10), said.read_text()
            time.sleep(0.5)
            assert u.poll() is None and m.proc.poll() is None  # both wait: nothing saved yet
        except BaseException:
            u.kill()
            u.wait()
            raise
    # The file is closed: the kernel ends the session, the daemon saves, `tpkgfs -u` reports.
    out, _ = u.communicate(timeout=20)
    assert said.read_text() == (
        f"tpkgfs: {m.path} was detached (lazy unmount) but files in it are still open, by pid "
        f"{held.proc.pid} (sleep): its daemon (pid {m.proc.pid}) ends (saving any edits) when "
        "they are closed; waiting for it\n")
    assert u.returncode == 0 and out.startswith(f"tpkgfs: saved {archive}: "), out
    assert m.wait() == 0
    with zipfile.ZipFile(archive) as z:
        assert any(n.endswith("corpus_models/util.py") and z.read(n).endswith(b"HELD = 1\n")
                   for n in z.namelist())


def test_tpkgfs_u_holding_a_file_through_an_inherited_descriptor_says_so(mount_factory,
                                                                         tmp_path):
    # `exec 3<file; fusermount3 -uz m; tpkgfs -u m`: tpkgfs -u is one of the holders itself.
    archive, m, held = edited_and_held_then_detached(mount_factory, tmp_path)
    said = tmp_path / "unmount.stderr"
    with held, open(said, "w") as err:
        fd = os.open(f"/proc/{held.proc.pid}/fd/0", os.O_RDONLY)  # the detached file, again
        try:
            u = subprocess.Popen([str(TPKGFS), "-u", str(m.path)], stdout=subprocess.PIPE,
                                 stderr=err, text=True, pass_fds=(fd,))
        finally:
            os.close(fd)
        try:
            # The whole line (what follows has no other end to wait for).
            assert wait_until(lambda: said.read_text().endswith("waiting for it\n"), 10), \
                said.read_text()
        finally:
            u.kill()  # it would wait for itself
            u.wait()
    assert said.read_text() == (
        f"tpkgfs: {m.path} was detached (lazy unmount) but this tpkgfs -u (pid {u.pid}) holds a "
        f"file in it through a descriptor it inherited, and so do pid {held.proc.pid} (sleep): "
        "close it in the shell that started tpkgfs -u; waiting for it\n")
    assert m.wait() == 0  # every file closed: the daemon saved and exited


def test_a_mount_waiting_for_a_detached_busy_mount_says_who_holds_it(mount_factory, tmp_path):
    archive, m, held = edited_and_held_then_detached(mount_factory, tmp_path)
    second_mnt, said = tmp_path / "second", tmp_path / "second.stderr"
    second_mnt.mkdir()
    second = None
    try:
        with held, open(said, "w") as err:
            second = subprocess.Popen([str(TPKGFS), "-f", str(archive), str(second_mnt)],
                                      stdout=subprocess.DEVNULL, stderr=err)
            assert wait_until(lambda: "has not begun" in said.read_text(), 10), said.read_text()
            assert second.poll() is None and not mount_entry(second_mnt)
        assert said.read_text() == (
            f"tpkgfs: waiting for the save of {archive} (pid {m.proc.pid}) to finish\n"
            f"tpkgfs: pid {m.proc.pid} has not begun that save: {m.path} was detached (lazy "
            f"unmount) but files in it are still open, by pid {held.proc.pid} (sleep); the save "
            "starts when they are closed\n")
        assert m.wait() == 0  # the file is closed: the first daemon saved and exited ...
        assert wait_until(lambda: mount_entry(second_mnt), 10)  # ... and the second mounted
        assert (second_mnt / "corpus_models" / "util.py").read_bytes().endswith(b"HELD = 1\n")
    finally:
        stop_waiting_mount(second, second_mnt)
    assert second.returncode == 0


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_detach_fuse_copies_lets_the_daemon_end_at_unmount(mount_factory, good):
    # scripts/debian13.sh's namespace must not keep other people's mounts alive.
    m = mount_factory(good)
    with NamespaceCopy(detach=True):
        subprocess.run(["fusermount3", "-u", str(m.path)], check=True)
        assert m.wait() == 0  # killed after EXIT_TIMEOUT otherwise: never a hang
    assert mount_entry(m.path) is None


def test_background_mode_returns_once_the_mount_works(tmp_path, good):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_tpkgfs(good, mnt)
    try:
        assert r.returncode == 0, r.stderr
        assert mount_entry(mnt) == "fuse.tpkgfs"  # already there when the parent exits
        assert (mnt / ".data" / "version").read_text() == "6\n"
        pids = daemon_pids(mnt)
        assert len(pids) == 1
    finally:
        unmount(mnt)
    assert wait_until(lambda: pid_gone(pids[0]), 10)


def test_background_mode_failure_exits_non_zero_without_a_daemon(tmp_path):
    r = run_tpkgfs(private_copy(CORPUS / "bad_no_prefix.zip", tmp_path / "archive"), tmp_path)
    assert r.returncode == 1 and "cannot mount" in r.stderr
    assert daemon_pids(tmp_path) == []


# mount(8) runs helpers with a fixed PATH (/usr/local/sbin:/usr/local/bin:...),
# where scripts/setup.sh installs tpkgfs. These tests put the freshly built
# binary there inside a private mount namespace (a tmpfs over /usr/local/bin,
# nothing outside the namespace changes), then mount exactly as a user would.
IN_NAMESPACE = """
set -e
bash {detach}
mount -t tmpfs tpkgfs-test /usr/local/bin
touch /usr/local/bin/tpkgfs
mount --bind {tpkgfs} /usr/local/bin/tpkgfs
{mount_command}
grep -q ' {mnt} fuse.tpkgfs ' /proc/self/mounts
cat {mnt}/.data/version
grep ' {mnt} ' /proc/self/mounts
umount {mnt}
"""


def mount_in_namespace(mnt, mount_command):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    script = IN_NAMESPACE.format(detach=DETACH_FUSE_COPIES, tpkgfs=TPKGFS,
                                  mount_command=mount_command, mnt=mnt)
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                       timeout=30)
    if "tpkgfs-test" in r.stderr or "unshare" in r.stderr:
        pytest.skip(f"cannot make a mount namespace here: {r.stderr.strip()}")
    return r


def test_mount_dash_t_fuse_tpkgfs(tmp_path, good):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = mount_in_namespace(mnt, f"mount -t fuse.tpkgfs {good} {mnt}")
    assert r.returncode == 0, r.stderr
    version, mount_line = r.stdout.splitlines()
    assert version == "6"
    assert mount_line.split()[:3] == [str(good), str(mnt), "fuse.tpkgfs"]
    assert "ro" in mount_line.split()[3].split(",")
    assert wait_until(lambda: not daemon_pids(mnt), 10)  # umount ended the daemon


def test_fstab_line_mounts_with_its_options(tmp_path, good):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text(f"{good} {mnt} fuse.tpkgfs noauto,nosuid,nodev,allow_other 0 0\n")
    r = mount_in_namespace(mnt, f"mount -T {fstab} {mnt}")
    assert r.returncode == 0, r.stderr
    options = r.stdout.splitlines()[1].split()[3].split(",")
    assert {"ro", "nosuid", "nodev", "allow_other"} <= set(options)
    assert wait_until(lambda: not daemon_pids(mnt), 10)


def test_mount_fuse3_helper_with_tpkgfs_on_path(tmp_path, good):
    """What `mount -t fuse.tpkgfs` runs once tpkgfs is on PATH, without a namespace."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = dict(os.environ, PATH=f"{TPKGFS.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    r = subprocess.run(["mount.fuse3", str(good), str(mnt), "-t", "tpkgfs", "-o", "rw,dev,suid"],
                       capture_output=True, text=True, env=env, timeout=20)
    try:
        assert r.returncode == 0, r.stderr
        assert mount_entry(mnt) == "fuse.tpkgfs"
        assert (mnt / "corpus_models" / "__init__.py").exists()
        pids = daemon_pids(mnt)
        assert len(pids) == 1
    finally:
        unmount(mnt)
    assert wait_until(lambda: pid_gone(pids[0]), 10)


def test_debug_flag_logs_requests_to_stderr(mount_factory, good):
    m = mount_factory(good, "-d")
    m.allow_stderr(".")
    os.stat(m.path / ".data" / "version")
    m.stop()
    assert "LOOKUP" in m.stderr()


def test_fsname_and_subtype_identify_the_archive(mount_factory, good):
    m = mount_factory(good)
    line = next(line.split() for line in open("/proc/self/mounts")
                if line.split()[1] == str(m.path))
    assert line[0] == str(good) and line[2] == "fuse.tpkgfs"
    assert "ro" in line[3].split(",")


def test_rw_from_mount_helpers_still_gives_a_read_only_mount(mount_factory, good):
    m = mount_factory(good, "-o", "rw,nosuid,nodev")
    with pytest.raises(OSError) as info:
        open(m.path / "x", "w")
    assert info.value.errno == errno.EROFS
