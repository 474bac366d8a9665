"""`tpkg tensors`, `tpkg pickles` and `tpkg diff`, run as the real binary.

Differential against real torch (/usr/bin/python3, in a separate process:
tensors_torch_runner.py): every tensor torch.load / PackageImporter.load_pickle /
torch.jit.load builds from every corpus file, the torch 2.6 archives in
tests/data/torch2/ and files made here by torch (TorchScript, whole modules, a
legacy torch.save), with its place, dtype, shape, stride, offset, storage bytes and
which tensors share a storage. `pickles --dis` against pickletools.dis on every
pickle record of every corpus file.
"""
import io
import json
import os
import pickletools
import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest

TORCH_PYTHON = "/usr/bin/python3"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TORCH2 = REPO / "tests" / "data" / "torch2"
CORPUS_FILES = [
    "pkg_model_numpy.pt", "pkg_mocked.pt", "pkg_resources.pt", "pkg_shared_views.pt",
    "pkg_reduce_package.pt", "pkg_dtypes.pt", "pkg_torchscript.pt", "pkg_fx_graph_module.pt",
    "pkg_minimal_text_only.pt", "pkg_protocol4.pt", "pkg_repackaged.pt",
    "pkg_deflated_by_zip_tool.pt", "torch_save_checkpoint.pth",
]
TORCH2_FILES = ["package.pt", "package_many.pt", "save.pt", "save_many.pt", "save_nobyteorder.pt",
                "added/package.pt", "edited/package.pt", "edited/save.pt",
                "edited/save_nobyteorder.pt"]

# A module torch.load and torch.jit.script can find the source of (PYTHONPATH).
MADE_MODELS = textwrap.dedent("""
    import torch

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)
            self.register_buffer("running", torch.arange(4.0))
            self.const = torch.ones(2, 2)

        def forward(self, x):
            return self.lin(x) + self.const[0] + self.running[:2]
""")
MAKE_FILES = textwrap.dedent("""
    import sys, torch
    from made_models import Block
    out = sys.argv[1]
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(Block()), out + "/script.pt")
    big = torch.arange(12.0).view(3, 4)
    torch.save({"net": Block(), "pair": (big[1], big.t()), "ints": [torch.tensor([1, 2])],
                1: {"flag": torch.zeros(2, dtype=torch.bool)},
                "param": torch.nn.Parameter(torch.ones(3))}, out + "/objects.pt")
    torch.save({"w": torch.ones(2)}, out + "/legacy.pt", _use_new_zipfile_serialization=False)
    # Quantized tensors (per tensor; per channel, whose scales and zero points are tensors of
    # their own) and sparse ones (no storage of their own: their parts have).
    dense = torch.arange(12.0).view(3, 4) * (torch.arange(12).view(3, 4) % 3 == 0)
    torch.save({"q": torch.quantize_per_tensor(torch.randn(4, 3), 0.1, 2, torch.qint8),
                "qc": torch.quantize_per_channel(torch.randn(2, 3), torch.tensor([0.1, 0.2]),
                                                 torch.tensor([0, 1]), 0, torch.quint8),
                "coo": dense.to_sparse(), "csr": dense.to_sparse_csr(),
                "pcoo": torch.nn.Parameter(dense.to_sparse(), requires_grad=False),
                "pq": torch.nn.Parameter(torch.quantize_per_channel(
                    torch.randn(2, 3), torch.tensor([0.1, 0.2]), torch.tensor([0, 1]), 0,
                    torch.quint8), requires_grad=False),
                "after": torch.ones(2)}, out + "/quantized_sparse.pt")
    if hasattr(torch, "float8_e4m3fn"):  # torch 2.x: dtypes pickled by _rebuild_tensor_v3
        torch.save({"f8": torch.ones(4).to(torch.float8_e4m3fn),
                    "u16": torch.arange(6, dtype=torch.int32).to(torch.uint16).view(2, 3)[:, 1:],
                    "u32": torch.zeros(2, dtype=torch.uint32),
                    "c32": torch.zeros(2, dtype=torch.complex32),
                    "p8": torch.nn.Parameter(torch.zeros(2).to(torch.float8_e5m2),
                                             requires_grad=False),
                    "after": torch.ones(2)}, out + "/new_dtypes.pt")
    if hasattr(torch, "export") and hasattr(torch.export, "save"):
        ep = torch.export.export(Block(), (torch.ones(1, 3),))
        torch.export.save(ep, out + "/model.pt2")
        weights = [*ep.state_dict, *ep.constants]  # serialized_{state_dict,constants}.pt
    else:  # torch 1.13: torch 2.6's layout, a plain ZIP with torch.save files nested as records
        import io, zipfile
        block = Block()
        state, constants = io.BytesIO(), io.BytesIO()
        torch.save(dict(block.state_dict(keep_vars=True)), state)
        torch.save({"const": block.const}, constants)  # what torch.export lifts as a constant
        with zipfile.ZipFile(out + "/model.pt2", "w") as z:
            z.writestr("serialized_exported_program.json", "{}")
            z.writestr("serialized_state_dict.pt", state.getvalue())
            z.writestr("serialized_constants.pt", constants.getvalue())
            z.writestr("version", "3")
        weights = [*block.state_dict(), "const"]
    with open(out + "/model.pt2.weights", "w") as f:
        f.write(" ".join(weights))
""")


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=300, **kwargs)


def torch_env(module_dir):
    return {**os.environ, "PYTHONPATH": str(module_dir)}


def tpkg_json(tpkg_bin, *args):
    result = run(tpkg_bin, *args, "--json")
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def made_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("torch_made")
    (out / "made_models.py").write_text(MADE_MODELS)
    (out / "make_files.py").write_text(MAKE_FILES)
    result = run(TORCH_PYTHON, out / "make_files.py", out, env=torch_env(out))
    assert result.returncode == 0, result.stderr.decode()
    return out


@pytest.fixture(scope="session")
def model_files(corpus_dir, made_dir):
    return ([corpus_dir / name for name in CORPUS_FILES] + [TORCH2 / name for name in TORCH2_FILES]
            + [made_dir / "script.pt", made_dir / "objects.pt", made_dir / "model.pt2",
               made_dir / "quantized_sparse.pt"]
            + [f for f in [made_dir / "new_dtypes.pt"] if f.exists()])  # torch 2.x only


@pytest.fixture(scope="session")
def ours(tpkg_bin, model_files):
    return {str(f): tpkg_json(tpkg_bin, "tensors", f) for f in model_files}


@pytest.fixture(scope="session")
def torchs(tmp_path_factory, tpkg_bin, model_files, ours, made_dir):
    cases = []
    for f in model_files:
        if ours[str(f)]["kind"] == "torch.export":  # the pickles of its nested torch.save files
            pickles = sorted({t["pickle"] for t in ours[str(f)]["tensors"]})
        else:
            listed = tpkg_json(tpkg_bin, "pickles", f)
            pickles = [p["record"] for p in listed["pickles"] if not p["record"].startswith(".data/")]
        cases.append({"file": str(f), "kind": ours[str(f)]["kind"], "pickles": pickles})
    cases_file = tmp_path_factory.mktemp("tensors_cases") / "cases.json"
    cases_file.write_text(json.dumps(cases))
    result = run(TORCH_PYTHON, HERE / "tensors_torch_runner.py", cases_file, env=torch_env(made_dir))
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def comparable(tensors):
    """Our JSON rows of one pickle as the runner reports torch's, storages numbered alike."""
    storages, rows = {}, []
    for t in tensors:
        nbytes = t["storage"]["bytes"]
        number = storages.setdefault(t["storage"]["record"], len(storages)) if nbytes else None
        rows.append({"path": t["path"], "dtype": t["dtype"], "shape": t["shape"],
                     "stride": t["stride"], "storage_offset": t["storage_offset"],
                     "requires_grad": t["requires_grad"], "parameter": t["parameter"],
                     "storage_bytes": nbytes, "storage": number})
    return rows


def test_every_file_has_its_kind(ours, corpus_dir, made_dir):
    assert ours[str(corpus_dir / "pkg_dtypes.pt")]["kind"] == "torch.package"
    assert ours[str(corpus_dir / "torch_save_checkpoint.pth")]["kind"] == "torch.save"
    assert ours[str(made_dir / "script.pt")]["kind"] == "torchscript"
    assert ours[str(TORCH2 / "save.pt")]["kind"] == "torch.save"
    assert ours[str(made_dir / "model.pt2")]["kind"] == "torch.export"
    # The parameters, the buffer and the plain tensor attribute torch.export lifts as a
    # constant, as the torch that saved it names them.
    weights = (made_dir / "model.pt2.weights").read_text().split()
    assert sorted(weights) == ["const", "lin.bias", "lin.weight", "running"]
    paths = [t["path"] for t in ours[str(made_dir / "model.pt2")]["tensors"]]
    assert sorted(paths) == sorted(weights)


def test_tensors_equal_what_torch_loads(ours, torchs, model_files):
    compared = 0
    for f in model_files:
        loaded = torchs[str(f)]
        assert "error" not in loaded, (f, loaded)
        kind = ours[str(f)]["kind"]
        for pickle, theirs in loaded.items():
            mine = comparable([t for t in ours[str(f)]["tensors"] if t["pickle"] == pickle])
            if kind == "torchscript":
                # The state_dict names parameters and buffers; data.pkl also holds plain
                # tensor attributes, whose storages the state_dict does not see.
                by_path = {t["path"]: t for t in mine}
                for t in theirs:
                    assert t["path"] in by_path, (f, t["path"])
                    for key in ("dtype", "shape", "stride", "storage_offset", "storage_bytes"):
                        assert by_path[t["path"]][key] == t[key], (f, t["path"], key)
                compared += len(theirs)
                continue
            assert mine == theirs, (f, pickle)
            compared += len(theirs)
    assert compared >= 60


def test_state_dict_keys_and_places(ours, made_dir):
    paths = [t["path"] for t in ours[str(made_dir / "objects.pt")]["tensors"]]
    # vars() order: _buffers before _modules, plain attributes last.
    assert paths == ["net.running", "net.lin.weight", "net.lin.bias", "net.const", "pair.0",
                     "pair.1", "ints.0", "1.flag", "param"]
    script = [t["path"] for t in ours[str(made_dir / "script.pt")]["tensors"]
              if t["pickle"] == "data.pkl"]
    assert script == ["running", "const", "lin.weight", "lin.bias"]  # TorchScript's attribute order


def test_text_output_is_a_table(tpkg_bin, corpus_dir):
    result = run(tpkg_bin, "tensors", corpus_dir / "pkg_shared_views.pt")
    assert result.returncode == 0
    lines = result.stdout.decode().splitlines()
    assert lines[0].split() == ["PICKLE", "PATH", "DTYPE", "SHAPE", "STRIDE", "OFFSET", "STORAGE",
                                "BYTES"]
    assert lines[2].split() == ["views/a.pkl", "row2", "float32", "[6]", "[1]", "12",
                                ".data/0.storage", "96"]


def test_legacy_torch_save_gets_a_clear_message(tpkg_bin, made_dir):
    for command in ("tensors", "pickles"):
        result = run(tpkg_bin, command, made_dir / "legacy.pt")
        assert result.returncode == 1
        message = result.stderr.decode()
        assert "legacy torch.save" in message and "1.6" in message, message


# ------------------------------------------------------------------ pickles

def pickle_records(path):
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            data = z.read(info)
            if data[:1] == b"\x80":
                yield info.filename.split("/", 1)[1], data


@pytest.mark.parametrize("name", CORPUS_FILES + [f"torch2/{n}" for n in TORCH2_FILES])
def test_dis_equals_pickletools(tpkg_bin, corpus_dir, name):
    path = TORCH2 / name[len("torch2/"):] if name.startswith("torch2/") else corpus_dir / name
    for record, data in pickle_records(path):
        expected = io.StringIO()
        try:
            pickletools.dis(data, out=expected)
            failed = False
        except Exception:
            failed = True
        result = run(tpkg_bin, "pickles", "--dis", path, record)
        text = result.stdout.decode()
        assert text.startswith(f"# {record}\n")
        assert text[len(record) + 3:] == expected.getvalue(), record
        assert (result.returncode != 0) == failed, (record, result.stderr)


def test_pickles_lists_globals_and_storages(tpkg_bin, corpus_dir):
    doc = tpkg_json(tpkg_bin, "pickles", corpus_dir / "pkg_shared_views.pt")
    assert doc["kind"] == "torch.package"
    a = doc["pickles"][0]
    assert a["record"] == "views/a.pkl" and a["protocol"] == 3
    assert {"module": "torch._utils", "name": "_rebuild_tensor_v2"} in a["globals"]
    assert a["storages"][0] == {"key": "0", "key_is_int": True, "class": "torch.FloatStorage",
                                "location": "cpu", "numel": 24, "record": ".data/0.storage"}
    text = run(tpkg_bin, "pickles", corpus_dir / "pkg_shared_views.pt").stdout.decode()
    assert "    torch._utils._rebuild_tensor_v2\n" in text
    # The text says what --json says, modules included (as the help promises).
    first = text.split("\n  storages:\n")[0]
    assert first.endswith("  modules:\n" + "".join(f"    {m}\n" for m in a["modules"])[:-1]), text
    one = tpkg_json(tpkg_bin, "pickles", corpus_dir / "pkg_shared_views.pt", "views/b.pkl")
    assert [p["record"] for p in one["pickles"]] == ["views/b.pkl"]


def test_pickles_reports_a_missing_record(tpkg_bin, corpus_dir):
    result = run(tpkg_bin, "pickles", corpus_dir / "pkg_dtypes.pt", "nope.pkl")
    assert result.returncode == 1 and b"no record 'nope.pkl'" in result.stderr


# ------------------------------------------------------------------ diff

MAKE_VERSIONS = textwrap.dedent("""
    import sys, torch
    from torch.package import PackageExporter
    out = sys.argv[1]
    for name, width, extern in (("a", 3, True), ("b", 5, False)):
        torch.manual_seed(0)
        with PackageExporter(f"{out}/{name}.pt") as e:
            e.extern("numpy") if extern else e.mock("numpy")
            e.save_source_string("helper", "import numpy\\nX = 1\\n")
            if name == "b":
                e.save_text("notes", "n.txt", "new")
            e.save_pickle("m", "w.pkl", {"w": torch.ones(width), "same": torch.zeros(2),
                                          "gone" if name == "a" else "new": torch.ones(1)})
""")


@pytest.fixture(scope="session")
def versions(tmp_path_factory):
    out = tmp_path_factory.mktemp("versions")
    result = run(TORCH_PYTHON, "-c", MAKE_VERSIONS, out)
    assert result.returncode == 0, result.stderr.decode()
    return out / "a.pt", out / "b.pt"


def test_diff_names_records_modules_and_tensors(tpkg_bin, versions):
    a, b = versions
    doc = tpkg_json(tpkg_bin, "diff", a, b)
    assert doc["identical"] is False
    changes = {(r["change"], r["record"]) for r in doc["records"]}
    assert ("added", "notes/n.txt") in changes and ("changed", "m/w.pkl") in changes
    assert {"module": "numpy", "before": "extern", "after": "mock"} in doc["modules"]
    tensors = {(t["change"], t["path"]): t for t in doc["tensors"]}
    assert tensors[("changed", "w")]["fields"] == ["shape", "bytes"]
    assert tensors[("changed", "w")]["before"]["shape"] == [3]
    assert tensors[("changed", "w")]["after"]["shape"] == [5]
    assert ("removed", "gone") in tensors and ("added", "new") in tensors
    assert not any(path == "same" for _, path in tensors)
    text = run(tpkg_bin, "diff", a, b).stdout.decode()
    assert "  ~ numpy: extern -> mock\n" in text
    assert "  ~ m/w.pkl w: shape [3] -> [5]; bytes of .data/0.storage changed\n" in text
    assert "  + notes/n.txt (3 bytes)\n" in text


def test_diff_of_a_file_with_itself_is_empty(tpkg_bin, corpus_dir):
    path = corpus_dir / "pkg_model_numpy.pt"
    doc = tpkg_json(tpkg_bin, "diff", path, path)
    assert doc["identical"] is True and doc["records"] == [] and doc["tensors"] == []
    assert run(tpkg_bin, "diff", path, path).stdout.decode().endswith("no differences\n")


def test_diff_fails_on_a_record_whose_bytes_do_not_match_its_crc(tpkg_bin, corpus_dir, tmp_path):
    # Same central directory, one storage byte flipped: the CRC-32s agree, the
    # data does not (torch 1.13 loads the changed tensor), so "no differences"
    # would be a lie. The diff fails as check and repack do: one line, exit 1.
    source = corpus_dir / "pkg_model_numpy.pt"
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as z:
        info = z.getinfo("pkg_model_numpy/.data/0.storage")
        stored = z.read(info)
    data[data.index(stored, info.header_offset)] ^= 0x01
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    for args in ([source, damaged], [damaged, source], ["--json", source, damaged]):
        result = run(tpkg_bin, "diff", *args)
        assert result.returncode == 1, result.stdout.decode()
        assert result.stdout == b""
        err = result.stderr.decode()
        assert err.count("\n") == 1, err
        assert err.startswith(f"tpkg: {damaged}: record 'pkg_model_numpy/.data/0.storage': "
                              "CRC-32 mismatch"), err


def test_torch_export_archive_without_torch_save_inside_is_an_error(tpkg_bin, tmp_path):
    path = tmp_path / "model.pt2"
    with zipfile.ZipFile(path, "w") as z:
        for name in ("serialized_exported_program.json", "serialized_state_dict.pt", "version"):
            z.writestr(name, "{}")
    result = run(tpkg_bin, "tensors", path)
    assert result.returncode == 1
    assert "serialized_state_dict.pt is no torch.save file" in result.stderr.decode()
