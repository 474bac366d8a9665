"""A small write into a large stored record through a real mount costs what
the write costs (tpkg/record_patch.h): the journal keeps the 64 KiB chunk it
touched, not a copy of the record; reads through the mount merge; the save
writes the merged record, and real torch loads the patched tensor."""
import json
import os
import struct
import subprocess

from writing import PYTHON, session

ELEMENTS = 4 * 1024 * 1024  # a 16 MiB float32 storage
CHUNK = 64 * 1024

MAKE = r"""
import sys, torch
from torch.package import PackageExporter
t = torch.arange(int(sys.argv[2]), dtype=torch.float32)
with PackageExporter(sys.argv[1]) as e:
    e.save_pickle("model", "weights.pkl", {"w": t})
"""

LOAD = r"""
import json, sys, torch
from torch.package import PackageImporter
w = PackageImporter(sys.argv[1]).load_pickle("model", "weights.pkl")["w"]
k = int(sys.argv[2])
expected = torch.arange(w.numel(), dtype=torch.float32)
expected[k] = 42.0
print(json.dumps({"numel": w.numel(), "at": float(w[k]), "equal": bool(torch.equal(w, expected))}))
"""


def journal_data_bytes(archive):
    data = archive.parent / f".{archive.name}.tpkgfs" / "data"
    return sum(os.stat(data / n).st_blocks * 512 for n in os.listdir(data))


def test_a_four_byte_write_into_a_16_mib_storage_copies_one_chunk(tmp_path):
    archive = tmp_path / "model.pt"
    run = subprocess.run([PYTHON, "-c", MAKE, str(archive), str(ELEMENTS)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    k = ELEMENTS // 2 + 3  # in the middle of a chunk
    with session(archive, tmp_path / "mnt") as m:
        storages = sorted((m.path / ".data").glob("*.storage"), key=lambda p: p.stat().st_size)
        storage = storages[-1]
        assert storage.stat().st_size == ELEMENTS * 4
        fd = os.open(storage, os.O_RDWR)
        try:
            assert os.pwrite(fd, struct.pack("<f", 42.0), k * 4) == 4
            os.fsync(fd)
        finally:
            os.close(fd)
        assert journal_data_bytes(archive) <= 2 * CHUNK, "one chunk, not the record"
        with open(storage, "rb") as f:
            f.seek(k * 4 - 8)
            around = f.read(16)
            f.seek(0)
            whole = f.read()
        assert struct.unpack("<4f", around) == (k - 2, k - 1, 42.0, k + 1)
        assert len(whole) == ELEMENTS * 4
        assert struct.unpack_from("<f", whole, 4 * (ELEMENTS - 1))[0] == ELEMENTS - 1
    assert m.problems == []
    run = subprocess.run([PYTHON, "-c", LOAD, str(archive), str(k)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"numel": ELEMENTS, "at": 42.0, "equal": True}
