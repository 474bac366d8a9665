"""What real PyTorch reports about an archive: reader, exporter, importer, tensors.

Calls that changed between PyTorch releases go through the small helpers at
the top (storage access), so the generator also runs on PyTorch 2.x.
"""
import hashlib
import os
import shutil
import zipfile

import torch
from torch.package import PackageImporter

# Folder (relative to the output folder) where archives are unpacked to be
# loaded as directories; removed by make_corpus.py.
UNPACKED = "_build_tmp"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def one_line_error(e):
    """'Type: first line of the message', as the facts record errors."""
    text = str(e)
    return "%s: %s" % (type(e).__name__, text.splitlines()[0] if text else "")


# --- storages: Tensor.storage() is deprecated from PyTorch 2.0 on -----------

def storage_ptr(t):
    """Address of the memory behind `t`: equal for tensors that share a storage."""
    if hasattr(t, "untyped_storage"):
        return t.untyped_storage().data_ptr()
    return t.storage().data_ptr()


def storage_numel(t):
    """Number of elements of `t`'s dtype that its storage holds."""
    if hasattr(t, "untyped_storage"):
        return t.untyped_storage().nbytes() // t.element_size()
    return t.storage().size()


def describe_tensor(t):
    """Layout, sums, small value lists and a digest of the contiguous bytes of `t`."""
    facts = {
        "type": type(t).__name__,
        "dtype": str(t.dtype),
        "shape": list(t.shape),
        "stride": list(t.stride()),
        "storage_offset": t.storage_offset(),
        "storage_numel": storage_numel(t),
        "requires_grad": bool(t.requires_grad),
    }
    c = t.detach().contiguous()
    if c.is_complex():
        total = complex(c.to(torch.complex128).sum().item())
        facts["sum"] = [total.real, total.imag]
        values = [[z.real, z.imag] for z in c.to(torch.complex128).flatten().tolist()]
    elif c.dtype == torch.bool:
        facts["sum"] = int(c.sum().item())
        values = c.flatten().tolist()
    elif c.is_floating_point():
        facts["sum"] = float(c.to(torch.float64).sum().item())
        values = c.to(torch.float64).flatten().tolist()
    else:
        facts["sum"] = int(c.to(torch.int64).sum().item())
        values = c.flatten().tolist()
    if len(values) <= 32:
        facts["values_flat"] = values
    # Little-endian bytes of the contiguous tensor (not of its whole storage).
    raw = bytes(c.reshape(-1).view(torch.uint8).tolist()) if c.numel() else b""
    facts["contiguous_bytes_sha256"] = sha256(raw)
    return facts


def storage_groups(named):
    """Sorted groups of the names of `named` tensors that share one storage."""
    groups = {}
    for name, t in named.items():
        groups.setdefault(storage_ptr(t), []).append(name)
    return sorted(sorted(g) for g in groups.values())


# --- the reader, the exporter and the importer ------------------------------

def torch_reader_info(path):
    """What torch's C++ zip reader lists and which version record it finds."""
    facts = {}
    try:
        reader = torch._C.PyTorchFileReader(path)
        facts["get_all_records"] = reader.get_all_records()
        for record in (".data/version", "version"):
            if reader.has_record(record):
                facts["version_record"] = record
                facts["version_bytes"] = reader.get_record(record).decode("latin-1")
                break
    except Exception as e:  # a refusal is a fact too
        facts["error"] = one_line_error(e)
    return facts


def exporter_info(exporter, rdeps=(), paths=()):
    """The closed exporter's graph, module lists, get_rdeps(m) and all_paths(a, b)."""
    nodes = []
    for name, attrs in exporter.dependency_graph.nodes.items():
        action = attrs.get("action")
        nodes.append({"name": name,
                      "action": action.name if action is not None else None,
                      "is_package": attrs.get("is_package"),
                      "is_pickle": attrs.get("is_pickle", False)})
    facts = {
        "dependency_graph_string": exporter.dependency_graph_string(),
        "graph_nodes_in_insertion_order": nodes,
        "externed_modules": exporter.externed_modules(),
        "interned_modules": exporter.interned_modules(),
        "mocked_modules": exporter.mocked_modules(),
        "denied_modules": exporter.denied_modules(),
        "get_rdeps": {m: exporter.get_rdeps(m) for m in rdeps},
    }
    found = {}
    for src, dst in paths:
        try:
            result = exporter.all_paths(src, dst)
            text = result if isinstance(result, str) else "<%s object>" % type(result).__name__
            found["%s -> %s" % (src, dst)] = {"result": text}
        except Exception as e:  # PyTorch 1.13 raises here; recorded as is
            found["%s -> %s" % (src, dst)] = {"error": "%s: %s" % (type(e).__name__, e)}
    facts["all_paths"] = found
    return facts


def package_info(path):
    """The importer's view of the package metadata (`path` is its tree's root name)."""
    importer = PackageImporter(path)
    return {
        "extern_modules_raw": importer.zip_reader.get_record(".data/extern_modules").decode(),
        "extern_modules_list": list(importer.extern_modules),
        "python_version": importer.python_version(),
        "file_structure": str(importer.file_structure()),
        "file_structure_exclude_data": str(importer.file_structure(exclude=".data/**")),
    }


def unpack_without_prefix(path, dest):
    """Writes the records of `path` under `dest` without the prefix folder (a mount's view)."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            rel = name.split("/", 1)[1]
            target = os.path.join(dest, rel)
            if rel == "" or rel.endswith("/"):
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(archive.read(name))


def directory_load(case, path, verify):
    """PackageImporter("<case>_dir") on the unpacked records: what it sees and loads."""
    folder = case + "_dir"  # relative: it is the root of file_structure()
    os.makedirs(UNPACKED, exist_ok=True)
    unpack_without_prefix(path, os.path.join(UNPACKED, folder))
    cwd = os.getcwd()
    os.chdir(UNPACKED)
    facts = {"directory_name": folder}
    try:
        importer = PackageImporter(folder)
        facts["get_all_records_sorted"] = sorted(importer.zip_reader.get_all_records())
        facts["file_structure"] = str(importer.file_structure())
        facts["loads"] = verify(importer)
        facts["ok"] = True
    except Exception as e:  # TorchScript cannot load from a directory: a fact
        facts["ok"] = False
        facts["error"] = one_line_error(e)
    finally:
        os.chdir(cwd)
    return facts
