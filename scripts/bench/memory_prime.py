"""Memory primed before a timed step, so that the page cache a step fills comes from memory the
machine has just used.

On a virtual machine that reports free memory to its host (virtio-balloon free page reporting;
/sys/module/page_reporting on the project's machine), memory freed a few seconds earlier is given
back to the host, and touching it again costs a fault in the host for each page. Measured there:
`cp` of a 2 GiB file took 0.35 s right after another copy was deleted and 0.8-1.0 s after 6 idle
seconds (0.47 s after priming), and a save of the 2 GiB package spent 5 of its CPU seconds in the
copy's memcpy. Which contender met given-back memory then depended on the order of the steps,
not on the contender. A bare-metal machine has no such cost.

Not used for cold reads (bench_read.py): there the virtual disk's own caching in the host moved
the native figure by 3x between runs with and without priming (0.36 and 1.14 s for the same
768 MiB file), more than the priming could correct.

PRIME=0 in the environment turns it off (the figures then include the host's faults).
"""
import os

ENABLED = os.environ.get("PRIME", "1") != "0"


def prime_memory(size):
    """Writes and frees `size` bytes of memory (nothing with PRIME=0)."""
    if ENABLED:
        block = b"\1" * size
        del block
