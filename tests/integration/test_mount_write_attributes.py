"""Nothing the read/write mount accepts is dropped by the save, and its POSIX
details: `chmod`, `touch -d` and empty folders survive a save in the ZIP's
headers and folder entries, the next mount (read-only or read/write) shows
them, records nobody touched keep torch's headers, and real torch still
loads the saved archives; create/mkdir/unlink/rmdir/rename stamp the parent
folder, chmod the ctime, atimes are kept apart from mtimes, folders count
their subfolders, and other users (-o allow_other) get what the modes give
them and own what they create while mounted. Every mount is unmounted by `session`, even on failure."""
import errno
import os
import stat
import subprocess
import tempfile
import time
import zipfile

import pytest

from mounting import Mount
from writing import (INIT, PYTHON, SOURCE_PACKAGE, session, torch_check, torch_serialization_id,
                     writable_copy)

FUTURE = 1900000000  # 2030-03-17, `touch -d @1900000000`
PAST = 1000000000
SERIALIZATION_ID = ".data/serialization_id"  # torch 2.x's, derived from the other records


def infos(archive):
    """{name without the prefix folder: ZipInfo}."""
    with zipfile.ZipFile(archive) as zf:
        prefix = zf.infolist()[0].filename.split("/", 1)[0] + "/"
        return {i.filename[len(prefix):]: i for i in zf.infolist()}


def unix_mode(info):
    return (info.external_attr >> 16) & 0o7777


def test_chmod_touch_and_empty_folders_survive_the_save_and_torch_loads_it(tmp_path):
    archive = writable_copy(tmp_path)
    before = infos(archive)
    with session(archive, tmp_path / "mnt") as m:
        os.chmod(m.path / INIT, 0o600)
        subprocess.run(["touch", "-d", f"@{FUTURE}", str(m.path / "corpus_models" / "util.py")],
                       check=True)
        os.mkdir(m.path / "empty", 0o700)
        os.makedirs(m.path / "assets" / "cache")
        os.mkdir(m.path / "corpus_models" / "data")
        os.utime(m.path / "corpus_models" / "data", (PAST, PAST))
        (m.path / "corpus_models" / "data" / "x.txt").write_bytes(b"x\n")
    assert m.problems == []
    saved = infos(archive)
    assert unix_mode(saved[INIT]) == 0o600
    assert saved["corpus_models/util.py"].date_time[0] == time.localtime(FUTURE).tm_year
    for folder in ("empty/", "assets/cache/"):
        assert saved[folder].is_dir() and saved[folder].file_size == 0
    assert unix_mode(saved["empty/"]) == 0o700
    # The folder's chosen time was moved on by the file created in it: not stored.
    assert "corpus_models/data/" not in saved
    # Records nobody touched: the bytes and torch's all-zero headers. But for an archive of
    # torch 2.x (the corpus is made by the stack's torch), whose `.data/serialization_id` is
    # derived from every record's CRC: the save rewrites it to the id torch's own writer
    # writes for the saved records (so its CRC differs), with the same headers.
    untouched = [n for n in before if n not in (INIT, "corpus_models/util.py")
                 and not n.startswith(".data/extern_modules")]
    assert untouched
    for name in untouched:
        new, old = saved[name], before[name]
        fields = ("external_attr", "create_system", "date_time", "compress_type", "extra")
        if name != SERIALIZATION_ID:
            fields += ("CRC",)
        assert [getattr(new, f) for f in fields] == [getattr(old, f) for f in fields], name
    if SERIALIZATION_ID in before:
        ids = torch_serialization_id(archive, tmp_path / "by_torch")
        assert ids["ours"] == ids["torch"], ids
        assert saved[SERIALIZATION_ID].CRC != before[SERIALIZATION_ID].CRC
    # Both views show what the archive holds.
    for options in ((), ("-o", "ro")):
        with session(archive, tmp_path / ("ro" if options else "rw"), *options) as m:
            assert stat.S_IMODE(os.stat(m.path / INIT).st_mode) == 0o600
            assert os.stat(m.path / "corpus_models" / "util.py").st_mtime == FUTURE
            assert os.listdir(m.path / "empty") == []
            assert stat.S_IMODE(os.stat(m.path / "empty").st_mode) == 0o700
            assert os.path.isdir(m.path / "assets" / "cache")
        assert m.problems == []
    got = torch_check([{"name": "saved", "archive": str(archive), "attr": "DEFAULT_HIDDEN"}])
    assert got["saved"].get("value") == "3", got
    structure = subprocess.run(
        [PYTHON, "-c", "import sys; from torch.package import PackageImporter;"
         "print(PackageImporter(sys.argv[1]).file_structure())", str(archive)],
        capture_output=True, text=True, timeout=120)
    assert structure.returncode == 0, structure.stderr
    # Folder entries are no files: file_structure() lists the records as before.
    tree = structure.stdout.split("\n", 1)[1]  # without the first line, the archive's path
    assert "model.pkl" in tree and "util.py" in tree
    assert "empty" not in tree and "cache" not in tree


def test_a_folder_emptied_of_the_files_that_implied_it_is_left_out_and_the_save_says_so(
        tmp_path):
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        os.mkdir(m.path / "notes")
        (m.path / "notes" / "readme.txt").write_bytes(b"hello\n")
    assert m.problems == []
    assert "notes/" not in infos(archive)  # implied by its file, as torch writes folders
    with session(archive, tmp_path / "mnt") as m:
        os.unlink(m.path / "notes" / "readme.txt")
        assert os.listdir(m.path / "notes") == []  # still shown while mounted
    assert m.problems == []
    assert not any(n.startswith("notes/") for n in infos(archive))
    assert ("; warning: left out 1 emptied folder the archive's files implied, as torch's "
            "exporter writes no folders: 'notes' (mkdir one again to keep it)") in m.stderr(), \
        m.stderr()
    loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "DEFAULT_HIDDEN"}])["k"]
    assert "error" not in loaded, loaded


def test_a_chmod_alone_is_saved_and_a_mount_without_changes_leaves_it_alone(tmp_path):
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        os.chmod(m.path / INIT, 0o640)
    assert m.problems == [] and "saved" in m.stderr()
    assert unix_mode(infos(archive)[INIT]) == 0o640
    saved = archive.read_bytes()
    with session(archive, tmp_path / "mnt") as m:
        os.chmod(m.path / INIT, 0o640)  # what it already is
        os.mkdir(m.path / "tmp")
        os.rmdir(m.path / "tmp")
    assert m.problems == [] and "no changes" in m.stderr()
    assert archive.read_bytes() == saved


def test_times_a_zip_cannot_hold_fail_with_eoverflow(tmp_path):
    archive = writable_copy(tmp_path)
    # The program is told; the daemon logs no error of its own (the unmount counts none).
    with session(archive, tmp_path / "mnt") as m:
        for when in (-86400, 2 ** 32 + 10):
            with pytest.raises(OSError) as info:
                os.utime(m.path / INIT, (when, when))
            assert info.value.errno == errno.EOVERFLOW
    assert m.problems == []


TORCH_SAVE_AND_JIT = r"""
import sys, torch
out = sys.argv[1]
torch.save({"w": torch.arange(6.0)}, out + "/save.pt")
class M(torch.nn.Module):
    def forward(self, x):
        return x * 2
torch.jit.save(torch.jit.script(M()), out + "/jit.pt")
"""

LOAD_SAVE_AND_JIT = r"""
import sys, torch
print(torch.load(sys.argv[1] + "/save.pt")["w"].tolist())
print(torch.jit.load(sys.argv[1] + "/jit.pt")(torch.ones(2)).tolist())
"""


def test_torch_save_and_jit_archives_with_kept_attributes_still_load(tmp_path):
    made = tmp_path / "made"
    made.mkdir()
    script = tmp_path / "make.py"  # TorchScript compiles from source: a file, not `-c`
    script.write_text(TORCH_SAVE_AND_JIT)
    subprocess.run([PYTHON, str(script), str(made)], check=True, timeout=300)
    for name in ("save.pt", "jit.pt"):
        archive = writable_copy(tmp_path / "w", name, made / name)
        with session(archive, tmp_path / ("mnt_" + name)) as m:
            top = [p for p in m.path.iterdir() if p.is_dir()]
            os.mkdir(m.path / "notes")
            victim = next(p for p in (m.path / "data").iterdir()) if (m.path / "data").is_dir() \
                else next(p for p in m.path.iterdir() if p.is_file())
            os.chmod(victim, 0o600)
            os.utime(victim, (FUTURE, FUTURE))
            assert top
        assert m.problems == []
        saved = infos(archive)
        assert "notes/" in saved and saved["notes/"].is_dir()
    run = subprocess.run([PYTHON, "-c", LOAD_SAVE_AND_JIT, str(tmp_path / "w")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]", "[2.0, 2.0]"]


# ---------------------------------------------------------------- POSIX details

def ns(st, field):
    return getattr(st, field + "_ns")


def test_namespace_changes_stamp_the_parent_and_chmod_the_ctime(tmp_path):
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        pkg = m.path / "corpus_models"
        sub = pkg / "sub"
        steps = [  # (what, the folders whose listing it changes)
            ("create", lambda: (pkg / "new.py").write_bytes(b"N = 1\n"), [pkg]),
            ("mkdir", lambda: os.mkdir(sub), [pkg]),
            ("rename", lambda: os.rename(pkg / "new.py", sub / "moved.py"), [pkg, sub]),
            ("unlink", lambda: os.unlink(sub / "moved.py"), [sub]),
            ("rmdir", lambda: os.rmdir(sub), [pkg]),
        ]
        for what, step, parents in steps:
            before = [os.stat(p) for p in parents]
            time.sleep(0.01)
            step()
            for parent, old in zip(parents, before):
                new = os.stat(parent)
                assert ns(new, "st_mtime") > ns(old, "st_mtime"), (what, parent)
                assert ns(new, "st_ctime") > ns(old, "st_ctime"), (what, parent)
        # A new folder gets the current time, not the archive's.
        start = time.time_ns()
        os.mkdir(m.path / "fresh")
        assert ns(os.stat(m.path / "fresh"), "st_mtime") >= start - 10_000_000
        # chmod changes the ctime, not the mtime.
        before = os.stat(pkg / "util.py")
        time.sleep(0.01)
        os.chmod(pkg / "util.py", 0o600)
        after = os.stat(pkg / "util.py")
        assert ns(after, "st_ctime") > ns(before, "st_ctime")
        assert ns(after, "st_mtime") == ns(before, "st_mtime")
        os.rmdir(m.path / "fresh")
    assert m.problems == []


def test_atime_is_kept_apart_from_mtime(tmp_path):
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        target = m.path / INIT
        mtime = os.stat(target).st_mtime_ns
        subprocess.run(["touch", "-a", "-d", f"@{FUTURE}", str(target)], check=True)
        shown = subprocess.run(["stat", "-c", "%X %Y", str(target)], capture_output=True,
                               text=True, check=True).stdout.split()
        assert shown == [str(FUTURE), str(mtime // 1_000_000_000)]
    assert m.problems == []
    # An atime alone is not saved: nothing changed.
    assert archive.read_bytes() == SOURCE_PACKAGE.read_bytes()


def test_folders_count_their_subfolders_on_both_mounts(tmp_path):
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        for dirpath, dirnames, _ in os.walk(m.path):
            assert os.stat(dirpath).st_nlink == 2 + len(dirnames), dirpath
        before = os.stat(m.path / "corpus_models").st_nlink
        os.mkdir(m.path / "corpus_models" / "extra")
        assert os.stat(m.path / "corpus_models").st_nlink == before + 1
        os.rmdir(m.path / "corpus_models" / "extra")
    assert m.problems == []
    with session(archive, tmp_path / "ro", "-o", "ro") as m:
        for dirpath, dirnames, _ in os.walk(m.path):
            assert os.stat(dirpath).st_nlink == 2 + len(dirnames), dirpath
    assert m.problems == []


NOBODY = 65534


def as_nobody(*command):
    """Runs `command` as user and group nobody; returns its exit status and stderr."""
    r = subprocess.run(list(command), user=NOBODY, group=NOBODY, capture_output=True, text=True)
    return r.returncode, r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_other_users_get_what_the_modes_give_them_and_own_what_they_create(tmp_path):
    archive = writable_copy(tmp_path)
    # The mount point must be reachable by the other user (pytest's folders are 0700).
    shared = tempfile.mkdtemp(prefix="tpkgfs-owner-")
    os.chmod(shared, 0o755)
    try:
        with session(archive, os.path.join(shared, "mnt"), "-o", "allow_other") as m:
            folder = m.path / "corpus_models"
            mine = folder / "mine.txt"
            mine.write_bytes(b"the owner's\n")
            # The kernel checks the modes (default_permissions): the owner's 0644
            # files and 0755 folders are theirs to read, not to change.
            assert as_nobody("cat", str(mine))[0] == 0
            for command in (["sh", "-c", f"echo theirs >> '{mine}'"], ["rm", str(mine)],
                            ["touch", str(folder / "theirs.txt")],
                            ["mv", str(mine), str(folder / "moved.txt")]):
                status, err = as_nobody(*command)
                assert status != 0 and "Permission denied" in err, command
            assert mine.read_bytes() == b"the owner's\n"
            assert sorted(os.listdir(folder)).count("theirs.txt") == 0
            # A folder the owner opens to everybody: what others create there is theirs.
            os.chmod(folder, 0o777)
            assert as_nobody("touch", str(folder / "theirs.txt"))[0] == 0
            assert as_nobody("mkdir", str(folder / "their_dir"))[0] == 0
            for name in ("theirs.txt", "their_dir"):
                st = os.stat(folder / name)
                assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY), name
            assert os.stat(mine).st_uid == os.getuid()
            # chown as on a native file system (the kernel checks the right to it): others
            # may not give away or take what is not theirs, a user may give their own file
            # to a group of theirs, and root anything to anyone (`tar -x`, `cp -a`).
            status, err = as_nobody("chown", f"{NOBODY}:{NOBODY}", str(mine))
            assert status != 0 and "Operation not permitted" in err, err
            assert as_nobody("chgrp", str(NOBODY), str(folder / "theirs.txt"))[0] == 0
            os.chown(folder / "theirs.txt", 0, 0)
            os.chown(mine, NOBODY, NOBODY)
            assert (os.stat(folder / "theirs.txt").st_uid, os.stat(mine).st_uid) == (0, NOBODY)
            os.chown(mine, os.getuid(), os.getgid())
        assert m.problems == []
        # The archive holds no owners: after the save the mount's owner has them.
        with session(archive, os.path.join(shared, "again")) as m:
            assert os.stat(m.path / "corpus_models" / "theirs.txt").st_uid == os.getuid()
            assert os.path.isdir(m.path / "corpus_models" / "their_dir")
            assert (m.path / "corpus_models" / "mine.txt").read_bytes() == b"the owner's\n"
        assert m.problems == []
    finally:  # session() has unmounted both (never recurse into a mount: rmdir the mountpoints)
        for sub in ("mnt", "again"):
            try:
                os.rmdir(os.path.join(shared, sub))
            except OSError:
                pass
        for name in os.listdir(shared):  # the daemons' stderr files beside the mountpoints
            if name.endswith(".stderr"):
                os.unlink(os.path.join(shared, name))
        try:
            os.rmdir(shared)
        except OSError:  # a mountpoint left: a failure already reported
            pass


def test_a_mode_or_time_given_to_the_top_folder_is_said_not_kept(tmp_path):
    """The mount's top folder is the archive's prefix folder, which has no entry to keep a
    mode or time in: a chmod or touch of it is accepted (cp -a and rsync -a set them) and the
    save says it did not keep them, also when nothing else changed."""
    archive = writable_copy(tmp_path)
    before = archive.read_bytes()
    with session(archive, tmp_path / "mnt", allow=[r"is not kept"]) as m:
        os.chmod(m.path, 0o750)
        os.utime(m.path, (PAST, PAST))
        assert stat.S_IMODE(os.stat(m.path).st_mode) == 0o750
    assert m.problems == []
    assert archive.read_bytes() == before
    assert ("no changes; " + str(archive) + " left untouched; warning: a mode or time given to "
            "the mount's top folder is not kept: the archive has no entry of its own for it"
            ) in m.stderr(), m.stderr()
