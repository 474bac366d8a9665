"""Run with the stack's torch (/usr/bin/python3) by test_mount_torch_export.py.

    torch_export.py package OUT SOURCE      # PackageExporter: a pickle and module m
    torch_export.py checkpoint OUT VALUE    # torch.save({"a": full((4,), VALUE), ...})
    torch_export.py load-package ARCHIVE    # {"X": m.X, "t": [...], "externs": [...]}
    torch_export.py load-checkpoint ARCHIVE # {"a": [...], "b": [...]}
    torch_export.py rewrite ARCHIVE OUT     # torch's own writer over ARCHIVE's records
    torch_export.py serialization-id ARCHIVE SCRATCH  # {"ours": ARCHIVE's id, "torch": torch's}

`rewrite` feeds every record but `.data/serialization_id`, in order, to
torch._C.PyTorchFileWriter (what torch.save and PackageExporter write
through), so OUT is what torch writes for exactly those records
(tests/torch_writer.py); `serialization-id` does so in SCRATCH and compares
only the `.data/serialization_id` torch writes (for archives torch's writer
would not reproduce byte for byte: attributes, folder entries, deflate).
"""
import json
import pathlib
import sys
import warnings

import torch
from torch.package import PackageExporter, PackageImporter

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # tests/: torch_writer
from torch_writer import rewrite_with_torch, torch_serialization_id  # noqa: E402

warnings.simplefilter("ignore")  # TypedStorage deprecation in torch 2.x's exporter


def package(out, source):
    with PackageExporter(out) as e:
        e.save_pickle("p", "obj.pkl", {"t": torch.arange(3.0)})
        e.save_source_string("m", source)


def checkpoint(out, value):
    torch.save({"a": torch.full((4,), float(value)), "b": torch.ones(2)}, out)


def load_package(archive):
    importer = PackageImporter(archive)
    m = importer.import_module("m")
    externs = importer.zip_reader.get_record(".data/extern_modules").decode().split()
    return {"X": m.X, "t": importer.load_pickle("p", "obj.pkl")["t"].tolist(), "externs": externs}


def load_checkpoint(archive):
    obj = torch.load(archive)
    return {"a": obj["a"].tolist(), "b": obj["b"].tolist()}


def rewrite(archive, out):
    rewrite_with_torch(archive, out)
    return {"same": pathlib.Path(archive).read_bytes() == pathlib.Path(out).read_bytes()}


def serialization_id(archive, scratch):
    ours, theirs = torch_serialization_id(archive, scratch)
    return {"ours": ours, "torch": theirs}


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "package":
        package(*args)
    elif command == "checkpoint":
        checkpoint(*args)
    else:
        result = {"load-package": load_package, "load-checkpoint": load_checkpoint,
                  "rewrite": rewrite, "serialization-id": serialization_id}[command](*args)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
