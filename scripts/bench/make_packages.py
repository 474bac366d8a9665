"""Generates the benchmark packages with real torch.package (/usr/bin/python3).

    /usr/bin/python3 make_packages.py OUT_DIR [big|many ...]

big.pt   about 2 GiB: one 768 MiB storage, ten 128 MiB storages (pickled
         tensors), and 20 interned sources.
many.pt  about 5,000 records: 4,000 interned Python sources (1-8 KiB) in 100
         packages, 1,000 small storages in one pickle, plus torch's own
         .data/version, .data/extern_modules and the pickle.

PackageExporter writes them as it writes any package (stored records, data
64-byte aligned, one prefix folder): what users mount.
"""
import random
import sys

import torch
from torch.package import PackageExporter

MIB = 1024 * 1024


def random_bytes_tensor(size, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (size,), dtype=torch.uint8, generator=gen)


def make_big(path):
    tensors = {"storage0": random_bytes_tensor(768 * MIB, 0)}
    for i in range(10):
        tensors[f"storage{i + 1}"] = random_bytes_tensor(128 * MIB, i + 1)
    with PackageExporter(path) as exporter:
        for i in range(20):
            exporter.save_source_string(f"model.mod{i}",
                                        f"# module {i}\nX = {i}\n\n" + "x = 1\n" * 500)
        exporter.save_pickle("model", "model.pkl", tensors)


def make_many(path):
    rng = random.Random(5)
    gen = torch.Generator().manual_seed(5)
    with PackageExporter(path) as exporter:
        for p in range(100):
            for m in range(40):
                body = "".join(f"def f{k}(x):\n    return x + {k}\n\n"
                               for k in range(rng.randint(20, 250)))
                name = f"pkg{p:03d}" if m == 0 else f"pkg{p:03d}.mod{m:02d}"
                exporter.save_source_string(name, body, is_package=(m == 0))
        storages = [torch.randint(0, 256, (rng.randint(64, 16384),), dtype=torch.uint8,
                                  generator=gen) for _ in range(1000)]
        exporter.save_pickle("data", "storages.pkl", storages)


def main():
    out = sys.argv[1]
    which = sys.argv[2:] or ["big", "many"]
    import os
    os.makedirs(out, exist_ok=True)
    if "big" in which:
        make_big(os.path.join(out, "big.pt"))
    if "many" in which:
        make_many(os.path.join(out, "many.pt"))


if __name__ == "__main__":
    main()
