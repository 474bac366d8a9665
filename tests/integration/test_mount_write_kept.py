"""What the read/write mount accepts is kept by the save, and what a package
must not hold is refused: Python's bytecode caches (importing from the mount
still works), ..."""
import errno
import os
import subprocess

import pytest

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
