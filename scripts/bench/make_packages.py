"""Generates the benchmark packages (standard library only, no torch needed).

    python3 make_packages.py OUT_DIR

big.pt   about 2 GiB: one 768 MiB storage, ten 128 MiB storages, a few
         sources and a pickle-sized record.
many.pt  5,000 records: 4,000 Python sources (1-8 KiB) in 100 packages,
         1,000 small storages, plus .data/version and extern_modules.

Both are laid out as PyTorch writes them (doc/format.md §2.2): one prefix
folder, stored records, every record's data 64-byte aligned through an
`FB` padding extra field.
"""
import os
import random
import struct
import sys
import zipfile

MIB = 1024 * 1024


def aligned_info(zf, name, size):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 0  # like PyTorch: "made by" 0, no Unix mode bits
    info.external_attr = 0
    start = zf.fp.tell() + 30 + len(name.encode()) + 4
    pad = (64 - start % 64) % 64
    info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
    info.file_size = size
    return info


def write_record(zf, name, chunks, size):
    info = aligned_info(zf, name, size)
    with zf.open(info, "w", force_zip64=size >= 0xFFFFFFFF) as out:
        for chunk in chunks:
            out.write(chunk)


def blocks(size, seed):
    """`size` bytes of pseudo-random data, produced 8 MiB at a time."""
    rng = random.Random(seed)
    base = rng.randbytes(8 * MIB)
    done = 0
    while done < size:
        n = min(8 * MIB, size - done)
        # Vary each block so that nothing below us can deduplicate it.
        yield struct.pack("<Q", done) + base[8:n]
        done += n


def make_big(path):
    with zipfile.ZipFile(path, "w") as zf:
        write_record(zf, "big/.data/version", [b"6\n"], 2)
        write_record(zf, "big/.data/extern_modules", [b"torch\n"], 6)
        for i, size in enumerate([768 * MIB] + [128 * MIB] * 10):
            write_record(zf, f"big/.data/{i}.storage", blocks(size, i), size)
        for i in range(20):
            src = (f"# module {i}\nimport torch\n\n" + "x = 1\n" * 500).encode()
            write_record(zf, f"big/model/mod{i}.py", [src], len(src))
        pkl = os.urandom(4096)
        write_record(zf, "big/model/model.pkl", [pkl], len(pkl))


def make_many(path):
    rng = random.Random(5)
    with zipfile.ZipFile(path, "w") as zf:
        write_record(zf, "many/.data/version", [b"6\n"], 2)
        write_record(zf, "many/.data/extern_modules", [b"torch\nnumpy\n"], 12)
        for p in range(100):
            for m in range(40):
                body = "".join(f"def f{k}(x):\n    return x + {k}\n\n"
                               for k in range(rng.randint(20, 250))).encode()
                name = f"many/pkg{p:03d}/{'__init__' if m == 0 else f'mod{m:02d}'}.py"
                write_record(zf, name, [body], len(body))
        for s in range(998):
            data = rng.randbytes(rng.randint(64, 16384))
            write_record(zf, f"many/.data/{s}.storage", [data], len(data))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    make_big(os.path.join(out, "big.pt"))
    make_many(os.path.join(out, "many.pt"))


if __name__ == "__main__":
    main()
