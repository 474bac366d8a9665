#!/usr/bin/python3
"""Benchmark libtpkg's archive core; prints figures and ratios, asserts nothing.

(a) open + list a generated 5,000-record package: in process (bench_open:
    ZipReader::Open + a walk over entries, median of N runs; target <= 10 ms)
    and as a process (`tpkg ls`, against `unzip -Z1` as a baseline);
(b) `tpkg repack` of a generated 2 GB package against `cp` of the same file
    (both followed by an fsync of the output, since repack syncs before its
    rename; target <= 1.1x), warm page cache by default, `--cold` drops the
    caches before every timed run (root only; it slows the whole machine).

The packages are written by tests/tools/make_archive (libtpkg's writer) in a
temporary directory that is deleted at the end.

    /usr/bin/python3 scripts/bench_zip.py [--build-dir build] [--record-size 200] [--size-mb 2048]
                                          [--runs 3] [--cold]
"""
import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default=os.environ.get("TPKG_BUILD_DIR", REPO / "build"))
    p.add_argument("--records", type=int, default=5000)
    p.add_argument("--record-size", type=int, default=200,
                   help="bytes per record of the open + list package (5000: headers far apart)")
    p.add_argument("--size-mb", type=int, default=2048, help="size of the repack package")
    p.add_argument("--runs", type=int, default=3, help="timed runs of cp and repack each")
    p.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    p.add_argument("--workdir", default=None, help="where the packages go (default: a temp dir)")
    return p.parse_args()


def timed(argv, **kwargs):
    """Wall-clock seconds of one run of argv (which must succeed)."""
    start = time.perf_counter()
    subprocess.run([str(a) for a in argv], check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def median_ms(argv, runs):
    return statistics.median(timed(argv) for _ in range(runs)) * 1000


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def bench_open(tools, work, records, record_size):
    package = work / "open.pt"
    subprocess.run([tools["make_archive"], package, "--records", str(records), "--record-size",
                    str(record_size)], check=True)
    print(f"(a) open + list: {records} records of {record_size} bytes, "
          f"{package.stat().st_size / 1e6:.1f} MB")
    out = subprocess.run([tools["bench_open"], package, "100"], check=True, capture_output=True, text=True)
    print("    in process (bench_open):   " + out.stdout.strip())
    ls_ms = median_ms([tools["tpkg"], "ls", package], 30)
    unzip_ms = median_ms(["unzip", "-Z1", package], 30)
    print(f"    process `tpkg ls`:          median {ls_ms:.2f} ms (30 runs)")
    print(f"    baseline `unzip -Z1`:       median {unzip_ms:.2f} ms (30 runs)")
    print(f"    ratio tpkg ls / unzip -Z1:  {ls_ms / unzip_ms:.2f}x   (target: open+list <= 10 ms)")


def timed_copy(argv, out, cold):
    """One run from a clean state: no output file, no dirty pages left by the
    previous run (their writeback would be charged to this one)."""
    if out.exists():
        out.unlink()
    os.sync()
    if cold:
        drop_caches()
    return timed(argv)


def bench_repack(tools, work, size_mb, runs, cold):
    package = work / "big.pt"
    record_size = 10 << 20
    start = time.perf_counter()
    subprocess.run([tools["make_archive"], package, "--records", str(max(1, (size_mb << 20) // record_size)),
                    "--record-size", str(record_size)], check=True)
    os.sync()
    size = package.stat().st_size
    print(f"(b) repack: {size / 1e9:.2f} GB package written by libtpkg in "
          f"{time.perf_counter() - start:.1f} s; {'cold' if cold else 'warm'} cache, {runs} runs each")
    out = work / "out.pt"
    cp_sync = ["sh", "-c", f'cp "{package}" "{out}" && sync "{out}"']
    timed_copy(cp_sync, out, cold)  # warm-up: brings the input into the page cache
    repack = [tools["tpkg"], "repack", package, out]
    cp_s, repack_s = [], []
    for run in range(runs):  # alternate who goes first: the disk is shared and noisy
        first, second = (cp_s, cp_sync), (repack_s, repack)
        for times, argv in ((first, second) if run % 2 == 0 else (second, first)):
            times.append(timed_copy(argv, out, cold))
    identical = subprocess.run(["cmp", "-s", package, out]).returncode == 0
    cp_m, repack_m = statistics.median(cp_s), statistics.median(repack_s)
    print(f"    cp + sync:      median {cp_m:.2f} s  ({size / cp_m / 1e9:.2f} GB/s)  runs {fmt(cp_s)}")
    print(f"    tpkg repack:    median {repack_m:.2f} s  ({size / repack_m / 1e9:.2f} GB/s)  runs {fmt(repack_s)}")
    print(f"    ratio repack / cp: median {repack_m / cp_m:.2f}x, best {min(repack_s) / min(cp_s):.2f}x "
          f"(target <= 1.1x); output identical to input: {identical}")


def fmt(seconds):
    return " ".join(f"{s:.2f}" for s in seconds)


def main():
    args = parse_args()
    build = pathlib.Path(args.build_dir)
    tools = {"tpkg": build / "src/tools/tpkg", "make_archive": build / "tests/tools/make_archive",
             "bench_open": build / "tests/tools/bench_open"}
    for name, path in tools.items():
        if not path.exists():
            raise SystemExit(f"bench_zip: {path} is missing; build first (ninja -C {build})")
    work = pathlib.Path(tempfile.mkdtemp(prefix="tpkg-bench-", dir=args.workdir))
    try:
        bench_open(tools, work, args.records, args.record_size)
        bench_repack(tools, work, args.size_mb, args.runs, args.cold)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
