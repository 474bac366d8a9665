#!/usr/bin/python3
"""Pickle-scanning throughput of `tpkg scan` against pickletools.genops on
the same files, in one run: figures and their ratio, never an assertion.

    scripts/bench_pickle_scan.py [--build-dir build] [--size-mb 64] [FILE ...]

Without FILEs it writes, in a temporary folder, the pickles a scanner meets:
a state dict of many small tensors' worth of entries (protocol 2, GLOBAL and
BINPUT heavy), the same at protocol 4 (STACK_GLOBAL, MEMOIZE, frames), and a
list of long strings (data heavy). Both sides read each file from the page
cache: `tpkg scan --format json FILE` is timed as a whole process (start-up
included, so large files are fairest; --size-mb sets their size), and
pickletools.genops walks every opcode of every pickle in the file in this
interpreter, without building anything, which is the least a Python scanner
(picklescan, fickling, modelscan) does. Best of --repeat runs each.

Wall-clock figures suffer when other work shares the machine; the CPU-time
columns (tpkg's user + system time from wait4, genops' process time) and
their ratio do much less. `max RSS` is tpkg's peak memory.
"""
import argparse
import collections
import io
import os
import pathlib
import pickle
import pickletools
import subprocess
import tempfile
import time


def make_files(folder, size_mb):
    target = size_mb * 1024 * 1024
    files = []
    entries = collections.OrderedDict()
    i = 0
    # Roughly what a state dict's pickle holds per tensor: names, a rebuild
    # call with a tuple of ints, a storage id.
    while True:
        entries[f"layer{i}.block.weight"] = (("storage", i, "cpu", 1024), 0, (32, 32), (32, 1), False)
        i += 1
        if i % 10000 == 0 and len(pickle.dumps(entries, protocol=2)) > target:
            break
    for protocol in (2, 4):
        path = folder / f"state_dict_p{protocol}.pkl"
        path.write_bytes(pickle.dumps(entries, protocol=protocol))
        files.append(path)
    strings = ["x" * 4096 + str(k) for k in range(target // 4100)]
    path = folder / "long_strings_p4.pkl"
    path.write_bytes(pickle.dumps(strings, protocol=4))
    files.append(path)
    return files


def genops_all(data):
    """Every opcode of every pickle in `data`, as a Python scanner walks them."""
    stream = io.BytesIO(data)
    count = 0
    while stream.tell() < len(data):
        for _op, _arg, _pos in pickletools.genops(stream):
            count += 1
    return count


def best(fn, repeat):
    """The smallest (wall, cpu, ...) tuple of `repeat` runs of fn, by wall time."""
    return min(fn() for _ in range(repeat))


def run_tpkg_scan(tpkg, path):
    """(wall seconds, CPU seconds, max RSS bytes) of one `tpkg scan` process."""
    start = time.perf_counter()
    child = subprocess.Popen([str(tpkg), "scan", "--format", "json", str(path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode == 2:
        raise SystemExit(f"tpkg scan could not read {path}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def run_genops(data):
    start, cpu = time.perf_counter(), time.process_time()
    genops_all(data)
    return time.perf_counter() - start, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("files", nargs="*", type=pathlib.Path)
    args = parser.parse_args()
    tpkg = pathlib.Path(args.build_dir) / "src" / "tools" / "tpkg"
    with tempfile.TemporaryDirectory() as tmp:
        files = args.files or make_files(pathlib.Path(tmp), args.size_mb)
        print(f"{'':28} {'':>7} {'tpkg scan MB/s':>15} {'max RSS':>8} {'genops MB/s':>13} "
              f"{'ratio':>12}")
        print(f"{'file':28} {'MB':>7} {'wall':>7} {'cpu':>7} {'MB':>8} {'wall':>6} {'cpu':>6} "
              f"{'wall':>5} {'cpu':>6}")
        for path in files:
            data = path.read_bytes()
            mb = len(data) / 1e6
            wall, cpu, rss = best(lambda: run_tpkg_scan(tpkg, path), args.repeat)
            g_wall, g_cpu = best(lambda: run_genops(data), args.repeat)
            print(f"{path.name:28} {mb:7.1f} {mb / wall:7.1f} {mb / cpu:7.1f} {rss / 1e6:8.0f} "
                  f"{mb / g_wall:6.1f} {mb / g_cpu:6.1f} {g_wall / wall:4.1f}x {g_cpu / cpu:5.1f}x")


if __name__ == "__main__":
    main()
