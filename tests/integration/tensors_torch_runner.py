"""What torch's own loaders build from model files: every tensor, its place in
the loaded object, and the facts `tpkg tensors` reports (run by
test_tpkg_inspect.py in a separate /usr/bin/python3 with real torch).

    /usr/bin/python3 tensors_torch_runner.py CASES_JSON   ->  JSON on stdout

CASES_JSON: [{"file": path, "kind": "torch.package"|"torch.save"|"torchscript"|"torch.export",
              "pickles": [record, ...]}, ...]
Result per file: {pickle record: [{"path", "dtype", "shape", "stride", "storage_offset",
"requires_grad", "parameter", "storage_bytes", "storage"}], ...} where "storage" numbers the
distinct non-empty storages of one load in first-seen order (to compare sharing), or
{"error": "..."} when torch cannot load it.

The walk mirrors the place rules of tpkg/pickle_tensors.h on the loaded objects: dict keys,
list/tuple indexes, object attributes (vars()), an nn.Module's _parameters / _buffers /
_modules left out of the path; each tensor once, at its first place. A TorchScript file is
compared through its state_dict (parameters and buffers), which names the same places.
"""
import io
import json
import sys
import zipfile

import torch
from torch.package import PackageImporter

HIDDEN = {"_parameters", "_buffers", "_modules"}


def join(path, part):
    return str(part) if path == "" else f"{path}.{part}"


def storage_of(t):
    if hasattr(t, "untyped_storage"):
        s = t.untyped_storage()
        return s.data_ptr(), s.nbytes()
    s = t.storage()
    return s.data_ptr(), s.nbytes()


def facts(t, path, storages):
    ptr, nbytes = storage_of(t)
    number = None
    if nbytes > 0:
        number = storages.setdefault(ptr, len(storages))
    return {"path": path, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
            "stride": list(t.stride()), "storage_offset": t.storage_offset(),
            "requires_grad": t.requires_grad, "parameter": isinstance(t, torch.nn.Parameter),
            "storage_bytes": nbytes, "storage": number}


def walk(root):
    found, seen, storages = [], {}, {}
    pending = [(root, "")]
    while pending:
        obj, path = pending.pop()
        if id(obj) in seen:
            continue
        seen[id(obj)] = obj  # kept alive: a part made by an accessor must not lend its id
        if isinstance(obj, torch.Tensor) and obj.layout != torch.strided:
            # A sparse tensor: its parts, as torch's accessors name them.
            parts = ({"indices": obj._indices(), "values": obj._values()}
                     if obj.layout == torch.sparse_coo else
                     {"crow_indices": obj.crow_indices(), "col_indices": obj.col_indices(),
                      "values": obj.values()})
            pending.extend(reversed([(t, join(path, name)) for name, t in parts.items()]))
            continue
        if isinstance(obj, torch.Tensor):
            found.append(facts(obj, path, storages))
            if obj.is_quantized and obj.qscheme() in (torch.per_channel_affine,
                                                      torch.per_channel_affine_float_qparams):
                pending.extend([(obj.q_per_channel_zero_points(),
                                 join(path, "q_per_channel_zero_points")),
                                (obj.q_per_channel_scales(), join(path, "q_per_channel_scales"))])
            continue
        if isinstance(obj, torch.jit.ScriptModule):
            continue  # loaded from ts_code records by TorchScript, not by this pickle
        children = []
        if isinstance(obj, dict):
            children = [(v, join(path, k)) for k, v in obj.items()]
        elif isinstance(obj, (list, tuple)):
            children = [(v, join(path, i)) for i, v in enumerate(obj)]
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            children = [(v, path if k in HIDDEN else join(path, k)) for k, v in vars(obj).items()]
        pending.extend(reversed(children))
    return found


def script_module_tensors(module):
    storages = {}
    return [facts(t, name, storages) for name, t in module.state_dict(keep_vars=True).items()]


def load(case):
    path, kind = case["file"], case["kind"]
    if kind == "torch.save":
        return {"data.pkl": walk(torch.load(path, weights_only=False))}  # our own test files
    if kind == "torch.export":  # what torch.export.load deserializes: nested torch.save files
        with zipfile.ZipFile(path) as z:
            return {record: walk(torch.load(io.BytesIO(z.read(record.rsplit("/", 1)[0])),
                                            weights_only=False))
                    for record in case["pickles"]}
    if kind == "torchscript":
        return {"data.pkl": script_module_tensors(torch.jit.load(path))}
    importer = PackageImporter(path)
    out = {}
    for record in case["pickles"]:
        package, _, resource = record.rpartition("/")
        out[record] = walk(importer.load_pickle(package.replace("/", "."), resource))
    return out


def main():
    cases = json.loads(open(sys.argv[1]).read())
    result = {}
    for case in cases:
        try:
            result[case["file"]] = load(case)
        except Exception as e:  # reported, compared by the test
            result[case["file"]] = {"error": f"{type(e).__name__}: {e}"}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
