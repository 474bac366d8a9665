"""One benchmark run: tpkgfs vs fuse-zip vs the natively extracted directory.

    python3 bench_mount.py TPKGFS_BINARY WORK_DIR

Generates the packages with real torch.package (make_packages.py, run by
/usr/bin/python3) into WORK_DIR and extracts them natively. For each package it first times mounting (median of 6 runs with
warm caches and of 3 after dropping every cache), then mounts both file
systems at once and measures the three systems in interleaved rounds, so
that load from other users of the machine hits them alike:

  find / ls -lR / cat .py cold   first run after dropping caches (median of 3 rounds)
  find / ls -lR / cat .py warm   best of 5 rounds
  seq 1st read         tpkgfs: the first dd of the largest file on this mount,
                        caches dropped: it includes the record's CRC pass
                        (record_verifier.h); the other systems' first cold dd
  seq cold              dd of the largest file, caches dropped before each (median of 3)
  seq warm              dd again with everything cached (best of 5)
  rand 4K cold          20,000 random 4 KiB preads (randread.c), caches dropped (median of 3)
  rand 4K warm          100,000 random 4 KiB preads, best of 3
  peak RSS              the daemon's VmHWM after all of the above
  floor                 mount warm/cold of what no archive code can undercut, in the same
                        interleaved rounds: a minimal libfuse server (fuse_probe.c, serving
                        one tiny file, daemonized by libfuse after its mount) and tpkgfs on
                        a one-record archive; the ratios say how much of a mount is ours
  metadata 1st stat     tpkgfs: the first stat of .data/extern_modules, which
                        runs the package analysis, and VmHWM after it
  metadata ro stat      the same on a read-only mount of the same archive made after it
                        (the user's analysis disk cache then knows the package, if the
                        build uses it there)
  fresh analysis        the analysis alone at its dearest: a new daemon on a new copy
                        of the archive with an empty analysis disk cache, its first stat
                        of .data/extern_modules (every record read and scanned) and its
                        VmHWM after it (issue 15's bound on the analysis's memory; "peak
                        RSS after" above also counts what the reads before it left)

Prints a table with ratios against native: for seconds lower is better, for
MB/s higher is better. Needs root (drop_caches, mounting).

OTHER_TPKGFS=<another tpkgfs binary> (e.g. a build of main) adds it as the system
"tpkgfs-other", measured in the same interleaved rounds over its own copy of each
package (two read/write daemons never share an archive file), so that a change is
compared with its baseline in one run.
"""
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time
import zipfile

import fuse_daemon
from fuse_daemon import daemon_pid

HERE = pathlib.Path(__file__).resolve().parent
RANDOM_READS = 100_000


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def drop_caches():
    sh("sync; echo 3 > /proc/sys/vm/drop_caches")


def timed(cmd):
    t = time.perf_counter()
    sh(cmd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def extract_native(archive, dest):
    if dest.exists():
        return
    with zipfile.ZipFile(archive) as zf:
        prefix = zf.infolist()[0].filename.split("/")[0] + "/"
        for info in zf.infolist():
            target = dest / info.filename[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(8 << 20):
                    out.write(chunk)


def peak_rss_mib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


class System:
    """A way to present an archive as a directory: native, tpkgfs or fuse-zip."""

    def __init__(self, name, mount_cmd, root_of, own_copy=False, archive=None):
        self.name, self.mount_cmd, self.root_of = name, mount_cmd, root_of
        self.own_copy = own_copy  # mount a copy of the archive (another read/write daemon)
        self.archive = archive  # always mount this one (the floor's tiny archive)
        self.mnt = self.root = self.pid = self.served = None

    def mount(self, archive, work):
        """Mounts; returns the seconds until the mount command returned."""
        archive = self.archive or archive
        self.mnt = work / f"mnt_{self.name}_{archive.stem}"
        if self.own_copy:
            copy = work / "copies" / self.name / archive.name
            if not copy.exists():
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(archive, copy)
            archive = copy
        self.served = archive
        seconds = 0.0
        if self.mount_cmd:
            self.mnt.mkdir(parents=True, exist_ok=True)
            seconds = timed(self.mount_cmd.format(archive=archive, mnt=self.mnt))
            self.pid = daemon_pid(self.mnt)
        self.root = self.root_of(archive, self.mnt)
        return seconds

    def unmount(self):
        if not self.mount_cmd:
            return
        sh(f"fusermount3 -u {self.mnt}")
        fuse_daemon.wait_gone(self.pid, 30, f" ({self.name}, `fusermount3 -u {self.mnt}` "
                              f"succeeded){copies_of(self.mnt)}")


def copies_of(mountpoint):
    """Why a daemon outlives its unmount: other mount namespaces still holding a copy
    (scripts/detach_fuse_copies.sh)."""
    ours, holders = os.readlink("/proc/self/ns/mnt"), {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                namespace = os.readlink(f"/proc/{entry}/ns/mnt")
                lines = pathlib.Path(f"/proc/{entry}/mountinfo").read_text().splitlines()
            except OSError:
                continue
            if namespace != ours and any(line.split()[4] == str(mountpoint) for line in lines):
                holders.setdefault(namespace, int(entry))
    if not holders:
        return ""
    return "; still mounted in the mount namespace of " + ", ".join(
        f"pid {pid} ({pathlib.Path(f'/proc/{pid}/comm').read_text().strip()})"
        for pid in holders.values())


def mount_times(systems, archive, work):
    """{system: (warm ms, cold ms)}: median of 6 warm mounts (after one untimed) and of 3
    after dropping every cache, the systems interleaved round by round."""
    warm = {s.name: [] for s in systems}
    cold = {s.name: [] for s in systems}
    for i in range(10):
        for s in systems:
            if i >= 7:
                drop_caches()
            (cold if i >= 7 else warm)[s.name].append(s.mount(archive, work))
            s.unmount()
    return {name: (statistics.median(warm[name][1:]) * 1000, statistics.median(cold[name]) * 1000)
            for name in warm}


def cold_rounds(systems, command, rounds=3):
    """{system: median seconds}, caches dropped before every single run."""
    times = {s.name: [] for s in systems}
    for _ in range(rounds):
        for s in systems:
            drop_caches()
            times[s.name].append(timed(command(s)))
    return {name: statistics.median(t) for name, t in times.items()}


def warm_rounds(systems, command, rounds=5):
    """{system: best seconds} over interleaved rounds (after one untimed run each)."""
    for s in systems:
        timed(command(s))
    times = {s.name: [] for s in systems}
    for _ in range(rounds):
        for s in systems:
            times[s.name].append(timed(command(s)))
    return {name: min(t) for name, t in times.items()}


def random_reads(systems, path_of, work, count=RANDOM_READS, rounds=3, cold=False):
    """{system: MB/s}: best of `rounds` warm, or median of `rounds` with caches dropped."""
    times = {s.name: [] for s in systems}
    for _ in range(rounds):
        for s in systems:
            if cold:
                drop_caches()
            out = subprocess.run([str(work / "randread"), str(path_of(s)), str(count)],
                                 check=True, capture_output=True, text=True).stdout
            times[s.name].append(float(out))
    pick = statistics.median if cold else min
    return {name: count * 4096 / pick(t) / 1e6 for name, t in times.items()}


def floor_systems(tpkgfs, work):
    """The mount floor (module docstring): a minimal libfuse server and tpkgfs on one record."""
    tiny = work / "tiny.pt"
    if not tiny.exists():
        with zipfile.ZipFile(tiny, "w") as zf:
            zf.writestr("tiny/.data/version", "3\n")
    return [System("libfuse", f"FILE={tiny} {work / 'fuse_probe'} {{mnt}}", lambda a, m: m,
                   archive=tiny),
            System("tpkgfs-1rec", f"{tpkgfs} {{archive}} {{mnt}}", lambda a, m: m,
                   own_copy=True, archive=tiny)]


def measure(systems, archive, work, seq_file, floors=()):
    """{system: {metric: value}}; the floor systems only have the mount figures."""
    results = {s.name: {} for s in [*systems, *floors]}
    for name, (warm, cold) in mount_times([s for s in systems if s.mount_cmd] + list(floors),
                                          archive, work).items():
        results[name]["mount warm ms"], results[name]["mount cold ms"] = warm, cold
    for s in systems:
        s.mount(archive, work)
    try:
        def put(metric, values, convert=lambda v: v):
            for name, v in values.items():
                results[name][metric] = convert(v)

        find = lambda s: f"find {s.root} > /dev/null"
        cat = lambda s: f"find {s.root} -name '*.py' -print0 | xargs -0 cat > /dev/null"
        ls = lambda s: f"ls -lR {s.root} > /dev/null"
        put("find cold s", cold_rounds(systems, find))
        put("find warm s", warm_rounds(systems, find))
        put("ls -lR cold s", cold_rounds(systems, ls))
        put("ls -lR warm s", warm_rounds(systems, ls))
        put("cat .py cold s", cold_rounds(systems, cat))
        put("cat .py warm s", warm_rounds(systems, cat))
        if seq_file:
            size = (systems[0].root / seq_file).stat().st_size
            dd = lambda s: f"dd if={s.root / seq_file} of=/dev/null bs=1M status=none"
            put("seq 1st read MB/s", cold_rounds(systems, dd, rounds=1), lambda t: size / t / 1e6)
            put("seq cold MB/s", cold_rounds(systems, dd), lambda t: size / t / 1e6)
            put("seq warm MB/s", warm_rounds(systems, dd), lambda t: size / t / 1e6)
            put("rand 4K cold MB/s", random_reads(systems, lambda s: s.root / seq_file, work,
                                                  count=RANDOM_READS // 5, cold=True))
            put("rand 4K warm MB/s", random_reads(systems, lambda s: s.root / seq_file, work))
        for s in systems:
            if s.pid:
                results[s.name]["peak RSS MiB"] = peak_rss_mib(s.pid)
        # tpkgfs only: the first stat of a generated file runs the package
        # analysis (metadata.h); its time and the daemon's peak after it.
        for s in systems:
            if s.name.startswith("tpkgfs"):
                results[s.name]["metadata 1st stat ms"] = \
                    timed(f"stat {s.root}/.data/extern_modules") * 1000
                results[s.name]["peak RSS after MiB"] = peak_rss_mib(s.pid)
                results[s.name]["metadata ro stat ms"] = first_stat_read_only(s, work)
                ms, peak = fresh_analysis(s, work)
                results[s.name]["fresh analysis ms"] = ms
                results[s.name]["fresh analysis MiB"] = peak
    finally:
        for s in systems:
            s.unmount()
    return results


def first_stat_read_only(system, work):
    """Milliseconds of the first stat of .data/extern_modules on a fresh read-only mount (always
    allowed beside a read/write one) of the archive `system` serves."""
    ro = System(f"{system.name}-ro", system.mount_cmd.replace("{archive}", "-o ro {archive}"),
                lambda a, m: m, archive=system.served)
    ro.mount(None, work)
    try:
        return timed(f"stat {ro.root}/.data/extern_modules") * 1000
    finally:
        ro.unmount()


def fresh_analysis(system, work):
    """(ms, VmHWM MiB) of the first stat of .data/extern_modules by a new daemon on a new copy of
    the archive `system` serves, with an empty analysis disk cache: the analysis alone."""
    folder = work / f"fresh_{system.name}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "cache").mkdir(parents=True)
    copy = folder / system.served.name
    shutil.copyfile(system.served, copy)
    fresh = System(f"{system.name}-fresh",
                   f"TPKG_CACHE_DIR={folder / 'cache'} " + system.mount_cmd, lambda a, m: m)
    fresh.mount(copy, work)
    try:
        ms = timed(f"stat {fresh.root}/.data/extern_modules") * 1000
        return ms, peak_rss_mib(fresh.pid)
    finally:
        fresh.unmount()
        shutil.rmtree(folder, ignore_errors=True)


def print_floor(results, floor_results):
    """One line per floor system: its mount times, and each system's mount ratios to it."""
    for name, floor in floor_results.items():
        warm, cold = floor["mount warm ms"], floor["mount cold ms"]
        ratios = ", ".join(f"{s} {r['mount warm ms'] / warm:.1f}x/{r['mount cold ms'] / cold:.1f}x"
                           for s, r in results.items() if "mount warm ms" in r)
        print(f"floor {name:<12} mount warm {warm:6.2f} ms, cold {cold:6.2f} ms;"
              f" ratios (warm/cold) to it: {ratios}")


def print_table(title, results):
    systems = list(results)
    metrics = list(dict.fromkeys(m for s in systems for m in results[s]))
    print(f"\n{title}")
    print(f"{'metric':<20}" + "".join(f"{s:>12}" for s in systems)
          + "".join(f"{s + '/native':>17}" for s in systems if s != "native"))
    for m in metrics:
        row = f"{m:<20}"
        for s in systems:
            v = results[s].get(m)
            row += f"{v:>12.3f}" if v is not None else f"{'-':>12}"
        for s in systems[1:]:
            v, n = results[s].get(m), results["native"].get(m)
            row += f"{v / n:>16.2f}x" if v is not None and n else f"{'-':>17}"
        print(row)


def main():
    tpkgfs, work = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2]).resolve()
    work.mkdir(parents=True, exist_ok=True)
    packages = sys.argv[3:] or ["big", "many"]
    missing = [name for name in packages if not (work / f"{name}.pt").exists()]
    if missing:
        sh(f"/usr/bin/python3 {HERE / 'make_packages.py'} {work} {' '.join(missing)}")
    sh(f"cc -O2 -o {work / 'randread'} {HERE / 'randread.c'}")
    sh(f"cc -O2 -o {work / 'fuse_probe'} {HERE / 'fuse_probe.c'} "
       "$(pkg-config --cflags --libs fuse3)")
    for name in packages:
        extract_native(work / f"{name}.pt", work / "native" / name)
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    for package, seq_file in (("big", ".data/0.storage"), ("many", None)):
        if package not in packages:
            continue
        archive = work / f"{package}.pt"
        systems = [
            System("native", None, lambda a, m: work / "native" / a.stem),
            System("tpkgfs", f"{tpkgfs} {{archive}} {{mnt}}", lambda a, m: m),
            *([System("tpkgfs-other", f"{os.environ['OTHER_TPKGFS']} {{archive}} {{mnt}}",
                      lambda a, m: m, own_copy=True)] if os.environ.get("OTHER_TPKGFS") else []),
            System("fuse-zip", "fuse-zip -r {archive} {mnt}", lambda a, m: m / a.stem),
        ]
        floors = floor_systems(tpkgfs, work)
        results = measure(systems, archive, work, seq_file, floors)
        floor_results = {f.name: results.pop(f.name) for f in floors}
        with zipfile.ZipFile(archive) as zf:
            records = len(zf.infolist())
        print_table(f"{package}.pt ({archive.stat().st_size / 2**20:.0f} MiB, {records} records)",
                    results)
        print_floor(results, floor_results)
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
