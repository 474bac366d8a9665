"""The `tpkg` command-line tool, run as a real binary from the build directory.

Differential against Python's zipfile (ls, cat) and the corpus expectations,
byte-identical `repack` of the torch-written corpus, interop with real
PyTorch (/usr/bin/python3) for archives our writer produced, and the
error behaviour (exit codes, one-line messages, closed pipes, full disks).
"""
import json
import os
import re
import resource
import signal
import subprocess
import textwrap
import zipfile

import pytest

from mounting import wait_until
from ziputil import libzip_entries

# `tpkg check` is a format check and says that safety is `tpkg scan`'s job.
CHECK_OK_NOTE = " (format; whether it is safe to load is tpkg scan's job)"

# check_zip_recipe.py DEFAULT: the archives PyTorch itself wrote.
TORCH_WRITTEN = [
    "pkg_model_numpy.pt", "pkg_mocked.pt", "pkg_resources.pt", "pkg_shared_views.pt",
    "pkg_reduce_package.pt", "pkg_dtypes.pt", "pkg_torchscript.pt", "pkg_fx_graph_module.pt",
    "pkg_minimal_text_only.pt", "pkg_protocol4.pt", "pkg_repackaged.pt",
    "torch_save_checkpoint.pth",
]
VALID = TORCH_WRITTEN + ["pkg_deflated_by_zip_tool.pt"]
TORCH_PYTHON = "/usr/bin/python3"
COMMANDS = ["ls", "cat", "check", "repack"]


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=120, **kwargs)


def records_by_zipfile(path):
    """(record name without the prefix folder, ZipInfo) in central-directory order."""
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    prefix = infos[0].filename.split("/", 1)[0] + "/"
    return [(info.filename[len(prefix):], info) for info in infos]


# ------------------------------------------------------------------ ls, cat, check

@pytest.mark.parametrize("archive", VALID)
def test_ls_lists_what_zipfile_and_torch_list(tpkg_bin, corpus_dir, archive):
    result = run(tpkg_bin, "ls", corpus_dir / archive)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.decode().split("\n")[:-1]
    assert listed == [name for name, _ in records_by_zipfile(corpus_dir / archive)]
    expected = json.loads((corpus_dir / (archive + ".expected.json")).read_text())
    if "get_all_records" in expected.get("torch_reader", {}):
        assert listed == expected["torch_reader"]["get_all_records"]


@pytest.mark.parametrize("archive", VALID)
def test_cat_prints_each_record_exactly(tpkg_bin, corpus_dir, archive):
    with zipfile.ZipFile(corpus_dir / archive) as z:
        for name, info in records_by_zipfile(corpus_dir / archive):
            if info.is_dir():
                continue
            result = run(tpkg_bin, "cat", corpus_dir / archive, name)
            assert result.returncode == 0, result.stderr
            assert result.stdout == z.read(info), name


def test_ls_and_cat_read_a_pt2_without_prefix_folder(tpkg_bin):
    # torch.export.save (torch 2.6) writes through zipfile: no prefix folder.
    import pathlib
    pt2 = pathlib.Path(__file__).resolve().parents[1] / "data" / "torch2" / "exported.pt2"
    result = run(tpkg_bin, "ls", pt2)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(pt2) as z:
        assert result.stdout.decode().splitlines() == z.namelist()
        for name in z.namelist():
            assert run(tpkg_bin, "cat", pt2, name).stdout == z.read(name), name
    # No prefix folder: a value that does not apply is null (doc/cli.md).
    assert json.loads(run(tpkg_bin, "ls", "--json", pt2).stdout)["prefix"] is None
    assert json.loads(run(tpkg_bin, "info", "--json", pt2).stdout)["prefix"] is None


def test_cat_json_holds_text_as_text_and_binary_as_base64(tpkg_bin, corpus_dir):
    import base64
    import zlib
    archive = corpus_dir / "pkg_model_numpy.pt"
    with zipfile.ZipFile(archive) as z:
        records = {name: z.read(info) for name, info in records_by_zipfile(archive)}
    for name in (".data/version", "model/model.pkl"):
        result = run(tpkg_bin, "cat", "--json", archive, name)
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        assert list(doc) == ["path", "record", "generated", "size", "crc32", "encoding",
                             "content"]
        assert doc["path"] == str(archive) and doc["record"] == name
        assert doc["generated"] is False
        assert doc["size"] == len(records[name]) and doc["crc32"] == zlib.crc32(records[name])
        if doc["encoding"] == "utf-8":
            assert doc["content"].encode() == records[name]
        else:
            assert doc["encoding"] == "base64"
            assert base64.b64decode(doc["content"]) == records[name]
    assert json.loads(run(tpkg_bin, "cat", "--json", archive, ".data/version").stdout)[
        "encoding"] == "utf-8"
    assert json.loads(run(tpkg_bin, "cat", "--json", archive, "model/model.pkl").stdout)[
        "encoding"] == "base64"  # a pickle is not UTF-8


def test_cat_json_of_records_longer_than_its_chunks_is_exact(tpkg_bin, tmp_path):
    """The content is read in chunks of 256 KiB: multi-byte characters, NULs and base64 groups
    cut at chunk boundaries come out whole, and one bad byte past the first chunk makes it
    base64."""
    import base64
    text = ("a\u00e9\u20ac\U0001F600\x00\"\\\n" * 40_000).encode()
    binary = os.urandom(700_001)
    late_bad = b"x" * 300_000 + b"\xff" + b"y" * 10
    archive = tmp_path / "big.pt"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in (("text.txt", text), ("binary.bin", binary), ("late_bad.txt", late_bad)):
            z.writestr("big/" + name, data)
    for name, data, encoding in (("text.txt", text, "utf-8"), ("binary.bin", binary, "base64"),
                                 ("late_bad.txt", late_bad, "base64")):
        result = run(tpkg_bin, "cat", "--json", archive, name)
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["encoding"] == encoding and doc["size"] == len(data)
        got = doc["content"].encode() if encoding == "utf-8" else base64.b64decode(doc["content"])
        assert got == data, name


def test_cat_json_of_a_generated_file_is_what_cat_prints(tpkg_bin, corpus_dir):
    archive = corpus_dir / "pkg_model_numpy.pt"
    raw = run(tpkg_bin, "cat", archive, ".data/deps.dot")
    doc = json.loads(run(tpkg_bin, "cat", "--json", archive, ".data/deps.dot").stdout)
    assert doc["generated"] is True and doc["encoding"] == "utf-8"
    assert doc["content"].encode() == raw.stdout and doc["size"] == len(raw.stdout)


@pytest.mark.parametrize("archive", VALID)
def test_check_accepts_every_valid_corpus_archive(tpkg_bin, corpus_dir, archive):
    result = run(tpkg_bin, "check", corpus_dir / archive)
    assert result.returncode == 0, result.stdout
    assert result.stdout.decode() == f"{corpus_dir / archive}: ok{CHECK_OK_NOTE}\n"


def test_check_lists_each_record_outside_the_prefix(tpkg_bin, corpus_dir):
    result = run(tpkg_bin, "check", corpus_dir / "bad_no_prefix.zip")
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    # The first record, notes/readme.txt, names the prefix folder; every record after it is one
    # the stack's torch wrote outside notes/ (torch 1.13: the metadata and `.data/version`;
    # torch 2.x: `byteorder` and `.data/serialization_id` too).
    with zipfile.ZipFile(corpus_dir / "bad_no_prefix.zip") as zf:
        names = zf.namelist()
    assert names[0] == "notes/readme.txt"
    outside = [n for n in names if not n.startswith("notes/")]
    assert outside[:3] == [".data/extern_modules", ".data/python_version", ".data/version"]
    assert [line.split("'")[1] for line in lines] == outside
    assert all("outside the prefix folder 'notes/'" in line for line in lines)


def test_check_reports_a_flipped_data_byte(tpkg_bin, corpus_dir, tmp_path):
    data = bytearray((corpus_dir / "pkg_minimal_text_only.pt").read_bytes())
    data[128] ^= 0x20  # first byte of notes/readme.txt (doc/format.md §2.8)
    (tmp_path / "flipped.pt").write_bytes(bytes(data))
    result = run(tpkg_bin, "check", tmp_path / "flipped.pt")
    assert result.returncode == 1
    assert "record 'pkg_minimal_text_only/notes/readme.txt': CRC-32 mismatch" in result.stdout.decode()


# ------------------------------------------------------------------ repack

@pytest.mark.parametrize("archive", TORCH_WRITTEN)
def test_repack_of_a_torch_written_archive_is_byte_identical(tpkg_bin, corpus_dir, tmp_path, archive):
    out = tmp_path / archive
    result = run(tpkg_bin, "repack", corpus_dir / archive, out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (corpus_dir / archive).read_bytes()


def test_repack_aligns_the_zip_tool_archive_and_drops_directories(tpkg_bin, corpus_dir, tmp_path):
    out = tmp_path / "aligned.pt"
    assert run(tpkg_bin, "repack", corpus_dir / "pkg_deflated_by_zip_tool.pt", out).returncode == 0
    with zipfile.ZipFile(corpus_dir / "pkg_deflated_by_zip_tool.pt") as src, zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        files = [i for i in src.infolist() if not i.is_dir()]
        assert [i.filename for i in z.infolist()] == [i.filename for i in files]
        for old, new in zip(files, z.infolist()):
            assert new.compress_type == old.compress_type  # copied raw, not re-encoded
            assert z.read(new) == src.read(old)
    assert run(tpkg_bin, "check", out).returncode == 0


def test_repack_can_rename_the_prefix_and_replace_its_input(tpkg_bin, corpus_dir, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes((corpus_dir / "pkg_minimal_text_only.pt").read_bytes())
    assert run(tpkg_bin, "repack", "--prefix", "renamed", path, path).returncode == 0
    with zipfile.ZipFile(path) as z:
        assert z.namelist()[0] == "renamed/notes/readme.txt"
    assert os.listdir(tmp_path) == ["model.pt"]


def test_repack_refuses_a_prefix_that_makes_names_too_long_for_a_zip(tpkg_bin, corpus_dir, tmp_path):
    out = tmp_path / "long.pt"
    result = run(tpkg_bin, "repack", "--prefix", "x" * 65530, corpus_dir / "pkg_minimal_text_only.pt", out)
    assert result.returncode == 1
    assert result.stderr.count(b"\n") == 1 and b"longer than 65535 bytes" in result.stderr, result.stderr
    assert os.listdir(tmp_path) == []


def test_repack_json_says_what_was_written(tpkg_bin, corpus_dir, tmp_path):
    out = tmp_path / "aligned.pt"
    result = run(tpkg_bin, "repack", "--json", corpus_dir / "pkg_deflated_by_zip_tool.pt", out)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    with zipfile.ZipFile(corpus_dir / "pkg_deflated_by_zip_tool.pt") as src:
        directories = sum(1 for i in src.infolist() if i.is_dir())
        files = len(src.infolist()) - directories
    assert directories > 0
    assert doc == {"in": str(corpus_dir / "pkg_deflated_by_zip_tool.pt"), "out": str(out),
                   "prefix": "pkg_model_numpy", "records": files,
                   "dropped_directories": directories, "size": out.stat().st_size}
    # Without --json a repack prints nothing.
    assert run(tpkg_bin, "repack", corpus_dir / "pkg_deflated_by_zip_tool.pt", out).stdout == b""


def test_a_failed_repack_leaves_out_untouched(tpkg_bin, corpus_dir, tmp_path):
    out = tmp_path / "out.pt"
    out.write_bytes(b"precious")

    def small_file_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    result = run(tpkg_bin, "repack", corpus_dir / "pkg_mocked.pt", out, preexec_fn=small_file_limit)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("tpkg: ") and result.stderr.count(b"\n") == 1
    assert "File too large" in result.stderr.decode()
    assert out.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["out.pt"]  # no temporary file left behind


def test_repack_replaces_only_a_regular_file(tpkg_bin, corpus_dir, tmp_path):
    """OUT is replaced by a rename: over a FIFO, a symbolic link, a folder or a device node it
    would put a file where that stood (as root, over /dev/null), so only a regular file is."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "target.pt"
    target.write_bytes(b"precious")
    link = tmp_path / "link.pt"
    link.symlink_to(target)
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [(fifo, "a FIFO"), (link, "a symbolic link"), (folder, "a directory")]
    if os.geteuid() == 0:
        device = tmp_path / "null"
        os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))  # a character device, as /dev/null
        cases.append((device, "a character device"))
    for out, kind in cases:
        before = os.lstat(out)
        result = run(tpkg_bin, "repack", corpus_dir / "pkg_mocked.pt", out)
        assert result.returncode == 1, out
        assert result.stderr.decode() == f"tpkg: '{out}' is {kind}: only a regular file is replaced\n"
        after = os.lstat(out)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert target.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p, _ in cases) + ["target.pt"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_repack_ended_by_a_signal_leaves_no_partial_copy(tpkg_bin, tmp_path, sig):
    """Ctrl-C (or a kill) while the output is written: no hidden temporary file is left
    beside it, the output does not exist, and the signal ends the process as it would have."""
    big = tmp_path / "big.pt"
    with zipfile.ZipFile(big, "w") as z:  # one stored record: writing it takes a while
        with z.open("big/.data/0.storage", "w", force_zip64=True) as record:
            for _ in range(64):
                record.write(b"\1" * (4 << 20))
        z.writestr("big/.data/version", "3\n")
    out = tmp_path / "out" / "out.pt"
    out.parent.mkdir()
    for attempt in range(5):
        proc = subprocess.Popen([tpkg_bin, "repack", big, out], stderr=subprocess.PIPE,
                                preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
        started = wait_until(lambda: list(out.parent.iterdir()), 30)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        if proc.returncode == -sig and not out.exists():
            break
        # Done before the signal (or between the rename and the exit): again.
        assert proc.returncode in (0, -sig), proc.stderr.read()
        out.unlink()
    else:
        pytest.skip("the repack ended before every signal")
    assert started
    assert list(out.parent.iterdir()) == []


def test_repack_refuses_a_record_whose_bytes_do_not_match_its_crc(tpkg_bin, corpus_dir, tmp_path):
    data = bytearray((corpus_dir / "pkg_minimal_text_only.pt").read_bytes())
    with zipfile.ZipFile(corpus_dir / "pkg_minimal_text_only.pt") as z:
        info = z.getinfo("pkg_minimal_text_only/notes/readme.txt")
        text = z.read(info)
    # Stored: the record's bytes follow its local header (whose extra field may differ).
    data[data.index(text, info.header_offset)] ^= 0x01  # same size, wrong CRC-32
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out.pt"
    result = run(tpkg_bin, "repack", damaged, out)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.startswith("tpkg: ") and err.count("\n") == 1, err
    assert "notes/readme.txt" in err and "CRC" in err, err
    assert os.listdir(tmp_path) == ["damaged.pt"]


# ------------------------------------------------------------------ interop with real torch

LOAD_MODEL = textwrap.dedent("""
    import sys, torch
    from torch.package import PackageImporter
    original = PackageImporter(sys.argv[1]).load_pickle("model", "model.pkl")
    importer = PackageImporter(sys.argv[2])
    ours = importer.load_pickle("model", "model.pkl")
    a, b = original.state_dict(), ours.state_dict()
    assert list(a) == list(b), (list(a), list(b))
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 8
    assert torch.equal(original(x), ours(x))
    for spec in sys.argv[3:]:
        package, resource, text = spec.split(":", 2)
        assert importer.load_text(package, resource) == text, (package, resource)
    print("same", len(a))
""")


def load_in_torch(original, ours, *resources):
    result = run(TORCH_PYTHON, "-c", LOAD_MODEL, original, ours, *resources)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_torch_loads_records_copied_raw_plus_new_ones(make_archive, tpkg_bin, corpus_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("a new resource, written by libtpkg\n")
    (tmp_path / "more.txt").write_text("ünïcode too\n")
    out = tmp_path / "extended.pt"
    result = run(make_archive, out, "--from", corpus_dir / "pkg_model_numpy.pt",
                 "--add", f"extra/notes.txt={tmp_path / 'notes.txt'}",
                 "--add", f"model/more.txt={tmp_path / 'more.txt'}")
    assert result.returncode == 0, result.stderr
    assert run(tpkg_bin, "check", out).returncode == 0
    assert load_in_torch(corpus_dir / "pkg_model_numpy.pt", out,
                         "extra:notes.txt:a new resource, written by libtpkg\n",
                         "model:more.txt:ünïcode too\n").startswith("same")


def test_torch_loads_a_zip64_archive_past_4_gib(make_archive, tpkg_bin, corpus_dir, tmp_path):
    # A 4 GiB + 100 byte record of zeros first (a hole: no disk, no time), so
    # every copied record lies past 4 GiB: ZIP64 sizes, offsets, end records.
    out = tmp_path / "zip64.pt"
    result = run(make_archive, out, "--from", corpus_dir / "pkg_model_numpy.pt",
                 "--zeros", f".data/big.bin={4 * 2**30 + 100}")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 4 * 2**30 and out.stat().st_blocks * 512 < 2**20
    with zipfile.ZipFile(out) as z:
        assert z.getinfo("pkg_model_numpy/.data/big.bin").file_size == 4 * 2**30 + 100
        assert z.infolist()[1].header_offset > 4 * 2**30
        assert z.read("pkg_model_numpy/.data/version") == b"6\n"
        names = [(i.filename, i.file_size) for i in z.infolist()]
    # libzip with its consistency checks (Debian 13's 1.11 refused miniz's local ZIP64 sizes).
    assert libzip_entries(out) == names
    assert run(tpkg_bin, "cat", out, "model/model.pkl").stdout == \
        run(tpkg_bin, "cat", corpus_dir / "pkg_model_numpy.pt", "model/model.pkl").stdout
    load_in_torch(corpus_dir / "pkg_model_numpy.pt", out)


@pytest.mark.skipif(os.environ.get("TPKG_SLOW") != "1",
                    reason="slow tier (TPKG_SLOW=1): writes and reads back 4 GiB")
def test_a_real_zip64_archive_past_4_gib_opens_in_libzip_zipfile_and_torch(
        make_archive, tpkg_bin, corpus_dir, tmp_path):
    # The sparse test above with real bytes: the big record streamed in full from a file, then a
    # small record whose header lies past 4 GiB, then .data/version.
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(4 * 2**30 + 99)
        f.seek(0, os.SEEK_END)
        f.write(b"!")
    (tmp_path / "after.txt").write_text("after 4 GiB\n")
    out = tmp_path / "real64.pt"
    result = run(make_archive, out, "--from", corpus_dir / "pkg_model_numpy.pt",
                 "--add", f"extra/big.bin={big}", "--add", f"extra/after.txt={tmp_path / 'after.txt'}")
    big.unlink()
    assert result.returncode == 0, result.stderr
    assert out.stat().st_blocks * 512 > 4 * 2**30  # written out, not a hole
    with zipfile.ZipFile(out) as z:
        assert z.getinfo("pkg_model_numpy/extra/big.bin").file_size == 4 * 2**30 + 100
        assert z.getinfo("pkg_model_numpy/extra/after.txt").header_offset > 4 * 2**30
        names = [(i.filename, i.file_size) for i in z.infolist()]
    assert libzip_entries(out) == names
    assert run(tpkg_bin, "check", out).returncode == 0  # every CRC, the 4 GiB included
    assert load_in_torch(corpus_dir / "pkg_model_numpy.pt", out,
                         "extra:after.txt:after 4 GiB\n").startswith("same")


def test_torch_loads_the_repacked_zip_tool_archive(tpkg_bin, corpus_dir, tmp_path):
    out = tmp_path / "aligned.pt"
    assert run(tpkg_bin, "repack", corpus_dir / "pkg_deflated_by_zip_tool.pt", out).returncode == 0
    load_in_torch(corpus_dir / "pkg_model_numpy.pt", out)


# ------------------------------------------------------------------ errors and usage

@pytest.mark.parametrize("args", [
    [], ["frob"], ["--frob"], ["ls"], ["ls", "a", "b"], ["ls", "--frob", "x"],
    ["cat", "x.pt"], ["check"], ["repack", "in.pt"], ["repack", "--prefix"],
    ["edits", "--discard", "--save-to", "out.pt", "x.pt"],
    ["repack", "--prefix", "a/b", "in.pt", "out.pt"], ["repack", "--prefix", "", "in.pt", "o.pt"],
    ["repack", "--prefix", "..", "in.pt", "out.pt"],
    ["--version", "extra"], ["--version", "ls", "x.pt"],
    ["scan", "--print-default-policy", "extra"], ["scan", "--print-default-policy", "--json"],
])
def test_bad_arguments_print_a_usage_line_and_exit_2(tpkg_bin, args):
    result = run(tpkg_bin, *args)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 2 and lines[0].startswith("tpkg: ") and lines[1].startswith("usage: tpkg ")
    assert result.stdout == b""


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(tpkg_bin, command):
    result = run(tpkg_bin, command, "--help")
    assert result.returncode == 0
    assert result.stdout.decode().startswith(f"usage: tpkg {command} ")


def test_every_option_of_a_command_is_in_its_usage_line(tpkg_bin):
    commands = re.findall(r"^  tpkg ([a-z]+) ", run(tpkg_bin, "--help").stdout.decode(), re.M)
    assert len(set(commands)) >= 14, commands
    for command in set(commands):
        text = run(tpkg_bin, command, "--help").stdout.decode()
        usage, options = text.splitlines()[0], text.partition("\nOptions:\n")[2]
        for line in options.splitlines():
            found = re.match(r"\s+(?:-(\w) \[ )?--([a-z-]+)", line)
            if found and found[2] != "help":
                short, long = found.groups()
                assert f"--{long}" in usage or (short and f"-{short}" in usage), (command, line)


def test_global_help_and_version(tpkg_bin):
    help_text = run(tpkg_bin, "--help").stdout.decode()
    assert all(f"tpkg {c} " in help_text for c in COMMANDS)
    version = run(tpkg_bin, "--version")
    assert version.returncode == 0 and version.stdout.decode().startswith("tpkg ")


def corrupt_copy(corpus_dir, tmp_path):
    data = (corpus_dir / "pkg_model_numpy.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[:-30])
    return tmp_path / "truncated.pt"


@pytest.mark.parametrize("command,case,expected", [
    (command, case, expected)
    for command in ["ls", "cat"]
    for case, expected in [("missing", "No such file or directory"),
                           ("not_a_zip", "not a ZIP archive"),
                           ("corrupt", "no end of central directory record")]
] + [("cat", "no_record", "no record 'nope'")])
def test_errors_are_one_line_and_exit_1(tpkg_bin, corpus_dir, tmp_path, command, case, expected):
    (tmp_path / "text.pt").write_text("hello, I am not a zip archive at all\n")
    archive = {"missing": tmp_path / "missing.pt", "not_a_zip": tmp_path / "text.pt",
               "corrupt": corrupt_copy(corpus_dir, tmp_path),
               "no_record": corpus_dir / "pkg_model_numpy.pt"}[case]
    args = [command, archive] + (["nope"] if command == "cat" else [])
    result = run(tpkg_bin, *args)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("tpkg: ") and result.stderr.count(b"\n") == 1
    assert expected in result.stderr.decode()


# A file check cannot open (or no regular file) is a failure to check, not a
# finding: an error on stderr as every command prints one, with or without --json.
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
@pytest.mark.parametrize("case,expected", [("missing", "No such file or directory"),
                                           ("folder", "is a directory"),
                                           ("unreadable", "Permission denied")])
def test_check_of_a_file_it_cannot_open_is_an_error_on_stderr(tpkg_bin, corpus_dir, tmp_path, case,
                                                             expected, json_flag):
    bad = tmp_path / case
    if case == "folder":
        bad.mkdir()
    elif case == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads a file of mode 000")
        bad.write_bytes((corpus_dir / "pkg_model_numpy.pt").read_bytes())
        bad.chmod(0)
    result = run(tpkg_bin, "check", *json_flag, bad)
    assert result.returncode == 1 and result.stdout == b"", result
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tpkg: "), lines
    assert str(bad) in lines[0] and expected in lines[0], lines


# A file that is not a ZIP at all is what check is for: a problem on stdout.
def test_check_of_a_corrupt_archive_is_one_problem_on_stdout(tpkg_bin, corpus_dir, tmp_path):
    result = run(tpkg_bin, "check", corrupt_copy(corpus_dir, tmp_path))
    assert result.returncode == 1 and result.stderr == b""
    assert result.stdout.decode().count("\n") == 1
    assert "no end of central directory record" in result.stdout.decode()


def test_cat_into_a_closed_pipe_is_quiet(tpkg_bin, make_archive, tmp_path):
    big = tmp_path / "big.pt"
    assert run(make_archive, big, "--records", "1", "--record-size", str(8 << 20)).returncode == 0
    result = run("bash", "-c", f'"{tpkg_bin}" cat "{big}" pkg0/module_0.py | head -c1 >/dev/null; '
                 'echo "${PIPESTATUS[0]}"')
    assert result.stdout.decode().strip() == "0"
    assert result.stderr == b""


def test_cat_onto_a_full_disk_is_an_error(tpkg_bin, corpus_dir):
    with open("/dev/full", "wb") as full:
        result = subprocess.run([tpkg_bin, "cat", str(corpus_dir / "pkg_dtypes.pt"), ".data/0.storage"],
                                stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert result.returncode == 1
    assert result.stderr.decode() == "tpkg: cannot write to standard output: No space left on device\n"


# Every command that reads a file, with where its FILE operands go.
FILE_COMMANDS = {
    "ls": lambda f, tmp: [f], "cat": lambda f, tmp: [f, ".data/version"],
    "repack": lambda f, tmp: [f, tmp / "out.pt"], "edits": lambda f, tmp: [f],
    "info": lambda f, tmp: [f], "modules": lambda f, tmp: [f], "deps": lambda f, tmp: [f],
    "tree": lambda f, tmp: [f], "pickles": lambda f, tmp: [f], "tensors": lambda f, tmp: [f],
    "diff": lambda f, tmp: [f, f],
}


@pytest.mark.parametrize("command", sorted(FILE_COMMANDS) + ["check", "scan"])
@pytest.mark.parametrize("case", ["missing", "not_a_zip", "truncated", "folder"])
def test_every_command_fails_on_bad_input_in_one_line(tpkg_bin, corpus_dir, tmp_path, command,
                                                      case):
    (tmp_path / "text.pt").write_text("hello, I am not a zip archive at all\n")
    (tmp_path / "folder").mkdir()
    bad = {"missing": tmp_path / "missing.pt", "not_a_zip": tmp_path / "text.pt",
           "truncated": corrupt_copy(corpus_dir, tmp_path), "folder": tmp_path / "folder"}[case]
    if command == "check" and case in ("not_a_zip", "truncated"):  # its report: stdout
        result = run(tpkg_bin, "check", bad)
        assert result.returncode == 1 and result.stdout.count(b"\n") == 1, result.stdout
        return
    if command == "scan":  # never "clean" for what it could not read (tpkg scan's exit 2)
        result = run(tpkg_bin, "scan", bad)
        if case != "folder":  # a folder is walked for model files: an empty one is clean
            assert result.returncode == 2 and b"could not be read" in result.stdout, result
        return
    result = run(tpkg_bin, command, *FILE_COMMANDS.get(command, FILE_COMMANDS["ls"])(bad, tmp_path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tpkg: ") and str(bad) in lines[0], lines
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("command", sorted(FILE_COMMANDS) + ["check", "scan", "help"])
def test_every_command_refuses_an_unknown_option_with_a_usage_line(tpkg_bin, corpus_dir, command):
    result = run(tpkg_bin, command, "--no-such-option", corpus_dir / "pkg_model_numpy.pt")
    assert result.returncode == 2, result
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 2 and lines[0].startswith("tpkg: ") and lines[1].startswith("usage: tpkg ")
    assert result.stdout == b""
