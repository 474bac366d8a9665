"""Byte-exact reads of larger stored and deflated records in any order."""
import concurrent.futures
import os
import random
import zipfile

import pytest

SIZE = 3 * 1024 * 1024 + 123


@pytest.fixture(scope="module")
def contents():
    rng = random.Random(4)
    words = [bytes(rng.choice(b"abcdefghij") for _ in range(rng.randint(1, 9))) for _ in range(500)]
    text = b" ".join(rng.choice(words) for _ in range(SIZE // 5))[:SIZE]
    return {
        "data/stored.bin": rng.randbytes(SIZE),
        "data/deflated.txt": text,
        "data/deflated_small.txt": text[:1000],
        "data/empty.txt": b"",
    }


@pytest.fixture
def archive(tmp_path, contents):
    path = tmp_path / "reads.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in contents.items():
            method = zipfile.ZIP_STORED if name.endswith(".bin") else zipfile.ZIP_DEFLATED
            zf.writestr(f"reads/{name}", data, compress_type=method)
    return path


def pread_all(fd, size, chunk):
    return b"".join(os.pread(fd, chunk, off) for off in range(0, size + chunk, chunk))


def test_sequential_and_random_reads_are_exact(archive, contents, mount_factory):
    m = mount_factory(archive)
    rng = random.Random(7)
    for name, data in contents.items():
        path = m.path / name
        assert path.stat().st_size == len(data)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert pread_all(fd, len(data), 65536) == data
            for _ in range(200):  # forwards and backwards, many served by the page cache
                off = rng.randrange(0, len(data) + 10)
                n = rng.choice([1, 100, 4096, 70000])
                assert os.pread(fd, n, off) == data[off:off + n], (name, off, n)
        finally:
            os.close(fd)


def test_parallel_readers_of_one_deflated_record_get_exact_bytes(archive, contents, mount_factory):
    m = mount_factory(archive)
    data = contents["data/deflated.txt"]
    path = m.path / "data" / "deflated.txt"

    def read_range(start):
        # O_DIRECT is not offered; drop our own pages instead so reads reach the daemon.
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            return start, os.pread(fd, 300_000, start)
        finally:
            os.close(fd)

    starts = [random.Random(i).randrange(0, len(data)) for i in range(32)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for start, got in pool.map(read_range, starts):
            assert got == data[start:start + 300_000]
