"""Cases about tensors and storages: views, dtypes, TorchScript, torch.fx, plain torch.save."""
import inspect
import io
import zipfile

import torch
import torch.package.package_exporter as package_exporter
from torch.package import PackageExporter, PackageImporter

from case_record import TORCH_SAVE, finish, new_facts
from interned_sources import import_source
from torch_facts import describe_tensor, exporter_info, one_line_error, sha256, storage_groups
from torch_facts import storage_ptr

# PyTorch 1.13 refuses to package TorchScript unless this flag is cleared.
TORCHSCRIPT_GATE = "_gate_torchscript_serialization"


def shared_views():
    case, archive = "pkg_shared_views", "pkg_shared_views.pt"
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {
        "base": base,
        "row2": base[2],
        "col3": base[:, 3],
        "t": base.t(),
        "block": base[1:3, 2:5],
        "flat_tail": base.view(-1)[20:],
    }
    slice_only = torch.arange(100, dtype=torch.int16)[40:45]
    with PackageExporter(archive) as exporter:
        exporter.save_pickle("views", "a.pkl", views)
        exporter.save_pickle("views", "b.pkl", {"again_base": base, "slice_only": slice_only})
    facts = new_facts(case, "Views of one float32 storage (row, column, transpose, block, flat "
                            "tail) in one pickle, the same base again in a second pickle, and five "
                            "int16 elements sliced from a 100-element storage, which is written "
                            "whole.")
    facts["export_calls"] = [
        "save_pickle('views', 'a.pkl', {base and 5 views})",
        "save_pickle('views', 'b.pkl', {'again_base': base, 'slice_only': int16[40:45]})"]
    facts["exporter"] = exporter_info(exporter)
    with zipfile.ZipFile(archive) as z:
        facts["storage_records"] = {
            n.split("/", 1)[1]: {"size": z.getinfo(n).file_size, "sha256": sha256(z.read(n))}
            for n in z.namelist() if n.endswith(".storage")}

    def verify(importer):
        a = importer.load_pickle("views", "a.pkl")
        b = importer.load_pickle("views", "b.pkl")
        return {
            "a.pkl": {k: describe_tensor(v) for k, v in a.items()},
            "b.pkl": {k: describe_tensor(v) for k, v in b.items()},
            "a.pkl_storage_groups": storage_groups(a),
            "b.pkl_storage_groups": storage_groups(b),
            "a.base_and_b.again_base_share_storage_after_load":
                storage_ptr(a["base"]) == storage_ptr(b["again_base"]),
        }
    finish(case, archive, facts, verify)
    return archive


def dtype_samples():
    return [
        ("float16", torch.tensor([1.0, -2.5, 65504.0, 0.0009765625], dtype=torch.float16)),
        ("bfloat16", torch.tensor([1.0, 3.0, -0.5], dtype=torch.bfloat16)),
        ("float32", torch.tensor([1.5, -2.25, 3.0], dtype=torch.float32)),
        ("float64", torch.tensor([1e300, -2.0, 0.1], dtype=torch.float64)),
        ("int8", torch.tensor([-128, 0, 127], dtype=torch.int8)),
        ("uint8", torch.tensor([0, 1, 255], dtype=torch.uint8)),
        ("int16", torch.tensor([-32768, 2, 32767], dtype=torch.int16)),
        ("int32", torch.tensor([-(2 ** 31), 7, 2 ** 31 - 1], dtype=torch.int32)),
        ("int64", torch.tensor([-(2 ** 63), 1, 2 ** 40], dtype=torch.int64)),
        ("bool", torch.tensor([True, False, True, True])),
        ("complex64", torch.tensor([1 + 2j, -3.5j, 0.25], dtype=torch.complex64)),
        ("complex128", torch.tensor([1e-3 - 1j, 2 + 0j], dtype=torch.complex128)),
        ("empty_float32", torch.empty(0, dtype=torch.float32)),
        ("scalar_int64", torch.tensor(42, dtype=torch.int64)),
        ("matrix_float32", torch.arange(6, dtype=torch.float32).reshape(2, 3)),
    ]


def dtypes():
    case, archive = "pkg_dtypes", "pkg_dtypes.pt"
    tensors = dict(dtype_samples())
    param = torch.nn.Parameter(torch.tensor([0.5, 0.25]))
    buffer = io.BytesIO()  # so the prefix folder inside is "archive", not the file name
    with PackageExporter(buffer) as exporter:
        exporter.save_pickle("tensors", "all.pkl", tensors)
        exporter.save_pickle("tensors", "param.pkl", param)
    with open(archive, "wb") as f:
        f.write(buffer.getvalue())
    facts = new_facts(case, "One tensor per dtype (half and bfloat16 to complex128, bool, an empty "
                            "and a 0-dim tensor) and an nn.Parameter. Exported to an in-memory "
                            "buffer, which names the prefix folder 'archive'.")
    facts["export_calls"] = ["PackageExporter(io.BytesIO())",
                             "save_pickle('tensors', 'all.pkl', {dtype-name: tensor})",
                             "save_pickle('tensors', 'param.pkl', nn.Parameter([0.5, 0.25]))"]
    facts["exporter"] = exporter_info(exporter)
    with zipfile.ZipFile(archive) as z:
        facts["storage_records"] = {}
        for n in z.namelist():
            if n.endswith(".storage"):
                data = z.read(n)
                facts["storage_records"][n.split("/", 1)[1]] = {"size": len(data),
                                                                "hex": data.hex()}

    def verify(importer):
        loaded = importer.load_pickle("tensors", "all.pkl")
        p = importer.load_pickle("tensors", "param.pkl")
        return {"all.pkl": {k: describe_tensor(v) for k, v in loaded.items()},
                "param.pkl": describe_tensor(p),
                "param_type": type(p).__name__}
    finish(case, archive, facts, verify)
    return archive


def torchscript():
    case, archive = "pkg_torchscript", "pkg_torchscript.pt"
    m = torch.jit.script(import_source("corpus_ts.affine").Affine())
    gated = hasattr(package_exporter, TORCHSCRIPT_GATE)
    gate_error = None
    try:  # what the default setting says
        with PackageExporter(io.BytesIO()) as probe:
            probe.save_pickle("m", "m.pkl", m)
    except Exception as e:
        gate_error = "%s: %s" % (type(e).__name__, e)
    if gated:
        setattr(package_exporter, TORCHSCRIPT_GATE, False)
    try:
        with PackageExporter(archive) as exporter:
            exporter.save_pickle("model", "scripted.pkl",
                                 {"script": m, "w_shared": m.w.detach(), "script_again": m})
            exporter.save_pickle("model", "scripted_alone.pkl", m)
    finally:
        if gated:
            setattr(package_exporter, TORCHSCRIPT_GATE, True)
    facts = new_facts(case, "A torch.jit.script module, pickled once with its weight as a plain "
                            "tensor (sharing its storage) and once alone, after clearing "
                            "torch.package.package_exporter._gate_torchscript_serialization. Its "
                            "code and constants go under .data/ts_code/.")
    facts["gate_error_when_flag_left_default"] = gate_error
    facts["export_calls"] = [
        "_gate_torchscript_serialization = False",
        "save_pickle('model', 'scripted.pkl', "
        "{'script': m, 'w_shared': m.w.detach(), 'script_again': m})",
        "save_pickle('model', 'scripted_alone.pkl', m)"]
    facts["exporter"] = exporter_info(exporter)
    with zipfile.ZipFile(archive) as z:
        facts["ts_code_files"] = {
            n.split("/", 1)[1]: (z.read(n).decode() if n.endswith(".py")
                                 else {"size": z.getinfo(n).file_size})
            for n in z.namelist() if "/.data/ts_code/code/" in n}
    x = torch.tensor([[1.0, 2.0, 3.0]])

    def verify(importer):
        o = importer.load_pickle("model", "scripted.pkl")
        alone = importer.load_pickle("model", "scripted_alone.pkl")
        with torch.no_grad():
            y = o["script"](x)
        return {
            "script_type": type(o["script"]).__name__,
            "script_is_script_again": o["script"] is o["script_again"],
            "output_for_[[1,2,3]]": describe_tensor(y),
            "w_shared": describe_tensor(o["w_shared"]),
            "w_shared_shares_storage_with_script_w":
                storage_ptr(o["w_shared"]) == storage_ptr(o["script"].w),
            "scripted_alone_output": describe_tensor(alone(x).detach()),
        }
    finish(case, archive, facts, verify)
    return archive


def fx_graph_module():
    case, archive = "pkg_fx_graph_module", "pkg_fx_graph_module.pt"
    import torch.fx

    class F(torch.nn.Module):  # its name is pickled with the GraphModule
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x):
            return torch.relu(self.lin(x)) + 1

    torch.manual_seed(2)
    gm = torch.fx.symbolic_trace(F())
    with PackageExporter(archive) as exporter:
        exporter.save_pickle("model", "gm.pkl", gm)
    facts = new_facts(case, "A torch.fx GraphModule, whose __reduce_package__ saves its generated "
                            "code as the module 'fx-generated._0' (a package name with a dash) "
                            "and nests the storages in the hook's arguments.")
    facts["export_calls"] = ["save_pickle('model', 'gm.pkl', torch.fx.symbolic_trace(F()))"]
    facts["exporter"] = exporter_info(exporter, rdeps=["torch"])
    with zipfile.ZipFile(archive) as z:
        facts["generated_source"] = z.read(case + "/fx-generated/_0.py").decode()
    x = torch.tensor([[0.5, -1.0]])

    def verify(importer):
        g = importer.load_pickle("model", "gm.pkl")
        with torch.no_grad():
            y = g(x)
        return {"output": describe_tensor(y), "code_contains_relu": "relu" in g.code}
    finish(case, archive, facts, verify)
    return archive


def _torch_load(path):
    # PyTorch 2.6 loads weights only by default; this file is ours, load it whole.
    if "weights_only" in inspect.signature(torch.load).parameters:
        return torch.load(path, weights_only=False)
    return torch.load(path)


def torch_save_checkpoint():
    case, archive = "torch_save_checkpoint", "torch_save_checkpoint.pth"
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    sd = model.state_dict()
    torch.save({"epoch": 7, "state_dict": sd, "first_weight_row": sd["0.weight"][1],
                "steps": torch.tensor([1, 2, 3], dtype=torch.int64)}, archive)
    facts = new_facts(case, "A checkpoint written by plain torch.save (zip format): data.pkl, "
                            "data/<key> storages and a top-level 'version'; no .data/ folder, so "
                            "torch.package refuses it.", kind=TORCH_SAVE)
    facts["save_call"] = ("torch.save({'epoch': 7, 'state_dict': sd, 'first_weight_row': "
                          "sd['0.weight'][1], 'steps': tensor}, 'torch_save_checkpoint.pth')")
    try:
        PackageImporter(archive)
        facts["package_importer_result"] = "opened (unexpected)"
    except Exception as e:
        facts["package_importer_result"] = one_line_error(e)

    def verify(path):
        o = _torch_load(path)
        state = o["state_dict"]
        return {
            "epoch": o["epoch"],
            "state_dict": {k: describe_tensor(v) for k, v in state.items()},
            "state_dict_type": type(state).__name__,
            "first_weight_row": describe_tensor(o["first_weight_row"]),
            "first_weight_row_shares_storage_with_0.weight":
                storage_ptr(o["first_weight_row"]) == storage_ptr(state["0.weight"]),
            "steps": describe_tensor(o["steps"]),
        }
    finish(case, archive, facts, verify)
    return archive
