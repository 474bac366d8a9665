"""Loads each package from its archive and from its mount with real
torch.package and compares everything (run by test_mount_torch.py in a
separate /usr/bin/python3 so that mapped storages never outlive a mount).

    /usr/bin/python3 torch_compare.py CASES_JSON   ->  JSON on stdout

CASES_JSON: [{"case": name, "archive": path, "mount": path}, ...]
Result per case: {"records": [...], "file_structure": str, "compared": {record: problem-or-""},
"facts": {name: value}, "error": "ExcType: message" when loading from the mount failed}.
"""
import hashlib
import json
import re
import sys

import numpy as np
import torch
from torch.package import PackageImporter

MANGLE = re.compile(r"<torch_package_\d+>\.?")


def demangled(name):
    return MANGLE.sub("", name or "")


def type_name(obj):
    t = type(obj)
    return demangled(f"{t.__module__}.{t.__qualname__}")


def compare(a, b, path="", seen=None):
    """'' when a and b are equal values, else a description of the first difference."""
    seen = set() if seen is None else seen
    if type_name(a) != type_name(b):
        return f"{path}: type {type_name(a)} != {type_name(b)}"
    if isinstance(a, torch.Tensor):
        same = (a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride()
                and a.storage_offset() == b.storage_offset()
                and a.requires_grad == b.requires_grad and torch.equal(a, b))
        return "" if same else f"{path}: tensors differ"
    if isinstance(a, np.ndarray):
        return "" if a.dtype == b.dtype and np.array_equal(a, b) else f"{path}: arrays differ"
    if isinstance(a, (str, bytes, int, float, bool, complex, type(None))):
        return "" if a == b else f"{path}: {a!r} != {b!r}"
    if isinstance(a, torch.nn.Module):
        return compare(a.state_dict(), b.state_dict(), path + ".state_dict()", seen)
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        return next((d for k in a if (d := compare(a[k], b[k], f"{path}[{k!r}]", seen))), "")
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: lengths {len(a)} != {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b))
                     if (d := compare(x, y, f"{path}[{i}]", seen))), "")
    if callable(a) and not hasattr(a, "__dict__"):
        return ""  # builtins: the type name already matched
    if id(a) in seen:
        return ""
    seen.add(id(a))
    da, db = getattr(a, "__dict__", None), getattr(b, "__dict__", None)
    if da is None and db is None:
        return "" if repr(a) == repr(b) else f"{path}: {a!r} != {b!r}"
    return compare(dict(da or {}), dict(db or {}), path + ".__dict__", seen)


def package_records(records):
    """Records reachable through the importer API (not framework files)."""
    return [r for r in records
            if "/" in r and not r.endswith("/") and not r.startswith(".data/")]


def load(importer, record):
    """load_pickle for pickles, load_binary for every other resource or source."""
    package, _, resource = record.rpartition("/")
    package = package.replace("/", ".")
    if record.endswith(".pkl"):
        return importer.load_pickle(package, resource)
    return importer.load_binary(package, resource)


def tensor_sha(t):
    return hashlib.sha256(t.detach().contiguous().cpu().numpy().tobytes()).hexdigest() \
        if t.dtype != torch.bfloat16 else \
        hashlib.sha256(t.detach().contiguous().view(torch.int16).numpy().tobytes()).hexdigest()


def facts(case, mount_importer, loaded):
    """Cheap values that real torch recorded in the case's `loads`."""
    out = {}
    out["extern_modules"] = mount_importer.extern_modules
    for record, obj in loaded.items():
        if isinstance(obj, dict):
            shas = {k: tensor_sha(v) for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if shas:
                out[record.rpartition("/")[2] + ":sha256"] = shas
        if isinstance(obj, torch.nn.Module) and case in ("pkg_model_numpy", "pkg_deflated_by_zip_tool"):
            x = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 8
            out["output"] = obj(x).detach().flatten().tolist()
    return out


def run_case(case):
    zip_importer = PackageImporter(case["archive"])
    result = {"compared": {}}
    try:
        mount_importer = PackageImporter(case["mount"])
        result["records"] = sorted(mount_importer.zip_reader.get_all_records())
        result["file_structure"] = str(mount_importer.file_structure())
        loaded = {}
        for record in package_records(zip_importer.zip_reader.get_all_records()):
            want = load(zip_importer, record)
            got = load(mount_importer, record)
            result["compared"][record] = compare(want, got)
            loaded[record] = got
        result["facts"] = facts(case["case"], mount_importer, loaded)
    except Exception as e:  # reported, compared with what torch recorded
        result["error"] = f"{type(e).__name__}: {e}"
    return result


def main():
    cases = json.loads(sys.argv[1])
    json.dump({c["case"]: run_case(c) for c in cases}, sys.stdout)


if __name__ == "__main__":
    main()
