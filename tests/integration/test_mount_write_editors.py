"""Editors and tools on a read/write mount: each edit is followed by an
unmount (the save), a fresh mount that must show it, and real torch loading
the saved package with the edit in effect (one torch process for all)."""
import mmap
import os
import subprocess

import pytest

from writing import INIT, INIT_TEXT, misaligned_records, records, session, torch_check, \
    writable_copy


def run(*cmd):
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True, timeout=60)


def vim(mode, value):
    def edit(mnt, tmp):
        run("vim", "-Es", "-u", "NONE", "-c", f"set backupcopy={mode}",
            "-c", f"%s/DEFAULT_HIDDEN = 3/DEFAULT_HIDDEN = {value}/", "-c", "wq", mnt / INIT)
    return edit


def sed(mnt, tmp):
    run("sed", "-i", "s/DEFAULT_HIDDEN = 3/DEFAULT_HIDDEN = 6/", mnt / INIT)


def python_rename(mnt, tmp):
    tmp_file = mnt / (INIT + ".tmp")
    with open(tmp_file, "wb") as f:
        f.write(INIT_TEXT.replace(b"= 3", b"= 7"))
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp_file, mnt / INIT)


def truncate_rewrite(mnt, tmp):
    os.truncate(mnt / INIT, 0)
    with open(mnt / INIT, "r+b") as f:
        f.write(INIT_TEXT.replace(b"= 3", b"= 8"))


def append(mnt, tmp):
    with open(mnt / INIT, "ab") as f:
        f.write(b"import json\nAPPENDED = 9\n")


def mmap_write(mnt, tmp):
    with open(mnt / INIT, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        at = m.find(b"= 3")
        m[at:at + 3] = b"= 4"
        m.flush()


def cp_over(mnt, tmp):
    source = tmp / "init_copy.py"
    source.write_bytes(INIT_TEXT.replace(b"= 3", b"= 10"))
    run("cp", source, mnt / INIT)


def mv_in(mnt, tmp):
    source = tmp / "new_mod.py"
    source.write_bytes(b"VALUE = 11\n")
    run("mv", source, mnt / "corpus_models" / "new_mod.py")


def rm(mnt, tmp):
    run("rm", mnt / "corpus_models" / "extra.py")


def create_extra(mnt, tmp):
    (mnt / "corpus_models" / "extra.py").write_bytes(b"X = 1\n")


# name: (setup session or None, edit, record, expected bytes or None (removed), module, attr, value)
SCENARIOS = {
    "vim_backupcopy_yes": (None, vim("yes", 5), INIT, INIT_TEXT.replace(b"= 3", b"= 5"),
                           "corpus_models", "DEFAULT_HIDDEN", "5"),
    "vim_backupcopy_no": (None, vim("no", 12), INIT, INIT_TEXT.replace(b"= 3", b"= 12"),
                          "corpus_models", "DEFAULT_HIDDEN", "12"),
    "vim_backupcopy_auto": (None, vim("auto", 13), INIT, INIT_TEXT.replace(b"= 3", b"= 13"),
                            "corpus_models", "DEFAULT_HIDDEN", "13"),
    "sed_i": (None, sed, INIT, INIT_TEXT.replace(b"= 3", b"= 6"),
              "corpus_models", "DEFAULT_HIDDEN", "6"),
    "python_fsync_rename": (None, python_rename, INIT, INIT_TEXT.replace(b"= 3", b"= 7"),
                            "corpus_models", "DEFAULT_HIDDEN", "7"),
    "truncate_rewrite": (None, truncate_rewrite, INIT, INIT_TEXT.replace(b"= 3", b"= 8"),
                         "corpus_models", "DEFAULT_HIDDEN", "8"),
    "append": (None, append, INIT, INIT_TEXT + b"import json\nAPPENDED = 9\n",
               "corpus_models", "APPENDED", "9"),
    "mmap_write": (None, mmap_write, INIT, INIT_TEXT.replace(b"= 3", b"= 4"),
                   "corpus_models", "DEFAULT_HIDDEN", "4"),
    "cp_over": (None, cp_over, INIT, INIT_TEXT.replace(b"= 3", b"= 10"),
                "corpus_models", "DEFAULT_HIDDEN", "10"),
    "mv_in": (None, mv_in, "corpus_models/new_mod.py", b"VALUE = 11\n",
              "corpus_models.new_mod", "VALUE", "11"),
    "rm": (create_extra, rm, "corpus_models/extra.py", None,
           "corpus_models", "DEFAULT_HIDDEN", "3"),
}


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """Runs every scenario; {name: facts}, plus the torch results under "torch"."""
    results = {}
    for name, (setup, edit, record, expected, module, attr, value) in SCENARIOS.items():
        tmp = tmp_path_factory.mktemp(name)
        archive = writable_copy(tmp)
        problems = []
        if setup:
            with session(archive, tmp / "setup_mnt") as m:
                setup(m.path, tmp)
            problems += m.problems
        with session(archive, tmp / "mnt") as m:
            edit(m.path, tmp)
            live = (m.path / record).read_bytes() if expected is not None else None
        problems += m.problems
        with session(archive, tmp / "fresh") as m:
            fresh = (m.path / record).read_bytes() if (m.path / record).exists() else None
            extern_modules = (m.path / ".data" / "extern_modules").read_bytes()
        problems += m.problems
        results[name] = dict(archive=str(archive), problems=problems, live=live, fresh=fresh,
                             extern_modules=extern_modules, journal_left=any(tmp.glob(".*.tpkgfs")))
    cases = [{"name": n, "archive": results[n]["archive"], "module": s[4], "attr": s[5]}
             for n, s in SCENARIOS.items()]
    return results, torch_check(cases)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_edit_is_saved_and_torch_loads_it(edited, name):
    results, loaded = edited
    got = results[name]
    _, _, record, expected, _, _, value = SCENARIOS[name]
    assert got["problems"] == []
    assert not got["journal_left"]
    assert got["live"] == expected
    assert got["fresh"] == expected
    saved = records(got["archive"])
    assert saved.get(record) == expected
    assert misaligned_records(got["archive"]) == []
    assert got["extern_modules"] == saved[".data/extern_modules"]
    assert "error" not in loaded[name], loaded[name]
    assert loaded[name]["model"] == "TinyNet"
    assert loaded[name]["value"] == value


def test_a_new_import_is_added_to_extern_modules(edited):
    results, loaded = edited
    assert loaded["append"]["externs"][-1] == "json"
    assert records(results["append"]["archive"])[".data/extern_modules"].endswith(b"\njson\n")
    assert "json" not in loaded["sed_i"]["externs"]
