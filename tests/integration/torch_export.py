"""Run with the stack's torch (/usr/bin/python3) by test_mount_torch_export.py.

    torch_export.py package OUT SOURCE      # PackageExporter: a pickle and module m
    torch_export.py checkpoint OUT VALUE    # torch.save({"a": full((4,), VALUE), ...})
    torch_export.py load-package ARCHIVE    # {"X": m.X, "t": [...], "externs": [...]}
    torch_export.py load-checkpoint ARCHIVE # {"a": [...], "b": [...]}
    torch_export.py rewrite ARCHIVE OUT     # torch's own writer over ARCHIVE's records

`rewrite` feeds every record but `.data/serialization_id`, in order, to
torch._C.PyTorchFileWriter (what torch.save and PackageExporter write
through), so OUT is what torch writes for exactly those records.
"""
import json
import pathlib
import sys
import warnings
import zipfile

import torch
from torch.package import PackageExporter, PackageImporter

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
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        prefix = infos[0].filename.split("/", 1)[0] + "/"
        writer = torch._C.PyTorchFileWriter(out)
        for info in infos:
            name = info.filename[len(prefix):]
            if name != ".data/serialization_id":
                data = zf.read(info)
                writer.write_record(name, data, len(data))
        writer.write_end_of_file()
        del writer
    return {"same": pathlib.Path(archive).read_bytes() == pathlib.Path(out).read_bytes()}


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "package":
        package(*args)
    elif command == "checkpoint":
        checkpoint(*args)
    else:
        result = {"load-package": load_package, "load-checkpoint": load_checkpoint,
                  "rewrite": rewrite}[command](*args)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
