"""What the read/write mount accepts is kept by the save, and what a package
must not hold is refused: Python's bytecode caches (importing from the mount
still works); and the edits a mount left behind can be listed and discarded
(`tpkg edits`)."""
import errno
import json
import os
import shutil
import signal
import subprocess
import zipfile

import pytest

from mounting import CORPUS
from writing import INIT, PYTHON, records, session, torch_check, writable_copy

IMPORT_FROM_MOUNT = (
    "import sys; sys.dont_write_bytecode = False; sys.path.insert(0, sys.argv[1]);"
    "import corpus_models, corpus_models.model as mm;"
    "print(corpus_models.DEFAULT_HIDDEN, mm.__file__.startswith(sys.argv[1]))"
)


def python_env():
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"):
        env.pop(name, None)
    return env


def test_importing_from_a_writable_mount_saves_no_bytecode_cache(tmp_path):
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        for _ in range(2):  # the second import finds no cache either, and still works
            run = subprocess.run([PYTHON, "-c", IMPORT_FROM_MOUNT, str(m.path)],
                                 capture_output=True, text=True, timeout=120, env=python_env())
            assert run.returncode == 0, run.stderr
            assert run.stdout.split() == ["3", "True"]
        assert not (m.path / "corpus_models" / "__pycache__").exists()
        for make in (lambda: os.mkdir(m.path / "corpus_models" / "__pycache__"),
                     lambda: (m.path / "corpus_models" / "model.cpython-311.pyc").write_bytes(b"x"),
                     lambda: os.rename(m.path / INIT, m.path / "corpus_models" / "x.pyc")):
            with pytest.raises(OSError) as info:
                make()
            assert info.value.errno == errno.EPERM
        with open(m.path / INIT, "ab") as f:  # an edit, so that the save writes an archive
            f.write(b"EDITED = 1\n")
    assert m.problems == []
    saved = records(archive)
    assert not [n for n in saved if "__pycache__" in n or n.endswith(".pyc")]
    assert saved[INIT].endswith(b"EDITED = 1\n")
    got = torch_check([{"name": "saved", "archive": str(archive), "attr": "EDITED"}])
    assert got["saved"].get("value") == "1", got


def test_tpkg_edits_lists_then_discards_what_a_killed_mount_left(tmp_path, tpkg_bin):
    archive = writable_copy(tmp_path)
    before = archive.read_bytes()
    with session(archive, tmp_path / "mnt") as m:
        (m.path / INIT).write_bytes(b"DEFAULT_HIDDEN = 21\n")
        (m.path / "corpus_models" / "added.py").write_bytes(b"ADDED = 1\n")
        os.rename(m.path / "corpus_models" / "util.py", m.path / "corpus_models" / "util2.py")
        busy = subprocess.run([tpkg_bin, "edits", str(archive)], capture_output=True, text=True)
        assert busy.returncode == 1 and "tpkg: " in busy.stderr  # the mount holds the journal
        m.proc.send_signal(signal.SIGKILL)
        m.wait()
        subprocess.run(["fusermount3", "-uz", str(m.path)], capture_output=True)
    assert m.problems == [f"tpkgfs exited with {-signal.SIGKILL}"]
    journal = tmp_path / ".model.pt.tpkgfs"
    listed = subprocess.run([tpkg_bin, "edits", str(archive)], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        f"{archive}: 3 pending edits in {journal}",
        "written  corpus_models/__init__.py",
        "added    corpus_models/added.py",
        "renamed  corpus_models/util2.py (from corpus_models/util.py)",
    ]
    discarded = subprocess.run([tpkg_bin, "edits", "--discard", str(archive)],
                               capture_output=True, text=True)
    assert discarded.returncode == 0, discarded.stderr
    assert discarded.stdout == f"{archive}: discarded 3 pending edits (removed {journal})\n"
    assert not journal.exists()
    assert archive.read_bytes() == before
    again = subprocess.run([tpkg_bin, "edits", str(archive)], capture_output=True, text=True)
    assert again.stdout == f"{archive}: no pending edits\n"
    with session(archive, tmp_path / "after") as m:  # mounts without recovering anything
        assert (m.path / "corpus_models" / "util.py").exists()
    assert m.problems == [] and "recovered" not in m.stderr()
    assert archive.read_bytes() == before


def test_a_read_only_mount_warns_of_the_pending_edits_it_does_not_show(tmp_path):
    archive = writable_copy(tmp_path)
    original_init = records(archive)[INIT]
    with session(archive, tmp_path / "mnt") as m:
        (m.path / INIT).write_bytes(b"DEFAULT_HIDDEN = 21\n")
        (m.path / "corpus_models" / "added.py").write_bytes(b"ADDED = 1\n")
        m.proc.send_signal(signal.SIGKILL)  # the edits stay in the journal, unsaved
        m.wait()
        subprocess.run(["fusermount3", "-uz", str(m.path)], capture_output=True)
    assert m.problems == [f"tpkgfs exited with {-signal.SIGKILL}"]
    journal = tmp_path / ".model.pt.tpkgfs"
    with session(archive, tmp_path / "ro", "-o", "ro",
                 allow=[r"^tpkgfs: the read-only view of "]) as ro:
        assert (ro.path / INIT).read_bytes() == original_init  # the archive as it is
        assert not (ro.path / "corpus_models" / "added.py").exists()
    assert ro.problems == []
    warnings = [line for line in ro.stderr().splitlines() if "read-only view" in line]
    assert warnings == [
        f"tpkgfs: the read-only view of {archive} does not show the 2 pending edits in "
        f"{journal}: mount it read/write to see and save them, or list them with "
        f"`tpkg edits {archive}`"], ro.stderr()
    assert journal.exists()  # a read-only view changes nothing


def test_tpkg_edits_discard_removes_a_journal_nothing_can_read(tmp_path, tpkg_bin):
    # A manifest damaged beyond recovery: the mount says how to be rid of it, and that works.
    archive = writable_copy(tmp_path)
    with session(archive, tmp_path / "mnt") as m:
        (m.path / INIT).write_bytes(b"DEFAULT_HIDDEN = 21\n")
        m.proc.send_signal(signal.SIGKILL)
        m.wait()
        subprocess.run(["fusermount3", "-uz", str(m.path)], capture_output=True)
    journal = tmp_path / ".model.pt.tpkgfs"
    (journal / "manifest").write_bytes(b"")
    listed = subprocess.run([tpkg_bin, "edits", str(archive)], capture_output=True, text=True)
    assert listed.returncode == 1
    assert listed.stderr == (f"tpkg: Journal manifest '{journal}/manifest' is not a tpkgfs "
                             "journal (bad magic)\n")
    with session(archive, tmp_path / "ro", allow=[r"read-only: Journal manifest"]) as m:
        pass
    assert m.problems == []
    assert (f"read-only: Journal manifest '{journal}/manifest' is not a tpkgfs journal (bad "
            f"magic); `tpkg edits --discard {archive}` removes it and the edits it held") \
        in m.stderr(), m.stderr()
    discarded = subprocess.run([tpkg_bin, "edits", "--json", "--discard", str(archive)],
                               capture_output=True, text=True)
    assert discarded.returncode == 0, discarded.stderr
    assert json.loads(discarded.stdout) == {
        "path": str(archive), "journal": str(journal), "edits": [], "discarded": True,
        "unreadable": f"Journal manifest '{journal}/manifest' is not a tpkgfs journal (bad magic)"}
    assert not journal.exists()
    # Any other failure leaves the journal: here the edits of the archive as it was, which
    # another file has replaced (the advice says to put it back).
    with session(archive, tmp_path / "again") as m:
        (m.path / INIT).write_bytes(b"DEFAULT_HIDDEN = 23\n")
        m.proc.send_signal(signal.SIGKILL)
        m.wait()
        subprocess.run(["fusermount3", "-uz", str(m.path)], capture_output=True)
    kept = archive.read_bytes()
    shutil.copyfile(CORPUS / "pkg_minimal_text_only.pt", archive)
    refused = subprocess.run([tpkg_bin, "edits", "--discard", str(archive)],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "holds edits of a different archive" in refused.stderr, \
        refused
    assert (journal / "manifest").exists()
    archive.write_bytes(kept)
    assert subprocess.run([tpkg_bin, "edits", "--discard", str(archive)]).returncode == 0
    assert not journal.exists()
    with session(archive, tmp_path / "after") as m:  # read/write again
        (m.path / INIT).write_bytes(b"DEFAULT_HIDDEN = 22\n")
    assert m.problems == []
    assert records(archive)[INIT] == b"DEFAULT_HIDDEN = 22\n"


def test_tpkg_edits_reads_an_archive_a_mount_serves_with_one_damaged_record(tmp_path, tpkg_bin):
    # A damaged local header fails only the reads of its record, in the mount and in tpkg edits.
    archive = writable_copy(tmp_path)
    with zipfile.ZipFile(archive) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("/corpus_models/util.py"))
    with open(archive, "r+b") as f:
        f.seek(info.header_offset)
        f.write(b"\xff\xff\xff\xff")
    none = subprocess.run([tpkg_bin, "edits", str(archive)], capture_output=True, text=True)
    assert none.returncode == 0, none.stderr
    assert none.stdout == f"{archive}: no pending edits\n"
    with session(archive, tmp_path / "mnt", allow=[r"util.py"]) as m:
        (m.path / INIT).write_bytes(b"DEFAULT_HIDDEN = 21\n")
        m.proc.send_signal(signal.SIGKILL)
        m.wait()
        subprocess.run(["fusermount3", "-uz", str(m.path)], capture_output=True)
    listed = subprocess.run([tpkg_bin, "edits", str(archive)], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1:] == ["written  corpus_models/__init__.py"]
    out = tmp_path / "copy.pt"
    saved = subprocess.run([tpkg_bin, "edits", "--save-to", str(out), str(archive)],
                           capture_output=True, text=True)
    assert saved.returncode == 1 and "corpus_models/util.py" in saved.stderr, saved
    assert not out.exists()
    journal = tmp_path / ".model.pt.tpkgfs"
    discarded = subprocess.run([tpkg_bin, "edits", "--discard", str(archive)],
                               capture_output=True, text=True)
    assert discarded.returncode == 0, discarded.stderr
    assert discarded.stdout == f"{archive}: discarded 1 pending edit (removed {journal})\n"
    assert not journal.exists()
