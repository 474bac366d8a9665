"""Reads of one large stored record, tpkgfs against the native file, alternating.

    python3 bench_read.py WORK_DIR ROUNDS NAME=TPKGFS_BINARY [NAME=TPKGFS_BINARY ...]

WORK_DIR holds big.pt and its native copy (as bench_mount.py leaves them with
KEEP=1). Each round mounts big.pt with every binary in turn (read/write, as
users mount) and, for each, drops the caches before every cold figure:

  first read    dd of .data/0.storage right after mount: includes the CRC pass
  cold re-read  dd again after dropping the caches (verdict kept)
  warm          dd again with everything cached
  random cold   5,000 random 4 KiB preads (randread.c) after dropping the caches

then measures the native file the same way. Rounds alternate the systems, so
that the load of other users of the machine hits all of them alike. Prints
the median of each figure and its ratio to native's median (seconds: lower is
better); asserts nothing. Needs root (drop_caches, mounting).
"""
import os
import pathlib
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
RECORD = ".data/0.storage"
RANDOM_READS = 5000


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def drop_caches():
    sh("sync; echo 3 > /proc/sys/vm/drop_caches")


def dd_seconds(path):
    t = time.perf_counter()
    sh(f"dd if={path} of=/dev/null bs=1M status=none")
    return time.perf_counter() - t


def random_seconds(work, path):
    out = subprocess.run([str(work / "randread"), str(path), str(RANDOM_READS)], check=True,
                         capture_output=True, text=True).stdout
    return float(out)


def measure(work, path, first_read):
    figures = {}
    drop_caches()
    if first_read:
        figures["first read s"] = dd_seconds(path)
        drop_caches()
    figures["cold re-read s"] = dd_seconds(path)
    figures["warm s"] = min(dd_seconds(path) for _ in range(3))
    drop_caches()
    figures["random cold s"] = random_seconds(work, path)
    return figures


def measure_mounted(work, binary):
    mnt = work / "mnt_read"
    mnt.mkdir(exist_ok=True)
    sh(f"{binary} {work / 'big.pt'} {mnt}")
    try:
        return measure(work, mnt / RECORD, first_read=True)
    finally:
        sh(f"{binary} -u {mnt} > /dev/null")


def main():
    work, rounds = pathlib.Path(sys.argv[1]).resolve(), int(sys.argv[2])
    systems = dict(arg.split("=", 1) for arg in sys.argv[3:])
    sh(f"cc -O2 -o {work / 'randread'} {HERE / 'randread.c'}")
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    runs = {name: [] for name in [*systems, "native"]}
    for _ in range(rounds):
        for name, binary in systems.items():
            runs[name].append(measure_mounted(work, binary))
        runs["native"].append(measure(work, work / "native" / "big" / RECORD, first_read=False))
    medians = {name: {m: statistics.median(r[m] for r in rs) for m in rs[0]}
               for name, rs in runs.items()}
    native = medians["native"]
    print(f"\n{'median seconds':<16}" + "".join(f"{n:>14}" for n in medians)
          + "".join(f"{n + '/native':>18}" for n in systems))
    for m in medians[next(iter(systems))]:
        base = native.get(m, native["cold re-read s"])  # a native first read is a cold read
        row = f"{m:<16}" + "".join(f"{medians[n].get(m, base):>14.3f}" for n in medians)
        row += "".join(f"{base / medians[n][m]:>17.2f}x" for n in systems)
        print(row)
    print("(ratio = native seconds / tpkgfs seconds: speed relative to native)")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
