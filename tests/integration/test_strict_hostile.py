"""Strict mode and `tpkg check` refuse archives torch cannot load or that hide data (issue 14,
deliverable 3); `-o nostrict` serves what torch loads.

Every hostile archive is built here from a corpus archive; each case asserts `tpkg check`
(exit 1, the reason naming the record), the strict mount, and what real torch does with the
same file. A mount reads the central directory only (issue 15): what it shows (names,
duplicates, overlaps by the central sizes, the torch records) refuses the mount, with the
reason and the hint towards -o nostrict when it would help; what only a local header or the
bytes after a record show fails that record's open (or first read) with EIO, and the daemon
logs the record and the reason at once (zip_reader.h, defer_record_checks).
"""
import errno
import io
import random
import re
import struct
import warnings
import zipfile

import pytest

from mounting import BUILD, CORPUS, TPKGFS, mount_entry, private_copy
from ziputil import data_offset

torch = pytest.importorskip("torch")

TPKG = BUILD / "src" / "tools" / "tpkg"
TEXT_ONLY = CORPUS / "pkg_minimal_text_only.pt"  # notes/readme.txt and the .data/ records
PREFIX = "pkg_minimal_text_only/"
EVIL_PICKLE = b"\x80\x02cposix\nsystem\nX\x07\x00\x00\x00echo hiq\x00\x85R."


def run(*args, timeout=60):
    import subprocess
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def rewrite(dst, drop=(), replace=None, add=(), src=TEXT_ONLY):
    """A copy of `src` through Python's zipfile: records dropped, replaced, added (deflated)."""
    replace = replace or {}
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for info in a.infolist():
            name = info.filename[len(PREFIX):]
            if name not in drop:
                b.writestr(info.filename, replace.get(name, a.read(info)), zipfile.ZIP_DEFLATED)
        for name, data in add:
            b.writestr(PREFIX + name, data, zipfile.ZIP_DEFLATED)
    return dst


def end_record(data):
    eocd = data.rindex(b"PK\x05\x06")
    count, cd_size, cd_offset = struct.unpack("<10xHII2x", data[eocd:eocd + 22])
    return eocd, count, cd_size, cd_offset


def unlist(path, name):
    """Removes `name`'s central-directory entry: its local header and data stay in the file."""
    data = bytearray(path.read_bytes())
    eocd, count, cd_size, cd_offset = end_record(data)
    pos, kept = cd_offset, bytearray()
    for _ in range(count):
        n, e, c = struct.unpack("<HHH", data[pos + 28:pos + 34])
        length = 46 + n + e + c
        if data[pos + 46:pos + 46 + n] != name.encode():
            kept += data[pos:pos + length]
        pos += length
    tail = bytearray(data[eocd:])
    struct.pack_into("<HHI", tail, 8, count - 1, count - 1, len(kept))
    path.write_bytes(bytes(data[:cd_offset] + kept + tail))


def check(archive):
    r = run(TPKG, "check", archive)
    return r.returncode, r.stdout + r.stderr


def refused_mount(archive, tmp_path, *reason):
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    r = run(TPKGFS, "-f", archive, mnt, timeout=20)
    assert r.returncode == 1 and mount_entry(mnt) is None, r.stderr
    assert r.stderr.startswith(f"tpkgfs: cannot mount {archive}: "), r.stderr
    for part in reason:
        assert part in r.stderr, r.stderr
    return r.stderr


def refused_open(m, record, *reason, verb="open"):
    """The mount `m` lists and stats `record` (from the central directory) but refuses to
    open it: EIO, and a log line naming the record and the reason. A read-only view (`verb`
    "read") lets the kernel skip opens: its first read fails instead."""
    path = m.path / record
    assert path.stat().st_size >= 0 and path.name in {p.name for p in path.parent.iterdir()}
    with pytest.raises(OSError) as failure:
        with open(path, "rb") as f:  # the read/write view fails here, at the open
            f.read()
    assert failure.value.errno == errno.EIO, failure.value
    line = f"Cannot {verb} '{PREFIX}{record}': "
    m.allow_stderr(f"^tpkgfs: {re.escape(line)}")
    stderr = m.stderr()
    assert line in stderr and all(part in stderr for part in reason), stderr


def torch_loads(archive):
    """None when PackageImporter opens the archive, else the exception's text."""
    try:
        torch.package.PackageImporter(str(archive))
        return None
    except Exception as e:  # torch's own refusal: any exception type
        return f"{type(e).__name__}: {e}"


# --- records torch needs -------------------------------------------------------------

EXTERN_CASES = {  # name: (the record's bytes, the reason, whether torch refuses it)
    "binary": (lambda: b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "not UTF-8 (byte 0)", True),
    # torch takes a 16 MiB line as one (absurd) module name; it only hides 16 MiB.
    "one_long_line": (lambda: b"a" * (16 << 20), "16777216 bytes, more than the 65536", False),
    "not_a_name": (lambda: b"os\nos; rm -rf /\n", "line 2 is not a dotted module name", False),
}


@pytest.mark.parametrize("case", sorted(EXTERN_CASES))
def test_extern_modules_that_list_no_module_names_are_refused(tmp_path, case):
    make, reason, torch_refuses = EXTERN_CASES[case]
    archive = rewrite(tmp_path / f"{case}.pt", replace={".data/extern_modules": make()})
    assert (torch_loads(archive) is not None) == torch_refuses
    code, out = check(archive)
    assert code == 1 and f"record '{PREFIX}.data/extern_modules': {reason}" in out, out
    refused_mount(archive, tmp_path, reason, "-o nostrict mounts it anyway")


def test_a_torch_archive_without_a_version_record_is_refused(tmp_path):
    archive = rewrite(tmp_path / "noversion.pt", drop={".data/version"})
    assert 'hasRecord("version")' in torch_loads(archive)
    code, out = check(archive)
    assert code == 1 and "no record '.data/version' or 'version'" in out, out
    refused_mount(archive, tmp_path, "no record '.data/version' or 'version'")


# --- bytes no record holds --------------------------------------------------------------

def test_a_local_header_the_central_directory_does_not_list_is_refused(tmp_path,
                                                                       mount_factory):
    archive = rewrite(tmp_path / "hidden.pt", add=[("notes/before.txt", b"before"),
                                                  ("evil.pkl", EVIL_PICKLE),
                                                  ("notes/after.txt", b"after")])
    unlist(archive, PREFIX + "evil.pkl")
    assert torch_loads(archive) is None  # torch never sees the hidden pickle
    code, out = check(archive)
    assert code == 1, out
    assert (f"before record '{PREFIX}notes/after.txt' belong to no record (a local header the "
            "central directory does not list)") in out, out
    # The hidden bytes lie between notes/before.txt and the next record: the record they
    # follow is refused at its open, the others are served.
    m = mount_factory(archive)
    refused_open(m, "notes/before.txt", f"record '{PREFIX}notes/before.txt': ",
                 "a local header the central directory does not list")
    assert (m.path / "notes" / "after.txt").read_bytes() == b"after"
    assert not (m.path / "evil.pkl").exists()


def test_a_central_extra_field_running_past_its_end_is_refused(tmp_path):
    archive = rewrite(tmp_path / "extra.pt")
    with zipfile.ZipFile(archive, "a") as zf:
        info = zipfile.ZipInfo(PREFIX + "notes/extra.txt")
        info.extra = struct.pack("<HH", 0x9999, 16) + b"abcd"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zf.writestr(info, b"text")
    assert torch_loads(archive) is None  # miniz walks the field only for ZIP64 values
    code, out = check(archive)
    reason = "central directory extra block 0x9999 at byte 0 declares 16 bytes, and only 4 remain"
    assert code == 1 and f"record '{PREFIX}notes/extra.txt': {reason}" in out, out
    refused_mount(archive, tmp_path, reason)


def test_a_data_descriptor_disagreeing_with_the_central_directory_is_refused(tmp_path,
                                                                              mount_factory):
    archive = private_copy(TEXT_ONLY, tmp_path)  # torch-written: bit 3, local sizes 0
    name = PREFIX + "notes/readme.txt"
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(name)
        original = zf.read(name)
    data = bytearray(archive.read_bytes())
    descriptor = data_offset(archive, name) + info.compress_size
    assert data[descriptor:descriptor + 4] == b"PK\x07\x08"
    struct.pack_into("<II", data, descriptor + 8, info.compress_size + 7, info.file_size + 7)
    archive.write_bytes(bytes(data))
    # torch reads CRC and sizes from the central directory only.
    assert bytes(torch._C.PyTorchFileReader(str(archive)).get_record("notes/readme.txt")) \
        == original
    code, out = check(archive)
    assert code == 1 and f"record '{name}': data descriptor disagrees" in out, out
    strict = mount_factory(archive)
    refused_open(strict, "notes/readme.txt", f"record '{name}': data descriptor disagrees")
    m = mount_factory(archive, "-o", "nostrict")
    assert (m.path / "notes" / "readme.txt").read_bytes() == original


# --- -o nostrict serves what torch loads ------------------------------------------------

def test_nostrict_serves_the_duplicate_torchs_lookup_returns(tmp_path, mount_factory):
    rng = random.Random(14)
    for trial in range(4):
        names = [f"r{rng.randint(0, 3)}" for _ in range(rng.randint(4, 9))]
        archive = tmp_path / f"dup{trial}.pt"
        with zipfile.ZipFile(archive, "w") as zf, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, n in enumerate(names):
                zf.writestr(f"arc/{n}", f"{n} #{i}")
            zf.writestr("arc/version", "3\n")
        reader = torch._C.PyTorchFileReader(str(archive))
        expected = {n: bytes(reader.get_record(n)) for n in set(names)}
        code, out = check(archive)
        assert code == 1 and "duplicate name" in out, out
        m = mount_factory(archive, "-o", "nostrict")
        m.allow_stderr(r": skipping record 'arc/r\d': torch's reader returns another record "
                       r"of this name$")
        served = {n: (m.path / n).read_bytes() for n in set(names)}
        assert served == expected, (names, served, expected)
        assert "torch's reader returns another record of this name" in m.stderr()


DUPLICATED = {  # record -> (the copy number -> its bytes, what torch.package makes of it)
    "m.py": (lambda i: f"X = 'copy{i}'\n".encode(), lambda imp: imp.import_module("m").X),
    "res/t.txt": (lambda i: f"copy{i}".encode(), lambda imp: imp.load_text("res", "t.txt")),
    "res/obj.pkl": (None, lambda imp: imp.load_pickle("res", "obj.pkl")["v"]),
}


def pickled_copy(i):
    """res/obj.pkl as torch.package pickles {"v": "copy<i>"}."""
    buf = io.BytesIO()
    with torch.package.PackageExporter(buf) as e:
        e.save_pickle("res", "obj.pkl", {"v": f"copy{i}"})
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("/res/obj.pkl")))


def with_copies(base, dst, record, copies):
    """`base` rewritten with `record` stored once per entry of `copies`, in its place."""
    with zipfile.ZipFile(base) as a, zipfile.ZipFile(dst, "w") as b, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for info in a.infolist():
            if info.filename.split("/", 1)[1] == record:
                for data in copies:
                    b.writestr(info.filename, data)
            else:
                b.writestr(info.filename, a.read(info))
    return dst


@pytest.mark.parametrize("record", sorted(DUPLICATED))
def test_nostrict_serves_the_copy_torch_package_loads(tmp_path, mount_factory, record):
    """Measured with torch 1.13: of 2, 3 or 4 copies torch.package does not always load the
    first (miniz's heap sort decides); a PackageImporter over the mount loads the same one."""
    base = tmp_path / "base.pt"
    with torch.package.PackageExporter(str(base)) as e:
        e.save_source_string("m", "X = 'orig'\n")
        e.save_text("res", "t.txt", "orig text")
        e.save_pickle("res", "obj.pkl", {"v": "orig"})
    make, load = DUPLICATED[record]
    loaded = set()
    for count in (2, 3, 4):
        copies = [(make or pickled_copy)(i) for i in range(count)]
        archive = with_copies(base, tmp_path / f"dup{count}.pt", record, copies)
        from_torch = load(torch.package.PackageImporter(str(archive)))
        m = mount_factory(archive, "-o", "nostrict")
        m.allow_stderr(r": skipping record 'base/.*': torch's reader returns another record")
        assert load(torch.package.PackageImporter(str(m.path))) == from_torch, count
        assert (m.path / record).read_bytes() == copies[int(from_torch[-1])]
        loaded.add(from_torch)
    assert loaded != {"copy0"}, loaded  # not simply the first copy


def test_nostrict_serves_the_data_pkl_torch_load_reads(tmp_path, mount_factory):
    saved = tmp_path / "saved.pt"
    torch.save({"v": "orig"}, str(saved))
    copies = []
    for i in range(3):
        torch.save({"v": f"copy{i}"}, str(tmp_path / "one.pt"))
        with zipfile.ZipFile(tmp_path / "one.pt") as z:
            copies.append(z.read(next(n for n in z.namelist() if n.endswith("/data.pkl"))))
    archive = with_copies(saved, tmp_path / "dup.pt", "data.pkl", copies)
    loaded = torch.load(str(archive))["v"]
    m = mount_factory(archive, "-o", "nostrict")
    m.allow_stderr(r": skipping record '.*': torch's reader returns another record")
    assert (m.path / "data.pkl").read_bytes() == copies[int(loaded[-1])]
    assert bytes(torch._C.PyTorchFileReader(str(archive)).get_record("data.pkl")) \
        == copies[int(loaded[-1])]


def test_nostrict_never_serves_a_record_outside_the_prefix_folder(tmp_path, mount_factory):
    """`m.py` after `pkg_minimal_text_only/...`: torch prefixes every lookup, so it can never
    read it (and torch 1.13's get_all_records refuses the archive); the mount used to serve
    its bytes as notes/readme.txt."""
    archive = rewrite(tmp_path / "outside.pt")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("notes/readme.txt", EVIL_PICKLE)
    reader = torch._C.PyTorchFileReader(str(archive))
    original = bytes(reader.get_record("notes/readme.txt"))
    assert original != EVIL_PICKLE
    code, out = check(archive)
    assert code == 1 and "record 'notes/readme.txt': outside the prefix folder" in out, out
    m = mount_factory(archive, "-o", "nostrict")
    m.allow_stderr(r": skipping record 'notes/readme.txt': outside the prefix folder "
                   r"\(torch never reads it\)$")
    assert (m.path / "notes" / "readme.txt").read_bytes() == original
    assert "skipping record 'notes/readme.txt': outside the prefix folder" in m.stderr()


@pytest.mark.parametrize("local_name", ["notes/readmX.txt", "notes/a-much-longer-local-name.txt"])
def test_nostrict_reads_a_mismatched_local_name_as_torch_does(tmp_path, mount_factory,
                                                             local_name):
    """The central directory names the record; the local header's name (even of another
    length) only moves where the data starts, for torch and for the mount alike."""
    src = rewrite(tmp_path / "src.pt")
    name = PREFIX + "notes/readme.txt"
    data = src.read_bytes()
    local = data.index(name.encode()) - 30
    n, e = struct.unpack("<HH", data[local + 26:local + 30])
    assert data[local + 30:local + 30 + n] == name.encode()
    new_name = (PREFIX + local_name).encode()
    grown = len(new_name) - n
    patched = bytearray(data[:local + 26] + struct.pack("<H", len(new_name)) + data[local + 28:local + 30]
                        + new_name + data[local + 30 + n:])
    eocd, count, cd_size, cd_offset = end_record(patched)
    pos = cd_offset + grown
    for _ in range(count):  # every header after the patched one moved by `grown`
        nl, el, cl = struct.unpack("<HHH", patched[pos + 28:pos + 34])
        (lho,) = struct.unpack("<I", patched[pos + 42:pos + 46])
        if lho > local:
            struct.pack_into("<I", patched, pos + 42, lho + grown)
        pos += 46 + nl + el + cl
    struct.pack_into("<I", patched, eocd + 16, cd_offset + grown)
    archive = tmp_path / "mismatch.pt"
    archive.write_bytes(bytes(patched))
    with zipfile.ZipFile(src) as zf:
        expected = zf.read(name)
    assert bytes(torch._C.PyTorchFileReader(str(archive)).get_record("notes/readme.txt")) \
        == expected
    code, out = check(archive)
    assert code == 1 and "local header disagrees with the central directory (name" in out, out
    strict = mount_factory(archive)
    refused_open(strict, "notes/readme.txt",
                 f"record '{name}': local header disagrees with the central directory (name")
    read_only = mount_factory(archive, "-o", "ro")
    refused_open(read_only, "notes/readme.txt", "local header disagrees", verb="read")
    m = mount_factory(archive, "-o", "nostrict")
    assert (m.path / "notes" / "readme.txt").read_bytes() == expected
    assert not (m.path / local_name).exists()


def test_overlapping_records_are_refused_even_with_nostrict(tmp_path):
    archive = rewrite(tmp_path / "overlap.pt", add=[("notes/b.txt", b"b" * 50)])
    data = bytearray(archive.read_bytes())
    eocd, count, cd_size, cd_offset = end_record(data)
    with zipfile.ZipFile(archive) as zf:
        a = zf.getinfo(PREFIX + "notes/readme.txt")
    pos = data.index(f"{PREFIX}notes/b.txt".encode(), cd_offset) - 46
    # b's entry now points at readme.txt's header and claims twice its data.
    struct.pack_into("<III", data, pos + 16, a.CRC, a.compress_size * 2, a.file_size)
    struct.pack_into("<I", data, pos + 42, a.header_offset)
    archive.write_bytes(bytes(data))
    code, out = check(archive)
    assert code == 1 and f"record '{PREFIX}notes/b.txt': local header disagrees" in out, out
    # The central directory alone shows the overlap (two records at one offset): both modes
    # refuse the mount for it, before any local header is read.
    for options in ((), ("-o", "nostrict")):
        mnt = tmp_path / f"mnt{len(options)}"
        mnt.mkdir()
        r = run(TPKGFS, "-f", *options, archive, mnt, timeout=20)
        assert r.returncode == 1 and "overlaps record" in r.stderr, r.stderr
        assert mount_entry(mnt) is None


# --- what the analysis reads from one record ---------------------------------------------

def test_the_analysis_reads_at_most_64_mib_of_one_record(tmp_path, mount_factory):
    big = b"# padding\n" * (7 << 20)  # 70 MiB of comments, about 70 KiB deflated
    archive = rewrite(tmp_path / "bomb.pt", add=[("big.py", big)])
    assert archive.stat().st_size < 1 << 20
    code, out = check(archive)
    assert code == 1, out
    assert f"record 'big.py': {len(big)} bytes, and the analysis reads at most 64 MiB" in out, out
    m = mount_factory(archive, "-o", "ro")  # reading it streams: no bound
    with open(m.path / "big.py", "rb") as f:
        assert f.read(10) == b"# padding\n"
    assert (m.path / "big.py").stat().st_size == len(big)


def test_tpkg_scan_reads_at_most_64_mib_of_one_pickle(tmp_path):
    """A 70 MiB data.pkl deflated to about 70 KiB (a bomb): `tpkg scan` reports it unreadable
    from its central-directory size, without inflating it."""
    archive = tmp_path / "bomb_save.pt"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("bomb_save/data.pkl", b"\x80\x02" + b"N" * (70 << 20), zipfile.ZIP_DEFLATED)
        zf.writestr("bomb_save/version", b"3\n")
    assert archive.stat().st_size < 1 << 20
    r = run(TPKG, "scan", archive)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "data.pkl" in r.stdout + r.stderr
    assert "and the analysis reads at most 64 MiB of one record" in r.stdout + r.stderr
