#!/usr/bin/python3
"""Seed corpora for the libFuzzer targets, made from real torch files.

    make_seeds.py --out DIR ARCHIVE_OR_FOLDER...

Writes DIR/<target>/<name> for every target of tests/fuzz/meson.build:
whole archives for the archive readers, every pickle record for the pickle
scanner, every Python source record (plus a slice of the running Python's
standard library) for the import scanner, and small fixed scripts for the
journal and file-system targets (their inputs are edit scripts; see their
sources). Needs no torch: the archives are made beforehand (the build's
test corpus, tests/data/torch2).
"""
import argparse
import hashlib
import pathlib
import random
import sys
import sysconfig
import zipfile

ARCHIVE_TARGETS = ("zip_reader_fuzz", "metadata_fuzz", "write_round_trip_fuzz")
SCRIPT_TARGETS = ("journal_recovery_fuzz", "fs_ops_fuzz")
MAX_SEED = 1 << 20  # the fuzzers' -max_len is smaller; bigger seeds only cost time


def put(out, target, data):
    if len(data) > MAX_SEED:
        return
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def archives(paths):
    for p in paths:
        p = pathlib.Path(p)
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file() and f.suffix in (".pt", ".pth", ".zip", ".pt2"):
                yield f


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("inputs", nargs="+")
    args = ap.parse_args()
    counts = {}
    for archive in archives(args.inputs):
        data = archive.read_bytes()
        for t in ARCHIVE_TARGETS:
            put(args.out, t, data)
        try:
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    body = z.read(info)
                    if info.filename.endswith(".pkl"):
                        put(args.out, "pickle_scan_fuzz", body)
                    elif info.filename.endswith(".py"):
                        # First byte: the package the source belongs to.
                        put(args.out, "import_scan_fuzz", b"\x01" + body)
        except zipfile.BadZipFile:
            pass  # a deliberately broken archive: a seed for the readers only
    # Sources in every style the grammar allows: a slice of the stdlib.
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    for src in sorted(stdlib.glob("*.py"))[:120]:
        put(args.out, "import_scan_fuzz", b"\x00" + src.read_bytes())
    # Pickles of every protocol, made here by Python's own pickler.
    import pickle
    import collections
    values = [None, 1, -2**70, 1.5, "s\u00e9", b"b", [1, (2, 3)], {"k": {1, 2}},
              collections.OrderedDict(a=1), frozenset({1}), bytearray(b"x")]
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        put(args.out, "pickle_scan_fuzz", pickle.dumps(values, protocol=proto))
    # Edit scripts: random but fixed (the same seeds every run).
    rng = random.Random(20261204)
    for t in SCRIPT_TARGETS:
        for _ in range(16):
            put(args.out, t, bytes(rng.randrange(256) for _ in range(rng.randrange(8, 200))))
    for t in sorted(p.name for p in args.out.iterdir()):
        counts[t] = len(list((args.out / t).iterdir()))
    print(" ".join(f"{t}={n}" for t, n in counts.items()))


if __name__ == "__main__":
    sys.exit(main())
