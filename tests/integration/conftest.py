"""Fixtures for the tests that mount archives (test_mount_*.py).

`mounted` (indirectly parametrized with an archive path) is a started
read-only (-o ro) `mounting.Mount`; `mount_factory(archive, *options)` starts more. Both stop
every daemon at teardown and fail the test on a non-zero exit status, a
mount left behind, or unexpected daemon stderr. Mount tests are skipped
when /dev/fuse cannot be opened or the daemon has not been built.
"""
import pathlib

import pytest

from mounting import TPKGFS, Mount, fuse_usable


def pytest_collection_modifyitems(config, items):
    reason = None
    if not fuse_usable():
        reason = "/dev/fuse cannot be opened"
    elif not TPKGFS.exists():
        reason = f"{TPKGFS} is not built"
    if reason:
        for item in items:
            if pathlib.Path(str(item.fspath)).name.startswith("test_mount_"):
                item.add_marker(pytest.mark.skip(reason=reason))



@pytest.fixture
def mount_factory(tmp_path):
    """mount_factory(archive, *options, name=None) -> a started Mount; all are stopped at teardown."""
    mounts = []

    def start(archive, *options, name=None):
        m = Mount(archive, tmp_path / (name or f"mnt{len(mounts)}"), options)
        mounts.append(m)
        return m.start()

    yield start
    problems = []
    for m in reversed(mounts):
        problems += m.stop()
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def mounted(request, mount_factory):
    """The archive given by indirect parametrization (a corpus file: never served
    read/write), mounted read-only at tmp_path/<stem>_dir."""
    archive = pathlib.Path(request.param)
    return mount_factory(archive, "-o", "ro", name=f"{archive.name.split('.')[0]}_dir")
