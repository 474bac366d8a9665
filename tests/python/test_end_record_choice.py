"""Which end of central directory record a file's archive is: tpkg reads the
one the stack's real torch reads (miniz's backward search, the same in torch
1.13 and 2.6), also when bytes follow it, and flags the file where other ZIP
tools would read another archive.

The two-archive file: archive A's end record has a comment that covers
everything after it, and inside that comment sits archive B (its records,
central directory and end record) and 8 more bytes. Info-ZIP's unzip reads A
(its comment reaches exactly to the end of the file); torch, and Python's
zipfile, read B (the last end record with 22 bytes after it)."""
import io
import struct
import subprocess
import zipfile

import pytest

import tpkg

EOCD = b"PK\x05\x06"


def package(torch, text):
    buffer = io.BytesIO()
    with torch.package.PackageExporter(buffer) as exporter:
        exporter.save_pickle("p", "obj.pkl", {"who": text})
    return buffer.getvalue()


def laid_out_at(archive, base):
    """`archive` rewritten (stored records, same names) as if it began at file offset `base`."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    out.write(b"\0" * base)
    with zipfile.ZipFile(out, "a") as shifted:  # appends after the padding: absolute offsets
        for info in source.infolist():
            shifted.writestr(info.filename, source.read(info), compress_type=zipfile.ZIP_STORED)
    return out.getvalue()[base:]


def two_archives(a, b):
    head = a[: a.rfind(EOCD)]
    end_of_a = bytearray(a[a.rfind(EOCD):])
    hidden = laid_out_at(b, len(head) + len(end_of_a)) + b"JUNKJUNK"
    struct.pack_into("<H", end_of_a, 20, len(hidden))  # A's comment reaches the end of the file
    return head + bytes(end_of_a) + hidden


def load(importer_class, path):
    try:
        return importer_class(str(path)).load_pickle("p", "obj.pkl")["who"]
    except Exception as e:  # noqa: BLE001  the outcome is what is compared
        return "refused" if "central directory" in str(e) else f"other error: {e}"


@pytest.fixture(scope="module")
def archives(torch):
    return package(torch, "A"), package(torch, "B")


@pytest.mark.parametrize("junk", [0, 1, 1000, 65535, 69562, 69563, 70000])
def test_bytes_after_the_archive_open_as_torch_opens_them(torch, archives, tmp_path, junk):
    path = tmp_path / "junk.pt"
    path.write_bytes(archives[0] + b"J" * junk)
    expected = load(torch.package.PackageImporter, path)
    assert expected in ("A", "refused")  # the file is small: 65535 is past torch's block walk
    assert load(tpkg.PackageImporter, path) == expected


def test_a_file_holding_two_archives_is_read_as_torch_reads_it(torch, archives, tmp_path):
    path = tmp_path / "two.pt"
    path.write_bytes(two_archives(*archives))
    assert load(torch.package.PackageImporter, path) == "B"
    assert load(tpkg.PackageImporter, path) == "B"


def test_the_cli_refuses_or_flags_a_file_holding_two_archives(tpkg_bin, archives, tmp_path):
    path = tmp_path / "two.pt"
    path.write_bytes(two_archives(*archives))
    why = "8 bytes after the end of central directory record"

    listing = subprocess.run([tpkg_bin, "ls", path], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 1 and why in listing.stderr
    assert listing.stderr.count("\n") == 1

    check = subprocess.run([tpkg_bin, "check", path], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and why in check.stdout

    scan = subprocess.run([tpkg_bin, "scan", path], capture_output=True, text=True, timeout=60)
    assert scan.returncode == 1
    assert f"suspicious zip.container {path}: {why}" in scan.stdout
