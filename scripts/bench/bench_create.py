"""Many small files: creating them through a read/write tpkgfs mount vs
fuse-zip vs a native folder, in one run.

    /usr/bin/python3 bench_create.py TPKGFS WORK_DIR [COUNT] [ROUNDS] [OTHER_TPKGFS]

Each round, for each system in turn (interleaved, so that load from other
users of the machine hits them alike): mount a fresh copy of a small package
made by real torch.package, create COUNT files of 1 KiB in a new folder
(open/write/close from one process, as `cp -r` or `tar x` would), then
unmount and wait until the daemon has exited (tpkgfs: the save; fuse-zip:
its rewrite of the archive). tpkgfs acknowledges every create once it is in
its journal (a killed daemon keeps it), and its group commit makes it durable
against a machine crash by a background sync shared with the creates around
it; the native folder gets a final `sync -f` so that its figure includes
reaching the disk once. OTHER_TPKGFS (optional) is
another tpkgfs binary measured alike, e.g. the build before a change.

Prints the median seconds of each figure and its ratio to native; the load
average before and after.
"""
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

import fuse_daemon
from fuse_daemon import daemon_pid

HERE = pathlib.Path(__file__).resolve().parent


def make_package(path):
    subprocess.run(["/usr/bin/python3", "-c", f"""
import torch
from torch.package import PackageExporter
with PackageExporter({str(path)!r}) as e:
    e.save_source_string("small", "X = 1\\n")
    e.save_pickle("small", "data.pkl", torch.arange(10))
"""], check=True)


def wait_gone(pid, seconds=300):
    fuse_daemon.wait_gone(pid, seconds, " (another mount namespace holding a copy? "
                          "see scripts/detach_fuse_copies.sh)")


def create_files(folder, count):
    folder.mkdir()
    body = b"x" * 1024
    start = time.perf_counter()
    for i in range(count):
        with open(folder / f"f{i:05d}.txt", "wb") as f:
            f.write(body)
    return time.perf_counter() - start


def one_round(name, mount_cmd, package, work, count):
    """(create seconds, unmount-until-saved seconds) for one system."""
    run = work / f"{name}_run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    if mount_cmd is None:
        seconds = create_files(run / "new", count)
        start = time.perf_counter()
        subprocess.run(["sync", "-f", str(run)], check=True)
        return seconds, time.perf_counter() - start
    archive, mnt = run / "small.pt", run / "mnt"
    shutil.copy(package, archive)
    mnt.mkdir()
    subprocess.run(mount_cmd + [str(archive), str(mnt)], check=True)
    pid = daemon_pid(mnt)
    try:
        seconds = create_files(mnt / "new", count)
    finally:
        start = time.perf_counter()
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        wait_gone(pid)
    return seconds, time.perf_counter() - start


def main():
    tpkgfs, work = sys.argv[1], pathlib.Path(sys.argv[2]).resolve()
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    systems = [("native", None), ("tpkgfs", [tpkgfs])]
    if len(sys.argv) > 5:
        systems.append(("tpkgfs-other", [sys.argv[5]]))
    systems.append(("fuse-zip", ["fuse-zip"]))
    work.mkdir(parents=True, exist_ok=True)
    package = work / "small.pt"
    make_package(package)
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}, files: {count}")
    results = {name: ([], []) for name, _ in systems}
    for _ in range(rounds):
        for name, cmd in systems:
            create, save = one_round(name, cmd, package, work, count)
            results[name][0].append(create)
            results[name][1].append(save)
    base = [statistics.median(v) for v in results["native"]]
    print(f"{'system':<14}{'create s':>10}{'ratio':>9}{'per file ms':>13}"
          f"{'unmount/sync s':>16}{'total s':>10}{'ratio':>9}")
    for name, (creates, saves) in results.items():
        c, s = statistics.median(creates), statistics.median(saves)
        print(f"{name:<14}{c:>10.3f}{c / base[0]:>8.2f}x{c / count * 1000:>13.3f}"
              f"{s:>16.3f}{c + s:>10.3f}{(c + s) / sum(base):>8.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
