"""`tpkg modules`, `check`, `tensors` and `info` of torch.export archives (`.pt2`), against what
torch.export.load of the stack's torch does with them (torch 2.x, Debian 13) and, on every stack,
against the torch 2.6 sample in tests/data/torch2 read with Python's own zipfile and pickletools."""
import collections
import io
import json
import pathlib
import pickletools
import subprocess
import textwrap
import zipfile

import pytest

TORCH_PYTHON = "/usr/bin/python3"
SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "data" / "torch2" / "exported.pt2"
NESTED = ("serialized_state_dict.pt", "serialized_constants.pt", "serialized_example_inputs.pt")


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=300, **kwargs)


def tpkg_json(tpkg_bin, *args):
    result = run(tpkg_bin, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def torch_python(script, *args, cwd=None):
    result = run(TORCH_PYTHON, "-c", textwrap.dedent(script), *args, cwd=cwd)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def torch_exports():
    """Whether the stack's torch has torch.export.save/load (torch 2.x)."""
    return torch_python("""
        import json, torch
        print(json.dumps(hasattr(torch, "export") and hasattr(torch.export, "load")))
    """)


def need_torch_export(torch_exports):
    if not torch_exports:
        pytest.skip("the stack's torch has no torch.export (torch 1.x): Debian 13 runs this")


# ------------------------------------------------------------------ modules


def pickle_modules(data):
    """The modules of a pickle's globals, as Python's pickletools decodes them."""
    modules, strings = [], []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            modules.append(arg.split(" ")[0])
        elif op.name == "STACK_GLOBAL":
            modules.append(strings[-2])
        if isinstance(arg, str):
            strings.append(arg)
    return modules


def test_pt2_modules_are_the_globals_of_its_nested_pickles(tpkg_bin):
    want = collections.OrderedDict()
    with zipfile.ZipFile(SAMPLE) as outer:
        for name in NESTED:
            with zipfile.ZipFile(io.BytesIO(outer.read(name))) as inner:
                pkl = next(n for n in inner.namelist() if n.endswith("/data.pkl"))
                for module in pickle_modules(inner.read(pkl)):
                    users = want.setdefault(module, [])
                    if f"{name}/data.pkl" not in users:
                        users.append(f"{name}/data.pkl")
    doc = tpkg_json(tpkg_bin, "modules", SAMPLE)
    assert doc["kind"] == "torch.export" and doc["problems"] == []
    assert {m["name"]: m["needed_by"] for m in doc["modules"]} == dict(want)
    assert all(m["action"] == "extern" for m in doc["modules"])
    text = run(tpkg_bin, "modules", SAMPLE).stdout.decode()
    assert "no Python modules" not in text
    assert "  aten (torch): linear.default x2, relu.default, mul.Tensor\n" in text


LOADED_TARGETS = """
    import collections, json, operator, sys, warnings
    import torch
    from torch._export.serde.serialize import GraphModuleSerializer
    warnings.simplefilter("ignore")
    out = {}
    for path in sys.argv[1:]:
        ep = torch.export.load(path)
        calls = collections.Counter()
        for module in ep.graph_module.modules():
            if not isinstance(module, torch.fx.GraphModule):
                continue
            for node in module.graph.nodes:
                # getitem nodes are re-created from a node's outputs, never serialized
                if node.op == "call_function" and node.target is not operator.getitem:
                    calls[GraphModuleSerializer.serialize_operator(None, node.target)] += 1
        out[path] = calls
    print(json.dumps(out))
"""

EXPORT_MODELS = """
    import sys, warnings, torch
    warnings.simplefilter("ignore")

    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(3, 4)

        def forward(self, x):
            a, b = torch.split(self.l(x), 2, dim=1)
            y = torch.cond(a.sum() > 0, lambda t: t.relu(), lambda t: t.neg(), (b,))
            return y + a.softmax(dim=1)

    torch.export.save(torch.export.export(Branchy(), (torch.ones(1, 3),)), "branchy.pt2")
    print("{}")
"""


def test_pt2_operators_equal_what_torch_export_load_builds(tpkg_bin, torch_exports, tmp_path):
    need_torch_export(torch_exports)
    torch_python(EXPORT_MODELS, cwd=tmp_path)
    files = [str(SAMPLE), str(tmp_path / "branchy.pt2")]
    loaded = torch_python(LOADED_TARGETS, *files)
    for path in files:
        ours = tpkg_json(tpkg_bin, "modules", path)["operators"]
        assert {op["target"]: op["calls"] for op in ours} == loaded[path], path
        assert all(op["registered_by"] == "torch" and op["problem"] is None for op in ours)
    assert "torch.ops.higher_order.cond" in loaded[files[1]]  # the nested graphs were read


CUSTOM_OP = """
    import sys, warnings, torch
    warnings.simplefilter("ignore")

    @torch.library.custom_op("tpkgtest::scale", mutates_args=())
    def scale(x: torch.Tensor, f: float) -> torch.Tensor:
        return x * f

    @scale.register_fake
    def _(x, f):
        return torch.empty_like(x)

    class Scaled(torch.nn.Module):
        def forward(self, x):
            return scale(x.relu(), 2.0)

    if sys.argv[1] == "save":
        torch.export.save(torch.export.export(Scaled(), (torch.ones(2),)), "custom.pt2")
        print("{}")
    else:  # load, with the library that defines tpkgtest:: loaded (this script)
        print('"%s"' % type(torch.export.load("custom.pt2")).__name__)
"""

LOAD_WITHOUT_LIBRARY = """
    import json, warnings, torch
    warnings.simplefilter("ignore")
    try:
        torch.export.load("custom.pt2")
        print(json.dumps("loaded"))
    except Exception as e:
        print(json.dumps(str(e)))
"""


def test_pt2_custom_namespace_needs_its_library(tpkg_bin, torch_exports, tmp_path):
    need_torch_export(torch_exports)
    torch_python(CUSTOM_OP, "save", cwd=tmp_path)
    failure = torch_python(LOAD_WITHOUT_LIBRARY, cwd=tmp_path)
    assert "torch.ops.tpkgtest.scale.default" in failure  # torch fails on that node
    assert torch_python(CUSTOM_OP, "load", cwd=tmp_path) == "ExportedProgram"
    ours = tpkg_json(tpkg_bin, "modules", tmp_path / "custom.pt2")["operators"]
    custom = [op for op in ours if op["namespace"] == "tpkgtest"]
    assert [(op["target"], op["registered_by"]) for op in custom] == \
        [("torch.ops.tpkgtest.scale.default", None)]
    text = run(tpkg_bin, "modules", tmp_path / "custom.pt2").stdout.decode()
    assert "  tpkgtest (not torch: load the library that defines tpkgtest:: before " \
           "torch.export.load): scale.default\n" in text


def program_pt2(path, targets):
    """A .pt2 whose program calls `targets` (its other records copied from the sample)."""
    nodes = [{"target": t, "inputs": [], "outputs": []} for t in targets]
    with zipfile.ZipFile(SAMPLE) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "serialized_exported_program.json":
                program = json.loads(data)
                program["graph_module"]["graph"]["nodes"] = nodes
                data = json.dumps(program)
            out.writestr(info.filename, data)
    return path


def test_the_namespaces_torch_registers_are_said_to_be_torchs(tpkg_bin, torch_exports, tmp_path):
    need_torch_export(torch_exports)
    namespaces = torch_python("""
        import json, torch
        print(json.dumps(sorted({s.name.split("::")[0] for s in torch._C._jit_get_all_schemas()})))
    """)
    targets = [f"torch.ops.{ns}.op.default" for ns in namespaces]
    path = program_pt2(tmp_path / "namespaces.pt2",
                       targets + ["torch.ops.tpkg_nowhere.op.default", "_operator.add"])
    ours = {op["target"]: op for op in tpkg_json(tpkg_bin, "modules", path)["operators"]}
    assert {t: ours[t]["registered_by"] for t in targets} == {t: "torch" for t in targets}
    assert ours["torch.ops.tpkg_nowhere.op.default"]["registered_by"] is None
    assert ours["_operator.add"]["registered_by"] == "python"


# ------------------------------------------------------------------ check


def variant(tmp_path, name, skip=(), replace=None, extra=(), prefix=""):
    path = tmp_path / name
    with zipfile.ZipFile(SAMPLE) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            if info.filename in skip:
                continue
            data = (replace or {}).get(info.filename, src.read(info.filename))
            out.writestr(prefix + info.filename, data)
        for record, data in extra:
            out.writestr(record, data)
    return path


# name -> (how it is made, what `tpkg check` says, or None when it passes)
CHECK_CASES = {
    "sample.pt2": ({}, None),
    "extra_ok.pt2": ({"extra": [("extra_files/notes.txt", "hello")]}, None),
    "no_version.pt2": ({"skip": {"version"}}, "version: missing"),
    "schema9.pt2": ({"replace": {"version": b"9.0"}}, "version: schema 9.0"),
    "bad_constants.pt2": ({"replace": {"serialized_constants.pt": b"junk"}},
                          "serialized_constants.pt is no torch.save file"),
    "bad_extra.pt2": ({"extra": [("extra_filesnotes", "x")]}, "extra_filesnotes: torch 2.6"),
    "prefixed.pt2": ({"prefix": "model/"}, "serialized_exported_program.json: missing"),
    "no_inputs.pt2": ({"skip": {"serialized_example_inputs.pt"}},
                      "serialized_example_inputs.pt: missing"),
}


def test_check_accepts_what_torch_writes_and_reports_what_it_would_not_load(
        tpkg_bin, torch_exports, tmp_path):
    paths = {}
    for name, (how, want) in CHECK_CASES.items():
        path = SAMPLE if name == "sample.pt2" else variant(tmp_path, name, **how)
        paths[name] = path
        result = run(tpkg_bin, "check", path)
        text = result.stdout.decode()
        if want is None:
            assert result.returncode == 0, (name, text, result.stderr)
            assert text == f"{path}: ok (format; whether it is safe to load is tpkg scan's job)\n"
        else:
            assert result.returncode == 1, (name, text)
            assert f"{path}: {want}" in text, (name, text)
            assert result.stderr == b""
    if not torch_exports:
        return
    loads = torch_python("""
        import json, sys, warnings, torch
        warnings.simplefilter("ignore")
        out = {}
        for path in sys.argv[1:]:
            try:
                torch.export.load(path)
                out[path] = True
            except BaseException:
                out[path] = False
        print(json.dumps(out))
    """, *[str(p) for p in paths.values()])
    for name, path in paths.items():
        assert loads[str(path)] == (CHECK_CASES[name][1] is None), name


# ------------------------------------------------------------------ newer weights


def test_a_weights_config_tpkg_cannot_read_gets_one_line_naming_it(tpkg_bin, tmp_path):
    # The layout torch >= 2.7 writes (no such torch on either stack: only the names are used,
    # no content is assumed): the weights are described by a JSON config.
    path = tmp_path / "newer.pt2"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/archive_format", "pt2")
        z.writestr("archive/models/model.json", "{}")
        z.writestr("archive/data/weights/model_weights_config.json", "{}")
        z.writestr("archive/data/weights/weight_0", b"\0" * 16)
        z.writestr("archive/version", "0")
    record = "data/weights/model_weights_config.json"
    tensors = run(tpkg_bin, "tensors", path)
    assert tensors.returncode == 1 and tensors.stdout == b""
    lines = tensors.stderr.decode().splitlines()
    assert len(lines) == 1 and record in lines[0] and "does not read" in lines[0], lines
    info = tpkg_json(tpkg_bin, "info", path)
    assert info["kind"] == "torch.export"
    assert len(info["problems"]) == 1 and record in info["problems"][0]
    text = run(tpkg_bin, "info", path)
    assert text.returncode == 0 and record in text.stdout.decode()
