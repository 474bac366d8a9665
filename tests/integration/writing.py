"""Helpers for the read/write mount tests (test_mount_write*.py).

`session(archive, mnt)` mounts a writable copy and always unmounts and waits
for the daemon, which saves at exit; it yields the Mount, and the caller
reads `m.problems` (exit status, unexpected stderr) after the block.
`torch_check(cases)` loads every archive in one /usr/bin/python3 process.
"""
import contextlib
import json
import pathlib
import shutil
import struct
import subprocess
import zipfile

from mounting import CORPUS, Mount

PYTHON = "/usr/bin/python3"  # the interpreter with Debian's python3-torch
SOURCE_PACKAGE = CORPUS / "pkg_model_numpy.pt"  # made by torch; corpus_models + numpy
INIT = "corpus_models/__init__.py"
INIT_TEXT = b'"""Tiny model package used by the torch.package test corpus."""\nDEFAULT_HIDDEN = 3\n'
SAVE_TIMEOUT = 60.0


def writable_copy(directory, name="model.pt", source=SOURCE_PACKAGE):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / name
    shutil.copyfile(source, archive)
    archive.chmod(0o644)
    return archive


@contextlib.contextmanager
def session(archive, mnt, *options, allow=()):
    """A mount of `archive` at `mnt`; unmounted (and saved) when the block ends."""
    m = Mount(archive, mnt, options)
    m.allow_stderr(r"^tpkgfs: (saved |no changes; )")
    m.allow_stderr(r"^tpkgfs: .*: \S+ is now extern \(imported by edited .+\)$")
    for pattern in allow:
        m.allow_stderr(pattern)
    m.problems = None
    m.start()
    try:
        yield m
    finally:
        m.problems = stop(m)


def stop(m):
    """Unmounts, waits for the save; the Mount's problems (empty when all is well)."""
    if m.returncode is None:
        subprocess.run(["fusermount3", "-u", str(m.path)], capture_output=True)
        m.wait(timeout=SAVE_TIMEOUT)
    return m.stop()


def records(archive):
    """{name without the prefix folder: bytes}."""
    with zipfile.ZipFile(archive) as zf:
        prefix = zf.infolist()[0].filename.split("/", 1)[0] + "/"
        return {i.filename[len(prefix):]: zf.read(i) for i in zf.infolist()}


def misaligned_records(archive):
    """Records whose data does not start on a 64-byte boundary (torch aligns all)."""
    bad = []
    with zipfile.ZipFile(archive) as zf, open(archive, "rb") as f:
        for info in zf.infolist():
            f.seek(info.header_offset)
            header = f.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            if (info.header_offset + 30 + name_len + extra_len) % 64:
                bad.append(info.filename)
    return bad


TORCH_CHECK = r"""
import json, sys
from torch.package import PackageImporter
out = {}
for case in json.loads(sys.argv[1]):
    try:
        imp = PackageImporter(case["archive"])
        model = imp.load_pickle("model", "model.pkl")
        mod = imp.import_module(case.get("module", "corpus_models"))
        out[case["name"]] = {"value": repr(getattr(mod, case["attr"])),
                             "model": type(model).__name__,
                             "externs": imp.extern_modules}
    except Exception as e:
        out[case["name"]] = {"error": f"{type(e).__name__}: {e}"}
print(json.dumps(out))
"""


def torch_check(cases):
    """cases: [{name, archive, attr[, module]}] -> {name: {value, model, externs} or {error}}."""
    run = subprocess.run([PYTHON, "-c", TORCH_CHECK, json.dumps(cases)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def torch_serialization_id(archive, scratch):
    """{"ours": `archive`'s `.data/serialization_id`, "torch": the one torch's own writer writes
    for exactly its records} (torch_export.py serialization-id, with the stack's torch)."""
    run = subprocess.run([PYTHON, str(pathlib.Path(__file__).parent / "torch_export.py"),
                          "serialization-id", str(archive), str(scratch)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)
