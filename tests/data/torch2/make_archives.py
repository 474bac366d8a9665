#!/usr/bin/python3
"""Write the torch 2.x test archives of this folder with real PyTorch 2.x.

    python3 tests/data/torch2/make_archives.py     # in a Debian 13 root: python3-torch 2.6

torch 1.13 (Debian 12) writes neither `byteorder` in packages nor
`.data/serialization_id`, so these archives cannot be made on the host: they
are committed, and this script is how they were made (GENERATED_BY says with
which torch). Every archive is written by torch itself (torch.save,
PackageExporter, or torch's own writer torch._C.PyTorchFileWriter for the
descriptor look-alikes); none is typed by hand or assembled by tpkg. The
script is deterministic: rerunning it rewrites the same bytes.

Pairs for the write-back tests: `X.pt` and `edited/X.pt` are what torch
writes for two states of the same objects, differing in the one record a user
would edit through a mount (the same basename, so the same prefix folder).
libtpkg's write-back of `X.pt` with that record edited must give
`edited/X.pt` byte for byte, its `.data/serialization_id` included;
`added/package.pt` is `package.pt` with one more module.

Model files of other kinds, for `tpkg info/modules/tree`: `scripted.pt`
(torch.jit.save) and `exported.pt2` (torch.export.save) of one small model.
"""
import pathlib
import platform
import shutil
import sys
import tempfile
import warnings

import torch
from torch.package import PackageExporter

HERE = pathlib.Path(__file__).resolve().parent

SOURCE = "import os\nX = 1\n"
EDITED_SOURCE = "import os\nX = 22  # edited\n"
ADDED_SOURCE = "Y = 3\n"


def save_checkpoints(out, first):
    """torch.save: data.pkl, byteorder, data/N, version, .data/serialization_id."""
    torch.save({"a": torch.full((4,), first), "b": torch.ones(2, 3)}, out / "save.pt")
    # byteorder left to the C++ writer: it comes after `version`, at the end.
    torch.save({"a": torch.full((4,), first)}, out / "save_nobyteorder.pt",
               _disable_byteorder_record=True)


def export_package(path, source, added=None):
    with PackageExporter(str(path)) as e:
        e.extern("os")
        e.save_pickle("p", "obj.pkl", {"t": torch.zeros(3)})
        e.save_source_string("m", source)
        if added is not None:
            e.save_source_string("added", added)


def write_records(path, records):
    """torch's own writer (what torch.save and PackageExporter write through)."""
    writer = torch._C.PyTorchFileWriter(str(path))
    for name, data in records:
        writer.write_record(name, data, len(data))
    writer.write_end_of_file()
    del writer


def write_lookalikes():
    """Writes that torch's id mistakes for data descriptors ("PK\\x07\\x08...")."""
    descriptor = b"PK\x07\x08"
    write_records(HERE / "lookalike_data.pt", [
        ("empty", b""),                                  # no descriptor at all
        ("split.zip", descriptor + bytes(range(1, 13))),  # data starting like a descriptor
        ("short", descriptor + b"abc"),                  # too short to count
        ("text.txt", b"hello\n"),
    ])
    # The prefix folder comes from the file name: "PK\x07\x08abcd/<name>" is a look-alike.
    with tempfile.TemporaryDirectory() as tmp:
        odd = pathlib.Path(tmp) / "PK\x07\x08abcd.pt"
        write_records(odd, [("a", b"hello"), ("bcdefgh", b"")])
        shutil.copyfile(odd, HERE / "lookalike_prefix.pt")


class TwoLayers(torch.nn.Module):
    """A small model for torch.jit.save and torch.export: two linear layers and a buffer."""

    def __init__(self):
        super().__init__()
        self.l0 = torch.nn.Linear(3, 4)
        self.l1 = torch.nn.Linear(4, 2)
        self.register_buffer("scale", torch.full((2,), 0.5))

    def forward(self, x):
        return self.l1(torch.relu(self.l0(x))) * self.scale


def save_program_files(out):
    """torch.jit.save (TorchScript) and torch.export.save (`.pt2`) of the same model.

    torch.export.save writes through Python's zipfile, which stamps every
    record with the current time: rerunning changes `exported.pt2`'s bytes in
    those timestamps only (its records are the same)."""
    torch.manual_seed(0)
    model = TwoLayers().eval()
    torch.jit.save(torch.jit.script(model), str(out / "scripted.pt"))
    program = torch.export.export(model, (torch.ones(1, 3),))
    torch.export.save(program, str(out / "exported.pt2"))


def main():
    warnings.simplefilter("ignore")  # TypedStorage deprecation, printed by the exporter
    if int(torch.__version__.split(".")[0]) < 2:
        sys.exit(f"needs torch 2.x, this is {torch.__version__}")
    (HERE / "edited").mkdir(exist_ok=True)
    (HERE / "added").mkdir(exist_ok=True)

    save_checkpoints(HERE, 1.0)
    save_checkpoints(HERE / "edited", 7.0)  # data/0 differs
    export_package(HERE / "package.pt", SOURCE)
    export_package(HERE / "edited" / "package.pt", EDITED_SOURCE)
    export_package(HERE / "added" / "package.pt", SOURCE, ADDED_SOURCE)

    # More names than the 13, 29 and 59 buckets of torch's std::unordered_set
    # of record names, whose iteration order the serialization id depends on.
    torch.save([torch.full((i % 5 + 1,), float(i)) for i in range(70)], HERE / "save_many.pt")
    with PackageExporter(str(HERE / "package_many.pt")) as e:
        for i in range(40):
            e.save_source_string(f"pkg.mod{i}", f"VALUE = {i}\n")
        e.save_source_string("pkg", "")
    write_lookalikes()
    save_program_files(HERE)

    (HERE / "GENERATED_BY").write_text(
        f"torch {torch.__version__}, Python {platform.python_version()}, "
        f"{pathlib.Path('/etc/debian_version').read_text().strip() if pathlib.Path('/etc/debian_version').exists() else '?'}\n")


if __name__ == "__main__":
    main()
