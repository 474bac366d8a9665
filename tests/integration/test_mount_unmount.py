"""`tpkgfs -u`, the save log, remounts during a save and one daemon per archive file.

Every test mounts in the background, as a user does (`tpkgfs ARCHIVE MNT`), on a copy of a
corpus archive in tmp_path; the `background` fixture unmounts whatever is left and waits for
every daemon it started, even when a test fails.
"""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

# `tpkg check` is a format check and says that safety is `tpkg scan`'s job.
CHECK_OK_NOTE = " (format; whether it is safe to load is tpkg scan's job)"

from mounting import (BUILD, CORPUS, TPKGFS, kill_daemon, mount_entry, unescape_mountinfo,
                      wait_until)
from writing import INIT, INIT_TEXT, records, torch_check, torch_serialization_id, writable_copy

TPKG = BUILD / "src" / "tools" / "tpkg"
MODEL_PY = "corpus_models/model.py"
BROKEN_IMPORT = b"\nfrom .layers import\n"  # a syntax error: the package would no longer load


def run(*args, timeout=120, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def daemon_pids(mountpoint):
    """Live tpkgfs daemons started for `mountpoint` (found by their command line)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = pathlib.Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if (argv and argv[0].endswith(b"tpkgfs") and str(mountpoint).encode() in argv
                and b"-u" not in argv and state != "Z"):
            pids.append(int(entry))
    return pids


def still_mounted(mnt):
    """Whether `mnt` (a canonical path) is a mount point, read from mountinfo only: unlike
    mount_entry(), nothing touches the mount, whose daemon a test may have stopped."""
    with open("/proc/self/mountinfo") as f:
        return any(unescape_mountinfo(line.split()[4]) == str(mnt) for line in f)


def log_of(archive):
    return archive.parent / f".{archive.name}.tpkgfs.log"


def journal_of(archive):
    return archive.parent / f".{archive.name}.tpkgfs"


class Background:
    """Starts background mounts; at teardown unmounts them and waits for their daemons."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.mountpoints = []
        self.stopped = []  # pids stopped with SIGSTOP by a test

    def mount(self, archive, name="mnt", *options, where=None):
        mnt = (where or self.tmp_path) / name
        mnt.mkdir(exist_ok=True)
        self.mountpoints.append(mnt)
        # SIGINT at its default, as in a user's interactive shell: a test run started in the
        # background of a script (CI's lanes) inherits it ignored, and the daemon keeps an
        # ignored SIGINT as libfuse does (unit test fs_signal_waker_test).
        return mnt, run("env", "--default-signal=INT", TPKGFS, *options, archive, mnt, timeout=60)

    def cleanup(self):
        for pid in self.stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        problems = []
        for mnt in self.mountpoints:
            pids = daemon_pids(mnt)
            if mount_entry(mnt) is not None:
                problems.append(f"{mnt} left mounted")
                subprocess.run(["fusermount3", "-uz", str(mnt)], capture_output=True)
            for pid in pids:
                if not wait_until(lambda: not daemon_pids(mnt), 60):
                    problems.append(f"daemon {pid} of {mnt} did not exit")
                    os.kill(pid, signal.SIGKILL)
        return problems


@pytest.fixture
def background(tmp_path):
    b = Background(tmp_path)
    try:
        yield b
    finally:
        problems = b.cleanup()
    assert not problems, problems


def mount_and_append(background, archive, data, *name):
    """Mounts `archive` in the background (on `name`, when given) and appends `data` to
    MODEL_PY through the mount."""
    mnt, r = background.mount(archive, *name)
    assert r.returncode == 0, r.stderr
    with open(mnt / MODEL_PY, "ab") as f:
        f.write(data)
    return mnt


def test_a_journal_deleted_while_mounted_is_named_and_never_advised(tmp_path, background):
    """Another program's `rm -rf` of the journal takes the edits' data with it: the failed
    save says so, and sends nobody to the folder that is gone."""
    archive = writable_copy(tmp_path / "a")
    before = archive.read_bytes()
    mnt = mount_and_append(background, archive, b"\nEDITED = 1\n")
    shutil.rmtree(journal_of(archive))
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 1, u
    assert (f"the edits are lost: their journal {journal_of(archive)} was deleted while the "
            f"archive was mounted") in u.stderr
    assert "the edits are kept" not in u.stderr
    assert archive.read_bytes() == before
    assert mount_entry(mnt) is None and daemon_pids(mnt) == []


def test_a_failed_save_is_reported_by_tpkgfs_u_the_log_the_next_mount_and_tpkg(tmp_path,
                                                                             background):
    archive = writable_copy(tmp_path / "a")
    before = archive.read_bytes()
    mnt = mount_and_append(background, archive, BROKEN_IMPORT)
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 1, u
    assert u.stdout == ""
    assert f"tpkgfs: Cannot save {archive}: the package would no longer load" in u.stderr
    assert "corpus_models.model" in u.stderr and "invalid syntax" in u.stderr
    assert f"the edits are kept in {journal_of(archive)}: mount {archive} again" in u.stderr
    assert mount_entry(mnt) is None and daemon_pids(mnt) == []
    assert archive.read_bytes() == before
    log = log_of(archive).read_text()
    assert re.search(r"^\S+Z tpkgfs\[\d+\] failed " + re.escape(str(archive)) + "$", log, re.M)
    assert "invalid syntax" in log

    # The next mount, and the tpkg commands on the archive, say that the last save failed.
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    assert f"tpkgfs: the last save of {archive} failed (" in r.stderr
    assert "invalid syntax" in r.stderr
    for command, status in ((["check"], 1), (["ls"], 0), (["cat", ".data/version"], 0)):
        t = run(TPKG, command[0], archive, *command[1:])
        assert t.returncode == status, (command, t)
        warnings = t.stderr.splitlines()
        assert len(warnings) == 1 and warnings[0].startswith(
            f"tpkg: warning: the last save of {archive} failed ("), (command, t.stderr)
        assert "invalid syntax" in warnings[0]
    check = run(TPKG, "check", archive)
    assert "ok" not in check.stdout and "invalid syntax" in check.stdout
    info = json.loads(run(TPKG, "info", "--json", archive).stdout)
    assert "invalid syntax" in info["last_save_failed"]
    assert info["pending_edits"] == str(journal_of(archive))

    # Fixed through the mount: the save goes through and the warnings stop.
    text = (mnt / MODEL_PY).read_bytes()
    assert text.endswith(BROKEN_IMPORT)
    (mnt / MODEL_PY).write_bytes(text[:-len(BROKEN_IMPORT)] + b"\nFIXED = 1\n")
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0, u
    assert u.stdout.startswith(f"tpkgfs: saved {archive}: ")
    check = run(TPKG, "check", archive)
    assert (check.returncode, check.stdout, check.stderr) == (0, f"{archive}: ok{CHECK_OK_NOTE}\n", "")
    loaded = torch_check([{"name": "fixed", "archive": str(archive), "attr": "FIXED",
                           "module": "corpus_models.model"}])
    assert loaded["fixed"].get("value") == "1", loaded


def test_a_failure_whose_edits_were_discarded_is_not_reported_against_new_edits(tmp_path,
                                                                               background):
    archive = writable_copy(tmp_path / "a")
    mnt = mount_and_append(background, archive, BROKEN_IMPORT)
    assert run(TPKGFS, "-u", mnt).returncode == 1
    discard = run(TPKG, "edits", "--discard", archive)
    assert discard.returncode == 0, discard
    time.sleep(1.1)  # the log's times are whole seconds: the next journal is made a second later

    # A harmless edit makes a new journal: the failure of the discarded edits is not its own.
    mnt, r = background.mount(archive)
    assert r.returncode == 0 and "last save" not in r.stderr, r.stderr
    with open(mnt / MODEL_PY, "ab") as f:
        f.write(b"\nHARMLESS = 1\n")
    check = run(TPKG, "check", archive)
    assert (check.returncode, check.stderr) == (0, ""), check
    info = json.loads(run(TPKG, "info", "--json", archive).stdout)
    assert info["last_save_failed"] is None and info["pending_edits"] == str(journal_of(archive))

    # Killed before it saves: the next mount recovers the new edits, without the old failure.
    [pid] = daemon_pids(mnt)
    kill_daemon(pid)
    assert run("fusermount3", "-u", mnt).returncode == 0
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    assert "last save" not in r.stderr and "recovered 1 edited record" in r.stderr, r.stderr
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0 and u.stdout.startswith(f"tpkgfs: saved {archive}: "), u


def test_tpkg_edits_during_a_mount_says_how_to_find_the_mount(tmp_path, background):
    archive = writable_copy(tmp_path / "a")
    mnt = mount_and_append(background, archive, b"\nBUSY = 1\n")
    [pid] = daemon_pids(mnt)
    edits = run(TPKG, "edits", archive)
    assert edits.returncode == 1 and edits.stderr.count("\n") == 1, edits
    assert (f"is in use by tpkgfs (pid {pid}), which serves or saves a mount of it: unmount that "
            f"(`findmnt --source {archive}` shows where)") in edits.stderr
    where = run("findmnt", "--noheadings", "--output", "TARGET", "--source", archive)
    assert where.stdout.split() == [str(mnt)], where
    assert run(TPKGFS, "-u", mnt).returncode == 0


def test_tpkgfs_u_names_the_journal_of_a_daemon_killed_before_it_saved(tmp_path, background):
    archive = writable_copy(tmp_path / "a")
    mnt = mount_and_append(background, archive, b"\nKILLED = 1\n")
    [pid] = daemon_pids(mnt)
    kill_daemon(pid)
    assert run("fusermount3", "-u", mnt).returncode == 0  # the dead mount goes, nothing saved
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 1, u
    assert (f"tpkgfs: the daemon of {mnt} (pid {pid}) exited without recording the outcome of "
            f"its save (was it killed?); any edits are kept in {journal_of(archive)}") in u.stderr
    edits = run(TPKG, "edits", archive)
    assert edits.returncode == 0 and f"written  {MODEL_PY}" in edits.stdout, edits

    # Killed again, and its edits discarded before tpkgfs -u: nothing is kept, nothing claimed.
    mnt = mount_and_append(background, archive, b"\nKILLED_AGAIN = 1\n")
    [pid] = daemon_pids(mnt)
    kill_daemon(pid)
    assert run("fusermount3", "-u", mnt).returncode == 0
    assert run(TPKG, "edits", "--discard", archive).returncode == 0
    u = run(TPKGFS, "-u", mnt)
    assert (u.returncode, u.stderr) == (1, f"tpkgfs: cannot unmount '{mnt}': it is not mounted\n")


def test_a_save_failed_after_fusermount3_is_logged_and_named_at_the_next_mount(tmp_path,
                                                                             background):
    archive = writable_copy(tmp_path / "a")
    mnt = mount_and_append(background, archive, BROKEN_IMPORT)
    subprocess.run(["fusermount3", "-u", str(mnt)], check=True)  # exits 0, says nothing
    assert wait_until(lambda: not daemon_pids(mnt), 30)
    log = log_of(archive).read_text()
    assert f" failed {archive}\n" in log and "invalid syntax" in log
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    assert "invalid syntax" in r.stderr and "recovered 1 edited record" in r.stderr
    assert (mnt / MODEL_PY).read_bytes().endswith(BROKEN_IMPORT)  # the edit was kept
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 1 and "invalid syntax" in u.stderr


def test_tpkgfs_u_after_a_save_that_has_ended_already_reports_its_outcome(tmp_path, background):
    # `fusermount3 -u m; tpkgfs -u m` (or SIGTERM) in a script: the daemon may be gone before
    # `tpkgfs -u` looks; it still says how the save went, with its exit status.
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    with open(mnt / INIT, "ab") as f:
        f.write(b"\nSAVED = 1\n")
    subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    assert wait_until(lambda: not daemon_pids(mnt), 30)
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0, u
    assert u.stdout.startswith(f"tpkgfs: saved {archive}: 1 record from the journal"), u.stdout
    assert records(archive)[INIT].endswith(b"\nSAVED = 1\n")

    mnt, r = background.mount(archive, "mnt2")
    assert r.returncode == 0, r.stderr
    with open(mnt / MODEL_PY, "ab") as f:
        f.write(BROKEN_IMPORT)
    daemon, = daemon_pids(mnt)
    os.kill(daemon, signal.SIGTERM)
    assert wait_until(lambda: not daemon_pids(mnt), 30)
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 1, u
    assert f"tpkgfs: Cannot save {archive}: the package would no longer load" in u.stderr
    assert "invalid syntax" in u.stderr

    # Another folder never mounted: still "not mounted".
    (tmp_path / "plain").mkdir()
    u = run(TPKGFS, "-u", tmp_path / "plain")
    assert u.returncode == 1 and u.stderr.endswith("it is not mounted\n"), u


def test_an_archive_replaced_while_mounted_gets_advice_that_works(tmp_path, background):
    """`mv other.pt a.pt` under a mount: the save refuses and leaves the new file alone; the old
    archive, which only the daemon's open file still held, is written beside it. Since mounting
    a.pt again would be read-only (its journal belongs to the old archive), the advice is to put
    that copy back, which then does take the edits."""
    archive = writable_copy(tmp_path / "a")
    before = archive.read_bytes()
    mnt = mount_and_append(background, archive, b"\nKEPT = 1\n")
    other = writable_copy(tmp_path / "other", source=CORPUS / "pkg_mocked.pt")
    replacement = other.read_bytes()
    other.rename(archive)
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 1, u
    assert "replaced by another file" in u.stderr
    journal = journal_of(archive)
    kept = pathlib.Path(f"{archive}.tpkgfs-original")
    assert kept.read_bytes() == before
    assert (f"'{archive}' was deleted while it was mounted; the archive as it was is now at "
            f"{kept}") in u.stderr.splitlines()
    assert u.stderr.splitlines()[-2] == (
        f"tpkgfs: the edits are kept in {journal}, but {archive} is now another archive, which "
        f"a mount shows read-only while they are there; to keep them, move {archive} aside and "
        f"put {kept} (the archive they were made for, written there when the save failed) back "
        f"at {archive}, then mount {archive} again (the next unmount saves them); or delete "
        f"{journal} to discard them and use {archive} as it is")
    assert "again to fix them" not in u.stderr
    assert archive.read_bytes() == replacement and journal.is_dir()
    assert "to keep them, move" in log_of(archive).read_text()

    # Mounting the path as it is: read-only, as the advice says.
    mnt, r = background.mount(archive, "mnt2")
    assert r.returncode == 0 and "holds edits of a different archive" in r.stderr, r.stderr
    assert run(TPKGFS, "-u", mnt).returncode == 0

    # Following the advice: the old archive back, mounted again, the edits saved.
    archive.rename(tmp_path / "aside.pt")
    kept.rename(archive)
    mnt, r = background.mount(archive, "mnt3")
    assert r.returncode == 0 and "recovered 1 edited record" in r.stderr, r.stderr
    assert (mnt / MODEL_PY).read_bytes().endswith(b"\nKEPT = 1\n")
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0 and u.stdout.startswith(f"tpkgfs: saved {archive}: "), u
    assert not journal.exists()


def test_an_archive_deleted_or_touched_while_mounted_is_saved_with_the_edits(tmp_path, background):
    """`rm a.pt` under a mount: the daemon's open file is the last copy of the package, so the
    save puts it back with the edits and says so, in `tpkgfs -u` and in the save log. A `touch`
    or a copy of the same bytes over it is no change (the remount rule): the save goes on."""
    archive = writable_copy(tmp_path / "a")
    mnt = mount_and_append(background, archive, b"\nKEPT = 1\n")
    u = run(TPKGFS, "-u", archive)  # the archive given for its mountpoint: pointed at it
    assert u.returncode == 1 and u.stderr == (
        f"tpkgfs: cannot unmount '{archive}': it is the archive mounted on {mnt} "
        f"(tpkgfs -u {mnt})\n"), u
    archive.unlink()
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0, u
    warning = (f"{archive}' was deleted while it was mounted: the save put the package, with "
               "the edits, back at its path (delete it to discard them)")
    assert u.stdout.startswith(f"tpkgfs: saved {archive}: ") and warning in u.stdout, u.stdout
    assert warning in log_of(archive).read_text()
    assert records(archive)[MODEL_PY].endswith(b"\nKEPT = 1\n")
    assert not journal_of(archive).exists()

    for name, change in (("touched", lambda: os.utime(archive)),
                         ("copied over", lambda: shutil.copyfile(archive, tmp_path / "copy.pt")
                          or (tmp_path / "copy.pt").rename(archive))):
        mnt = mount_and_append(background, archive, f"\n# {name}\n".encode(), f"mnt_{name[0]}")
        change()
        u = run(TPKGFS, "-u", mnt)
        assert u.returncode == 0 and "changed by another program" not in u.stderr, (name, u)
        assert records(archive)[MODEL_PY].endswith(f"\n# {name}\n".encode()), name

    # Deleted, and the save refused (an edit that breaks the package): the archive as it was
    # is written back at its path, so that mounting it again takes the edits to fix them.
    before = archive.read_bytes()
    mnt = mount_and_append(background, archive, BROKEN_IMPORT, "mnt_broken")
    archive.unlink()
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 1, u
    assert (f"'{archive}' was deleted while it was mounted; the archive as it was is now at "
            f"{archive}") in u.stderr.splitlines(), u.stderr
    assert archive.read_bytes() == before
    mnt, r = background.mount(archive, "mnt_fixed")
    assert r.returncode == 0 and "recovered 1 edited record" in r.stderr, r.stderr
    assert (mnt / MODEL_PY).read_bytes().endswith(BROKEN_IMPORT)
    assert run(TPKGFS, "-u", mnt).returncode == 1  # still refused, and kept


def test_tpkgfs_u_prints_each_note_of_a_save_as_a_line_of_its_own(tmp_path, background):
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    with open(mnt / INIT, "ab") as f:
        f.write(b"\nimport colorsys\nimport sched\nimport keyword\n")
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0, u.stderr
    lines = u.stdout.splitlines()
    assert lines[0].startswith(f"tpkgfs: saved {archive}: "), u.stdout
    for module in ("colorsys", "sched", "keyword"):
        assert f"tpkgfs: {archive}: {module} is now extern (imported by edited {INIT})" in lines, \
            u.stdout


def test_tpkgfs_u_of_a_busy_mount_names_the_processes_that_use_it(tmp_path, background):
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    in_folder = subprocess.Popen(["sleep", "600"], cwd=mnt / "corpus_models")
    holder = open(mnt / MODEL_PY, "rb")
    try:
        u = run(TPKGFS, "-u", mnt)
        assert u.returncode == 1, u
        users = sorted([(os.getpid(), pathlib.Path("/proc/self/comm").read_text().strip()),
                        (in_folder.pid, "sleep")])
        assert u.stderr == (f"tpkgfs: cannot unmount '{mnt}': it is busy: "
                            + ", ".join(f"pid {pid} ({name})" for pid, name in users)
                            + " use it (a file open, the working folder or a file mapped "
                            "there)\n"), u.stderr
        assert mount_entry(mnt) is not None  # still mounted and served
        assert (mnt / MODEL_PY).read_bytes() == holder.read()
    finally:
        in_folder.kill()
        in_folder.wait()
        holder.close()
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0, u
    assert mount_entry(mnt) is None and daemon_pids(mnt) == []


def test_a_new_extern_module_is_named_in_the_save_log_of_a_background_save(tmp_path,
                                                                          background):
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    with open(mnt / INIT, "ab") as f:
        f.write(b"\nimport colorsys\n")  # stdlib: extern as torch's exporter would make it
    subprocess.run(["fusermount3", "-u", str(mnt)], check=True)  # no terminal, no tpkgfs -u
    assert wait_until(lambda: not daemon_pids(mnt), 30)
    log = log_of(archive).read_text()
    assert f" saved {archive}\n" in log, log
    assert f"  {archive}: colorsys is now extern (imported by edited {INIT})\n" in log, log
    loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "DEFAULT_HIDDEN"}])
    assert "colorsys" in loaded["k"]["externs"], loaded


def pending_edits_of_a_killed_daemon(tmp_path, background, edit):
    """A copy whose daemon was killed (SIGKILL) after `edit(mnt)`: the edits stay pending."""
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    edit(mnt)
    (pid,) = daemon_pids(mnt)
    kill_daemon(pid)
    subprocess.run(["fusermount3", "-uz", str(mnt)], capture_output=True)
    return archive


def test_a_mount_whose_daemon_was_killed_is_refused_then_unmounted_with_advice(tmp_path,
                                                                                background):
    """A killed daemon leaves its mount answering "not connected": a new mount there is refused
    with what to do, and `tpkgfs -u` unmounts it and says where the edits are."""
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    (mnt / INIT).write_bytes(INIT_TEXT.replace(b"= 3", b"= 24"))
    (pid,) = daemon_pids(mnt)
    kill_daemon(pid)
    other = writable_copy(tmp_path / "b")
    r = run(TPKGFS, other, mnt)
    assert r.returncode == 1
    # The kernel may still answer a stat of the mountpoint from its cache (the mount table
    # names the dead mount) or no longer (the connection is gone): either way, what to do.
    assert r.stderr in (
        f"tpkgfs: mountpoint '{mnt}' is already a tpkgfs mount (of '{archive}'): unmount it "
        f"first (tpkgfs -u {mnt})\n",
        f"tpkgfs: cannot use mountpoint '{mnt}': a file system whose daemon is gone is still "
        f"mounted there (Transport endpoint is not connected): unmount it first "
        f"(tpkgfs -u {mnt})\n"), r.stderr
    r = run(TPKGFS, "-u", mnt)
    assert r.returncode == 1
    journal = archive.parent / f".{archive.name}.tpkgfs"
    assert (f"could not be found to wait for its save (killed?): if it is gone, nothing was "
            f"saved and any edits are kept in {journal} (mount {archive} again to recover "
            "them)") in r.stderr, r.stderr
    assert mount_entry(mnt) is None
    listed = run(TPKG, "edits", archive)
    assert f"written  {INIT}" in listed.stdout, listed.stdout


def test_tpkg_edits_save_to_writes_the_edited_package_elsewhere_and_keeps_the_edits(
        tmp_path, background):
    def edit(mnt):
        (mnt / INIT).write_bytes(INIT_TEXT.replace(b"= 3", b"= 23") + b"import colorsys\n")
    archive = pending_edits_of_a_killed_daemon(tmp_path, background, edit)
    before = archive.read_bytes()
    out = tmp_path / "elsewhere.pt"
    r = run(TPKG, "edits", "--save-to", out, archive)
    assert r.returncode == 0, r.stderr
    # Regenerated: `.data/extern_modules` (colorsys), and for an archive of torch 2.x (the
    # corpus is made by the stack's torch) its `.data/serialization_id`.
    regenerated = 1 + (".data/serialization_id" in records(archive))
    assert r.stdout.startswith(f"saved the edits of {archive} to {out}: 1 record from the "
                               f"journal, {regenerated} regenerated, "), r.stdout
    assert r.stdout.splitlines()[0].endswith(f"; {archive} and its pending edits are unchanged")
    assert f"{archive}: colorsys is now extern (imported by edited {INIT})" in r.stdout
    assert archive.read_bytes() == before
    listed = run(TPKG, "edits", archive)
    assert listed.returncode == 0 and f"written  {INIT}" in listed.stdout, listed.stdout
    loaded = torch_check([{"name": "out", "archive": str(out), "attr": "DEFAULT_HIDDEN"}])
    assert loaded["out"].get("value") == "23", loaded
    if regenerated == 2:
        ids = torch_serialization_id(out, tmp_path / "by_torch")
        assert ids["ours"] == ids["torch"], ids
    again = run(TPKG, "edits", "--save-to", out, archive)  # never overwrites
    assert again.returncode == 1 and "exists (never overwritten)" in again.stderr, again.stderr
    journal = journal_of(archive)
    for inside in (journal / "copy.pt", journal / "data" / "copy.pt"):  # the next open removes it
        r = run(TPKG, "edits", "--save-to", inside, archive)
        assert r.returncode == 1 and f"is inside the journal {journal}" in r.stderr, r.stderr
        assert not inside.exists()


def test_tpkg_edits_save_to_runs_the_checks_of_a_save(tmp_path, background):
    def edit(mnt):
        with open(mnt / MODEL_PY, "ab") as f:
            f.write(BROKEN_IMPORT)
    archive = pending_edits_of_a_killed_daemon(tmp_path, background, edit)
    out = tmp_path / "elsewhere.pt"
    r = run(TPKG, "edits", "--save-to", out, archive)
    assert r.returncode == 1, r.stderr
    # names the file it would write (it named the archive, which it leaves alone)
    assert r.stderr.startswith(f"tpkg: Cannot save the edits of {archive} to {out}: the package "
                               "would no longer load:"), r.stderr
    assert "invalid syntax" in r.stderr
    assert not out.exists() and not list(tmp_path.glob("elsewhere.pt.tpkg-*"))


def stopped_daemon(background, mnt):
    """Stops (SIGSTOP) the one daemon serving `mnt`; the fixture continues it at teardown."""
    pids = daemon_pids(mnt)
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGSTOP)
    background.stopped.append(pids[0])
    return pids[0]


def test_tpkgfs_u_returns_only_once_the_archive_is_saved_and_torch_loads_it(tmp_path,
                                                                          background):
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    (mnt / INIT).write_bytes(INIT_TEXT.replace(b"= 3", b"= 21"))
    pid = stopped_daemon(background, mnt)  # a save that takes as long as we like
    u = subprocess.Popen([str(TPKGFS), "-u", str(mnt)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: not still_mounted(mnt), 20)  # unmounted already...
        time.sleep(0.5)
        assert u.poll() is None  # ...but tpkgfs -u waits for the daemon
    finally:
        os.kill(pid, signal.SIGCONT)
    out, err = u.communicate(timeout=60)
    assert u.returncode == 0, err
    assert out.startswith(f"tpkgfs: saved {archive}: 1 record from the journal"), out
    assert err == ""
    assert daemon_pids(mnt) == [] and not journal_of(archive).exists()
    loaded = torch_check([{"name": "saved", "archive": str(archive), "attr": "DEFAULT_HIDDEN"}])
    assert loaded["saved"].get("value") == "21", loaded
    assert f" saved {archive}\n" in log_of(archive).read_text()


def test_nothing_changed_and_read_only_mounts_say_so(tmp_path, background):
    archive = writable_copy(tmp_path / "a")
    before = archive.read_bytes()
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    (mnt / INIT).read_bytes()
    u = run(TPKGFS, "-u", mnt)
    assert (u.returncode, u.stderr) == (0, "")
    assert u.stdout == f"tpkgfs: no changes; {archive} left untouched\n"
    assert archive.read_bytes() == before
    mnt, r = background.mount(archive, "mnt", "-o", "ro")
    assert r.returncode == 0, r.stderr
    u = run(TPKGFS, "-u", mnt)
    assert (u.returncode, u.stderr) == (0, "")
    assert u.stdout == f"tpkgfs: unmounted {mnt} (read-only: nothing to save)\n"


def test_tpkgfs_u_follows_symlinks_to_the_mountpoint(tmp_path, background):
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    (tmp_path / "relative").symlink_to("mnt")
    (tmp_path / "absolute").symlink_to(tmp_path / "relative")
    edited = INIT_TEXT.replace(b"= 3", b"= 23")
    (mnt / INIT).write_bytes(edited)
    u = run(TPKGFS, "-u", f"{tmp_path / 'absolute'}/")
    assert (u.returncode, u.stderr) == (0, ""), u
    assert u.stdout.startswith(f"tpkgfs: saved {archive}: 1 record from the journal"), u.stdout
    assert not still_mounted(mnt) and records(archive)[INIT] == edited


def test_a_remount_right_after_fusermount3_waits_for_the_save_and_shows_it(tmp_path,
                                                                         background):
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    (mnt / INIT).write_bytes(INIT_TEXT.replace(b"= 3", b"= 22"))
    pid = stopped_daemon(background, mnt)
    subprocess.run(["fusermount3", "-u", str(mnt)], check=True, timeout=20)
    remount = subprocess.Popen([str(TPKGFS), str(archive), str(mnt)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    background.mountpoints.append(mnt)
    try:
        time.sleep(0.5)
        # Waiting, not serving the old content (when it ended, say how: it failed once under load).
        assert remount.poll() is None, (remount.returncode, remount.communicate(timeout=10))
    finally:
        os.kill(pid, signal.SIGCONT)
    out, err = remount.communicate(timeout=60)
    assert remount.returncode == 0, err
    assert err == f"tpkgfs: waiting for the save of {archive} (pid {pid}) to finish\n"
    assert (mnt / INIT).read_bytes() == INIT_TEXT.replace(b"= 3", b"= 22")
    (mnt / "corpus_models" / "again.py").write_bytes(b"AGAIN = 1\n")  # read/write
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0, u.stderr


def test_an_immediate_remount_after_fusermount3_is_writable_with_the_new_content(tmp_path,
                                                                               background):
    archive = writable_copy(tmp_path / "a")
    for round in range(3):
        mnt, r = background.mount(archive)
        assert r.returncode == 0 and "read-only" not in r.stderr, r.stderr
        if round:  # the previous round's save, already there
            assert (mnt / "corpus_models" / "round.py").read_bytes() == (
                f"ROUND = {round - 1}\n".encode())
        (mnt / "corpus_models" / "round.py").write_bytes(f"ROUND = {round}\n".encode())
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    assert wait_until(lambda: not daemon_pids(mnt), 30)
    loaded = torch_check([{"name": "r", "archive": str(archive), "attr": "ROUND",
                           "module": "corpus_models.round"}])
    assert loaded["r"].get("value") == "2", loaded


def test_a_second_read_write_mount_of_the_same_file_is_refused(tmp_path, background):
    archive = writable_copy(tmp_path / "a")
    other = tmp_path / "b"
    other.mkdir()
    link = other / "link.pt"
    os.link(archive, link)
    symlink = other / "symlink.pt"
    symlink.symlink_to(archive)
    m1, r = background.mount(archive, "m1")
    assert r.returncode == 0, r.stderr
    for name in (link, symlink, archive):
        m2, r = background.mount(name, "m2")
        assert r.returncode == 1, (name, r)
        lines = r.stderr.splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith(f"tpkgfs: cannot mount {name.resolve()} read/write: the same "
                                   f"file is already mounted read/write by tpkgfs (pid ")
        assert f"at {m1} (from {archive})" in lines[0] and f"tpkgfs -u {m1}" in lines[0]
        assert mount_entry(m2) is None and daemon_pids(m2) == []
    assert not journal_of(link).exists() and not log_of(link).exists()
    m2, r = background.mount(link, "m2", "-o", "ro")  # a read-only view is fine
    assert r.returncode == 0, r.stderr
    (m1 / INIT).write_bytes(INIT_TEXT.replace(b"= 3", b"= 23"))
    assert run(TPKGFS, "-u", m2).returncode == 0
    u = run(TPKGFS, "-u", m1)
    assert u.returncode == 0, u.stderr
    m2, r = background.mount(link, "m2")  # the first daemon is gone: free again
    assert r.returncode == 0, r.stderr
    assert run(TPKGFS, "-u", m2).returncode == 0


def test_two_read_write_mounts_started_at_once_one_is_refused(tmp_path):
    """Started together, the second meets the first while it mounts: refused at once, never
    taken for a daemon that is saving and waited for (which the mount that won never ends)."""
    archive = writable_copy(tmp_path / "a")
    link = tmp_path / "link.pt"
    os.link(archive, link)
    for round in range(5):
        points = [tmp_path / f"r{round}_{i}" for i in (1, 2)]
        for p in points:
            p.mkdir()
        procs = [subprocess.Popen([str(TPKGFS), str(name), str(p)], stderr=subprocess.PIPE,
                                  text=True) for name, p in zip((archive, link), points)]
        try:
            results = [(p.wait(timeout=30), p.stderr.read()) for p in procs]
            mounted = [p for p in points if mount_entry(p) is not None]
            assert len(mounted) == 1, (round, results)
            assert sorted(code for code, _ in results) == [0, 1], (round, results)
            refusal = next(err for code, err in results if code == 1)
            assert "the same file is already mounted read/write by tpkgfs" in refusal, refusal
            assert run(TPKGFS, "-u", mounted[0]).returncode == 0
        finally:
            # A daemon left waiting (the defect) would mount once the other is gone: ended
            # before the mounts are undone.
            for p in procs:
                if p.poll() is None:
                    p.kill()
            for point in points:
                for pid in subprocess.run(["pgrep", "-f", f"tpkgfs .* {point}$"],
                                          capture_output=True, text=True).stdout.split():
                    kill_daemon(int(pid))
                if mount_entry(point) is not None:
                    subprocess.run(["fusermount3", "-u", "-z", str(point)])


def test_outcomes_of_signals_and_umount_are_logged_too(tmp_path, background):
    archive = writable_copy(tmp_path / "a")
    for round, stop in enumerate(("SIGTERM", "umount", "SIGINT")):
        mnt, r = background.mount(archive)
        assert r.returncode == 0, r.stderr
        (mnt / INIT).write_bytes(INIT_TEXT.replace(b"= 3", f"= {30 + round}".encode()))
        pids = daemon_pids(mnt)
        if stop == "umount":
            subprocess.run(["umount", str(mnt)], check=True)
        else:
            os.kill(pids[0], getattr(signal, stop))
        assert wait_until(lambda: not daemon_pids(mnt), 30)
        assert mount_entry(mnt) is None
        saved = [line for line in log_of(archive).read_text().splitlines()
                 if re.match(rf"\S+Z tpkgfs\[{pids[0]}\] saved {re.escape(str(archive))}$", line)]
        assert len(saved) == 1, (stop, log_of(archive).read_text())


def test_errors_of_a_background_daemon_reach_the_log(tmp_path, background):
    source = CORPUS / "pkg_minimal_text_only.pt"
    record = "pkg_minimal_text_only/notes/readme.txt"
    from ziputil import data_offset
    data = bytearray(source.read_bytes())
    data[data_offset(source, record) + 5] ^= 0x01  # a stored record with a bad CRC
    archive = tmp_path / "a" / "text.pt"
    archive.parent.mkdir()
    archive.write_bytes(bytes(data))
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    with pytest.raises(OSError):
        (mnt / "notes" / "readme.txt").read_bytes()
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0, u.stderr
    assert re.search(rf"^tpkgfs: \d+ errors? (was|were) logged while {mnt} was mounted "
                     rf"\(see {re.escape(str(log_of(archive)))}\)$", u.stderr, re.M), u.stderr
    log = log_of(archive).read_text()
    assert re.search(r"^\S+Z tpkgfs\[\d+\] error " + re.escape(str(archive)) + "\n  Cannot read '"
                     + re.escape(record) + "'", log, re.M), log


def test_a_refusal_a_background_daemon_logged_is_pointed_at_by_tpkgfs_u(tmp_path, background):
    """A create refused by a packaging rule gets only an errno (EEXIST) in the shell; the reason
    is in the save log, and `tpkgfs -u` says that a warning was logged there."""
    archive = writable_copy(tmp_path / "a")
    mnt, r = background.mount(archive)
    assert r.returncode == 0, r.stderr
    with pytest.raises(FileExistsError):
        (mnt / INIT.replace("__init__", "__INIT__")).write_bytes(b"x = 1\n")
    u = run(TPKGFS, "-u", mnt)
    assert u.returncode == 0, u.stderr
    assert (f"tpkgfs: 1 warning was logged while {mnt} was mounted (see {log_of(archive)})\n"
            ) in u.stderr, u.stderr
    assert "differs from it only in case" in log_of(archive).read_text()


# --- what tpkgfs -u refuses -------------------------------------------------

def one_line_failure(r):
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1, r.stderr
    return r.stderr


def test_unmount_errors_are_one_line(tmp_path, background):
    (tmp_path / "plain").mkdir()
    err = one_line_failure(run(TPKGFS, "-u", tmp_path / "plain"))
    assert err == f"tpkgfs: cannot unmount '{tmp_path / 'plain'}': it is not mounted\n"
    err = one_line_failure(run(TPKGFS, "-u", tmp_path / "missing" / "m"))
    assert "No such file or directory" in err
    err = one_line_failure(run(TPKGFS, "-u", tmp_path / "mistyped"))  # its folder exists
    assert err == f"tpkgfs: cannot unmount '{tmp_path / 'mistyped'}': no such file or folder\n"
    usage = run(TPKGFS, "-u")
    assert usage.returncode == 2 and "usage: tpkgfs -u MOUNTPOINT" in usage.stderr


def test_unmounting_something_else_is_refused(tmp_path):
    where = tmp_path / "tmpfs"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tpkg-test", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        err = one_line_failure(run(TPKGFS, "-u", where))
        assert err == f"tpkgfs: cannot unmount '{where}': it is not a tpkgfs mount (it is tmpfs)\n"
        assert mount_entry(where) == "tmpfs"
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_another_users_mount_cannot_be_unmounted(tmp_path, background, request):
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv(1)")
    archive = writable_copy(tmp_path / "a")
    # tmp_path's folders are private to root: the mountpoint must be where nobody can look.
    public = pathlib.Path(tempfile.mkdtemp(prefix="tpkgfs-test-"))

    def remove_public():  # runs before the fixture's cleanup: never recurse into a mount
        if still_mounted(public / "mnt"):
            subprocess.run(["fusermount3", "-uz", str(public / "mnt")], capture_output=True)
        shutil.rmtree(public, ignore_errors=True)

    request.addfinalizer(remove_public)
    public.chmod(0o755)
    mnt, r = background.mount(archive, where=public)
    assert r.returncode == 0, r.stderr
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", str(TPKGFS)]
    probe = run(*as_nobody, "--version")
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run the build's tpkgfs: {probe.stderr.strip()}")
    err = one_line_failure(run(*as_nobody, "-u", mnt))
    assert err == (f"tpkgfs: cannot unmount '{mnt}': it was mounted by uid 0 (only that user or "
                   "root may unmount it)\n")
    assert mount_entry(mnt) == "fuse.tpkgfs"
    assert run(TPKGFS, "-u", mnt).returncode == 0
