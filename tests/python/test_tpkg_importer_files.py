"""PackageImporter and the file it reads, tpkg against torch.package, each scenario in a process
of its own (the defect this guards against killed the process with SIGBUS): tensors are copies,
never views of the archive file; TorchScript is read from the archive that was opened, not from
whatever its path names later; a file object that wraps another file is read as a stream."""
import json
import subprocess
import sys
import textwrap

import pytest

from corpus_paths import BUILD

pytest.importorskip("torch")

PYTHON = "/usr/bin/python3"

COMMON = textwrap.dedent("""
    import gzip, json, os, sys
    sys.path.insert(0, {staging!r})
    import torch
    if sys.argv[1] == "torch":
        from torch.package import PackageExporter, PackageImporter
    else:
        from tpkg import PackageExporter, PackageImporter

    def export(path, obj, name="obj.pkl"):
        with PackageExporter(path) as e:
            e.extern("**")
            e.save_pickle("m", name, obj)
""")

# Load a checkpoint, change it, save it back to the same path; a tensor loaded before an
# in-place rewrite of the file keeps its values.
RESAVE = """
path = os.path.join(sys.argv[2], "ckpt.pt")
export(path, {"w": torch.ones(100_000), "step": 1})
ckpt = PackageImporter(path).load_pickle("m", "obj.pkl")
ckpt["step"] += 1
export(path, ckpt)  # over the file the tensor was loaded from
again = PackageImporter(path).load_pickle("m", "obj.pkl")
with open(path, "r+b") as f:  # rewritten in place, same size: 1.0 becomes 2.0 in the file
    data = f.read().replace(torch.ones(4).numpy().tobytes(), torch.full((4,), 2.0).numpy().tobytes())
    f.seek(0)
    f.write(data)
print(json.dumps({"step": again["step"], "w": float(again["w"].sum()),
                  "old_w": float(ckpt["w"].sum())}))
"""

# A TorchScript module: loaded from the archive that was opened, after its path was replaced
# by another archive and after the working folder changed.
TORCHSCRIPT = """
class Scale(torch.nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k = torch.nn.Parameter(torch.full((2,), k))
    def forward(self, x):
        return x * self.k
import torch.package.package_exporter
torch.package.package_exporter._gate_torchscript_serialization = False  # both honour it
os.chdir(sys.argv[2])
export("a.pt", torch.jit.script(Scale(2.0)))
export("b.pt", torch.jit.script(Scale(3.0)))
importer = PackageImporter("a.pt")
os.replace("b.pt", "a.pt")
os.chdir("/")
print(json.dumps({"k": importer.load_pickle("m", "obj.pkl").k.tolist()}))
"""

# Wrappers whose fileno() is the file under them.
WRAPPED = """
import bz2, lzma
path = os.path.join(sys.argv[2], "p.pt")
export(path, {"w": torch.arange(3.0)})
data = open(path, "rb").read()
out = {}
for name, opener in (("gzip", gzip.open), ("bz2", bz2.open), ("lzma", lzma.open)):
    packed = path + "." + name
    with opener(packed, "wb") as f:
        f.write(data)
    with opener(packed, "rb") as f:
        out[name] = PackageImporter(f).load_pickle("m", "obj.pkl")["w"].tolist()
with open(path, "rb") as f:  # a plain file is still read in place
    out["file"] = PackageImporter(f).load_pickle("m", "obj.pkl")["w"].tolist()
print(json.dumps(out))
"""

# `.data/version` texts torch's reader takes (strtoull: blanks, a sign, junk after the digits)
# or refuses, and what it says of the refused: the text itself.
VERSIONS = """
import io, zipfile
path = os.path.join(sys.argv[2], "v.pt")
export(path, {"w": 1})
out = {}
for text in ["abc", "", "+7", " 3\\n", "6junk", "11"]:
    patched = io.BytesIO()
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(patched, "w") as o:
        for info in z.infolist():
            data = z.read(info)
            o.writestr(info, text.encode() if info.filename.endswith(".data/version") else data)
    try:
        out[text] = ["ok", PackageImporter(io.BytesIO(patched.getvalue())).load_pickle("m", "obj.pkl")["w"]]
    except RuntimeError as e:
        said = [part for part in ("Couldn't parse the version " + text + " as Long Long.",
                                  "maximum supported version") if part in str(e)]
        out[text] = ["refused", said]
print(json.dumps(out))
"""

# Pickles that do not load: the same exception type and text as torch's (pure-Python) unpickler.
BAD_PICKLES = """
path = os.path.join(sys.argv[2], "b.pt")
with PackageExporter(path) as e:
    e.save_binary("p", "cut.pkl", b"\\x80\\x03X\\x05\\x00\\x00\\x00ab")
    e.save_binary("p", "opcode.pkl", b"\\xff\\xfe")
    e.save_binary("p", "empty.pkl", b"")
    e.save_pickle("p", "ok.pkl", {"a": [1, 2]})
importer = PackageImporter(path)
out = {}
for name in ("cut.pkl", "opcode.pkl", "empty.pkl", "ok.pkl"):
    try:
        out[name] = ["ok", importer.load_pickle("p", name)]
    except Exception as e:
        out[name] = [type(e).__name__, str(e)]
print(json.dumps(out))
"""


def run(implementation, script, tmp_path):
    work = tmp_path / implementation
    work.mkdir()
    program = tmp_path / f"scenario_{implementation}.py"  # torch.jit.script reads the source
    program.write_text(COMMON.format(staging=str(BUILD / "pybind")) + textwrap.dedent(script))
    r = subprocess.run([PYTHON, str(program), implementation, str(work)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, (implementation, r.returncode, r.stderr[-2000:])
    return json.loads(r.stdout.splitlines()[-1])


@pytest.mark.parametrize("script", [RESAVE, TORCHSCRIPT, WRAPPED, VERSIONS, BAD_PICKLES],
                         ids=["resave over the loaded file", "torchscript after replace",
                              "wrapped file objects", "version records", "bad pickles"])
def test_the_importer_reads_the_archive_it_opened_as_torch_does(script, tmp_path):
    theirs = run("torch", script, tmp_path)
    ours = run("tpkg", script, tmp_path)
    assert ours == theirs
