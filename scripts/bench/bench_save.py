"""The save of a one-line edit through a real mount, tpkgfs vs fuse-zip, with `cp` and
`cp` + fsync of the same archive as baselines, all in the same run (bench_save.sh runs it).

    [OTHER_TPKGFS=a:b] [SETTLE=S] [PRIME=0] \
        /usr/bin/python3 bench_save.py TPKGFS WORK [RUNS] [many|big ...]

For each package (made by make_packages.py into WORK if missing) and each run: a private copy
is mounted read/write, one line of one source is changed with `sed -i`, and the time from
`fusermount3 -u` until the daemon has exited (the archive is then complete) is measured, and
until the new archive was renamed into place (inotify; before the daemons' last steps). The
daemon's peak RSS over the whole mount comes from /usr/bin/time. Caches are warm for every
contender (the archive is read before each), and `sync` settles the disk before each timed
step. "new blocks" is what the file system had to allocate for the save (the replaced archive
is kept by a hard link meanwhile): all of it when records are copied, only the edit when the
file system shares extents (XFS/btrfs reflinks). OTHER_TPKGFS adds other builds (e.g. the one
before a change) to every run; SETTLE waits that many seconds between the edit and the unmount.
Each save writes a number no earlier save wrote, so its edit is new to every cache.

Each timed step starts right after this script has written and freed memory one and a half times
the archive's size (memory_prime.py says why; PRIME=0: not).

Each build runs with its own analysis disk cache (TPKG_CACHE_DIR, tpkg/analysis_cache.h) in
WORK, filled by one untimed save before the runs: what a user's second and later mounts of a
package see. The row "tpkgfs, new package" runs the same build with the disk cache off: the
first mount ever of a package. The row "tpkgfs, saved before" mounts, in every run, the very
file its previous run saved (not a fresh copy): a user's next session on a package, where the
disk cache knows each source of that file by its place in it (package/analysis_store.h).
Prints medians and ratios; asserts nothing but that each save holds the edit.
"""
import ctypes
import os
import pathlib
import select
import shutil
import statistics
import struct
import subprocess
import sys
import threading
import time
import zipfile

from fuse_daemon import wait_gone
from memory_prime import prime_memory

HERE = pathlib.Path(__file__).resolve().parent
# Seconds between the edit and the unmount (a user's pause; 0: unmount at once).
SETTLE = float(os.environ.get("SETTLE", "0"))

# package -> (record to edit, sed expression, text the saved record must hold), for a number
EDITS = {
    "many": ("pkg000/mod01.py", r"s/^    return x + [0-9]*$/    return x + {n}/", "return x + {n}\n"),
    "big": ("model/mod0.py", r"s/^X = [0-9]*$/X = {n}/", "\nX = {n}\n"),
}
_edits_made = 0


def next_edit(package):
    """(record, sed expression, expected bytes) with a number no earlier edit used."""
    global _edits_made
    _edits_made += 1
    record, sed, expected = EDITS[package]
    n = 100 + _edits_made
    return record, sed.format(n=n), expected.format(n=n).encode()


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def prime_for(archive):
    """Memory for a copy of `archive` and more (memory_prime.py)."""
    prime_memory(archive.stat().st_size * 3 // 2)


def timed(fn, archive):
    prime_for(archive)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def prefix_of(archive):
    with zipfile.ZipFile(archive) as zf:
        return zf.namelist()[0].split("/")[0]


def check_saved(archive, record, expected):
    with zipfile.ZipFile(archive) as zf:
        data = zf.read(f"{prefix_of(archive)}/{record}")
    if expected not in data:
        raise RuntimeError(f"the save of {archive} does not hold the edit of {record}")


def wait_mounted(mnt):
    for _ in range(3000):
        if os.path.ismount(mnt):
            return
        time.sleep(0.005)
    raise RuntimeError(f"{mnt} was not mounted")


def wait_exited(proc, seconds=600):
    """Returns as soon as `proc` has exited (a pidfd becomes readable then). Not
    Popen.wait(timeout): it polls with sleeps doubling up to 50 ms, so a save timed with it ends
    on one of its poll points (about 63, 113, 163 ms after the unmount returned), whatever the
    daemon did: every build and fuse-zip measured 0.12 s on the idle machine."""
    fd = os.pidfd_open(proc.pid)
    try:
        if not select.select([fd], [], [], seconds)[0]:
            raise subprocess.TimeoutExpired(proc.args, seconds)
    finally:
        os.close(fd)
    proc.wait()


class RenameWatch:
    """When `name` was renamed into `folder`: the moment a save's new archive is in place
    (tpkgfs and libzip, which fuse-zip uses, both write a temp file and rename it over the
    archive), by inotify (IN_MOVED_TO), read on a thread as the events arrive. What follows
    (tpkgfs: syncing the folder, the save log, freeing memory; both: exiting) is not in it."""
    IN_MOVED_TO = 0x80
    IN_CLOEXEC = 0o2000000

    def __init__(self, folder, name):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(self.IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self.fd, os.fsencode(folder), self.IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
        self.name = os.fsencode(name)
        self.at = None
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done and self.at is None:
            if not select.select([self.fd], [], [], 0.05)[0]:
                continue
            events = os.read(self.fd, 65536)
            now = time.perf_counter()
            at = 0
            while at < len(events):
                _, _, _, length = struct.unpack_from("iIII", events, at)
                if events[at + 16:at + 16 + length].rstrip(b"\0") == self.name:
                    self.at = now
                at += 16 + length

    def stop(self):
        """The perf_counter time of the rename, or None."""
        self.done = True
        self.thread.join()
        os.close(self.fd)
        return self.at


def used_mib(folder):
    st = os.statvfs(folder)
    return (st.f_blocks - st.f_bfree) * st.f_frsize / 2**20


def save_through_mount(command, archive, mnt, edited_path, sed, env=None):
    """Mounts, edits, unmounts; returns (seconds from unmount to daemon exit, peak RSS KiB,
    MiB of new blocks the save took: the replaced archive is kept by a hard link meanwhile, so
    blocks shared with it (reflinks) do not count; the daemon's CPU seconds, user + system, over
    its whole life: on a loaded machine the figure that moves least; seconds from unmount until
    the new archive was renamed into place)."""
    mnt.mkdir(exist_ok=True)
    rss_file = mnt.parent / "rss"
    keep = archive.parent / "keep.pt"
    os.link(archive, keep)
    subprocess.run(["sync"], check=True)
    used_before = used_mib(archive.parent)
    warm(archive)
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M %U %S", "-o", str(rss_file)] + command,
                            stderr=subprocess.PIPE, env=env)
    try:
        wait_mounted(mnt)
        subprocess.run(["sed", "-i", sed, str(mnt / edited_path)], check=True)
        time.sleep(SETTLE)
        watch = RenameWatch(archive.parent, archive.name)
        prime_for(archive)
        t0 = time.perf_counter()
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
        wait_exited(proc)
        seconds = time.perf_counter() - t0
        renamed = watch.stop()
        if renamed is None:
            raise RuntimeError(f"{command[0]} exited without renaming a new {archive.name} "
                               "into place")
        in_place = renamed - t0
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-uz", str(mnt)])
        if proc.poll() is None:
            proc.wait(timeout=600)
    subprocess.run(["sync"], check=True)
    new_mib = used_mib(archive.parent) - used_before
    keep.unlink()
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}: {err}")
    rss, user, system = rss_file.read_text().split()[-3:]
    return seconds, int(rss), new_mib, float(user) + float(system), in_place


def bench(tpkgfs, work, package, runs):
    archive = work / f"{package}.pt"
    prefix = prefix_of(archive)
    copy = work / "copy.pt"
    others = [pathlib.Path(p).resolve() for p in os.environ.get("OTHER_TPKGFS", "").split(":") if p]

    def env_with_cache(folder):
        env = dict(os.environ, TPKG_CACHE_DIR=str(folder))
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(mode=0o700)
        return env

    # (label, daemon, environment, warmed up, the file its last run saved instead of a copy):
    # every build with its disk cache filled once.
    again = work / "again.pt"
    daemons = [("tpkgfs", tpkgfs, env_with_cache(work / "cache-tpkgfs"), True, False),
               ("tpkgfs, new package", tpkgfs, env_with_cache(""), False, False),
               ("tpkgfs, saved before", tpkgfs, env_with_cache(work / "cache-again"), True, True)]
    daemons += [(f"other{i + 1}", p, env_with_cache(work / f"cache-other{i + 1}"), True, False)
                for i, p in enumerate(others)]
    for label, daemon, env, warmed, same_file in daemons:
        if not warmed:
            continue
        private = again if same_file else work / "tpkgfs.pt"
        shutil.copyfile(archive, private)
        record, sed, _ = next_edit(package)
        save_through_mount([str(daemon), "-f", str(private), str(work / "mnt_t")], private,
                           work / "mnt_t", record, sed, env)
        if not same_file:
            private.unlink()
    rows = {k: [] for k in ("cp", "cp_fsync", "cp_reflink", "fuse-zip", "fz_rss", "fz_new",
                            "fz_cpu", "fz_in_place")}
    for label, *_ in daemons:
        for suffix in ("", "_rss", "_new", "_cpu", "_in_place"):
            rows[label + suffix] = []
    for run in range(runs):
        subprocess.run(["sync"], check=True)
        warm(archive)
        rows["cp"].append(timed(lambda: subprocess.run(["cp", archive, copy], check=True), archive))
        copy.unlink()
        subprocess.run(["sync"], check=True)
        warm(archive)
        rows["cp_fsync"].append(timed(lambda: subprocess.run(
            f"cp '{archive}' '{copy}' && sync '{copy}'", shell=True, check=True), archive))
        copy.unlink()
        subprocess.run(["sync"], check=True)
        warm(archive)
        rows["cp_reflink"].append(timed(lambda: subprocess.run(
            f"cp --reflink=auto '{archive}' '{copy}' && sync '{copy}'", shell=True, check=True),
            archive))
        copy.unlink()

        # Each round starts with another build: the first one after the copies above meets the
        # file system still freeing their blocks (on ext4, seconds for the 2 GiB package).
        shift = run % len(daemons)
        for label, daemon, env, _, same_file in daemons[shift:] + daemons[:shift]:
            private = again if same_file else work / "tpkgfs.pt"
            if not same_file:
                shutil.copyfile(archive, private)  # its own blocks: nothing shared with `archive`
            record, sed, expected = next_edit(package)
            s, rss, new, cpu, in_place = save_through_mount(
                [str(daemon), "-f", str(private), str(work / "mnt_t")], private, work / "mnt_t",
                record, sed, env)
            check_saved(private, record, expected)
            rows[label].append(s)
            rows[label + "_rss"].append(rss)
            rows[label + "_new"].append(new)
            rows[label + "_cpu"].append(cpu)
            rows[label + "_in_place"].append(in_place)
            if not same_file:
                private.unlink()

        private = work / "fz.pt"
        shutil.copyfile(archive, private)
        record, sed, expected = next_edit(package)
        s, rss, new, cpu, in_place = save_through_mount(
            ["fuse-zip", "-f", str(private), str(work / "mnt_f")], private, work / "mnt_f",
            f"{prefix}/{record}", sed)
        check_saved(private, record, expected)
        rows["fuse-zip"].append(s)
        rows["fz_rss"].append(rss)
        rows["fz_new"].append(new)
        rows["fz_cpu"].append(cpu)
        rows["fz_in_place"].append(in_place)
        private.unlink()

    again.unlink()
    med = {k: statistics.median(v) for k, v in rows.items()}
    with zipfile.ZipFile(archive) as zf:
        records = len(zf.infolist())
    print(f"== {package}.pt: {archive.stat().st_size / 2**20:.0f} MiB, {records} records, "
          f"on {subprocess.run(['stat', '-f', '-c', '%T', str(work)], capture_output=True, text=True).stdout.strip()}; "
          f"one-line edit of {record}; medians of {runs}")
    print(f"cp:                        {med['cp']:.3f} s")
    print(f"cp + fsync:                {med['cp_fsync']:.3f} s")
    print(f"cp --reflink=auto + fsync: {med['cp_reflink']:.3f} s")
    print(f"fuse-zip save (unmount):   {med['fuse-zip']:.3f} s   "
          f"(x{med['fuse-zip'] / med['cp_fsync']:.2f} of cp + fsync); "
          f"peak RSS {med['fz_rss'] / 1024:.1f} MiB; new blocks {med['fz_new']:.0f} MiB; "
          f"daemon CPU {med['fz_cpu']:.2f} s")
    print(f"{'fuse-zip, new archive in place:':26} {med['fz_in_place']:.3f} s")
    for label, daemon, *_ in daemons:
        print(f"{label + ', new archive in place:':26} {med[label + '_in_place']:.3f} s   "
              f"(x{med[label + '_in_place'] / med['fz_in_place']:.2f} of fuse-zip's)")
    for label, daemon, *_ in daemons:
        print(f"{label + ' save (unmount):':26} {med[label]:.3f} s   "
              f"(x{med[label] / med['cp_fsync']:.2f} of cp + fsync, "
              f"x{med[label] / med['fuse-zip']:.2f} of fuse-zip); "
              f"peak RSS {med[label + '_rss'] / 1024:.1f} MiB; "
              f"new blocks {med[label + '_new']:.0f} MiB; daemon CPU {med[label + '_cpu']:.2f} s"
              f"  [{daemon}]")
    print("all runs (s): " + "; ".join(
        f"{k} " + " ".join(f"{x:.3f}" for x in v) for k, v in rows.items()
        if not k.endswith(("_rss", "_new", "_cpu"))))
    print("daemon CPU, all runs (s): " + "; ".join(
        f"{k} " + " ".join(f"{x:.2f}" for x in v) for k, v in rows.items() if k.endswith("_cpu")))


def main():
    tpkgfs, work = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2]).resolve()
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    packages = sys.argv[4:] or ["many", "big"]
    work.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not (work / f"{p}.pt").exists()]
    if missing:
        subprocess.run(["/usr/bin/python3", str(HERE / "make_packages.py"), str(work)] + missing,
                       check=True)
    print(f"load average before: {os.getloadavg()}; {SETTLE} s between edit and unmount")
    for package in packages:
        bench(tpkgfs, work, package, runs)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
