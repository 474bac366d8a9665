"""The FUSE daemon behind a benchmark's mount: finding it, and waiting for it to end (a save is
complete only once its daemon has exited). Shared by bench_create.py and bench_mount.py."""
import os
import pathlib
import time


def daemon_pid(mountpoint):
    """The pid of the process whose command line names `mountpoint` (not a shell running it)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(mountpoint).encode() in argv and b"/bin/sh" not in argv[0]:
                return int(entry)
    return None


def wait_gone(pid, seconds, why=""):
    """Waits (5 ms steps: the wait is part of timed figures) until `pid` has exited. Never goes on
    silently when it has not: the figure would be wrong and the next mount would wait for it."""
    deadline = time.time() + seconds
    while pid and os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.005)
    if pid and os.path.exists(f"/proc/{pid}"):
        raise RuntimeError(f"the daemon (pid {pid}) still runs {seconds} s after its unmount{why}")
