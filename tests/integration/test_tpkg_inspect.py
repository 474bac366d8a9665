"""`tpkg info/modules/deps/tree/help` and `tpkg cat` of generated files, run as the real
binary, against what real PyTorch reported (the corpus facts, torch's own
file_structure() run now, the mount's `.data/deps.dot`) for every kind of model file:
torch.package, torch.save (ZIP and legacy), TorchScript and torch.export `.pt2`."""
import json
import os
import pathlib
import subprocess
import textwrap
import zipfile

import pytest

from mounting import Mount
from ziputil import data_offset, expected_facts

TORCH_PYTHON = "/usr/bin/python3"
TORCH2 = pathlib.Path(__file__).resolve().parents[1] / "data" / "torch2"
SAME_PACKAGE_AS = {"pkg_deflated_by_zip_tool.pt": "pkg_model_numpy.pt"}
INSPECT_COMMANDS = ["info", "modules", "deps", "tree", "help"]


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=120, **kwargs)


def packages(corpus_dir):
    return sorted(p.name for p in corpus_dir.iterdir()
                  if p.suffix == ".pt" and (expected_facts(p) or {}).get("kind") == "torch.package")


def exporter_facts(corpus_dir, name):
    return expected_facts(corpus_dir / SAME_PACKAGE_AS.get(name, name))["exporter"]


def tpkg_json(tpkg_bin, *args, **kwargs):
    result = run(tpkg_bin, *args, "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def made_by_torch(tmp_path_factory):
    """A TorchScript file (torch.jit.save) and a legacy torch.save file, written now by torch."""
    out = tmp_path_factory.mktemp("made_by_torch")
    script = textwrap.dedent("""
        import sys, torch
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
        torch.jit.save(torch.jit.script(model), "scripted.pt")
        torch.save(model.state_dict(), "legacy.pt", _use_new_zipfile_serialization=False)
    """)
    result = run(TORCH_PYTHON, "-c", script, cwd=out)
    assert result.returncode == 0, result.stderr
    return out


# ------------------------------------------------------------------ tree


def test_tree_equals_file_structure_for_every_package(tpkg_bin, corpus_dir):
    for name in packages(corpus_dir):
        facts = expected_facts(corpus_dir / name)["package"]
        tree = run(tpkg_bin, "tree", name, cwd=corpus_dir)
        assert tree.returncode == 0, tree.stderr
        assert tree.stdout.decode() == facts["file_structure"], name
        no_data = run(tpkg_bin, "tree", "--exclude", ".data/**", name, cwd=corpus_dir)
        assert no_data.stdout.decode() == facts["file_structure_exclude_data"], name


GLOB_CASES = [
    (["**"], []),
    (["corpus_models/**"], []),
    (["*.py", "**/*.pkl"], []),
    (["**"], ["**/*.storage", ".data/*"]),
    (["corpus_*/**"], ["**/__init__.py"]),
    (["res*/**", "model"], ["**/*.txt"]),
]


def test_tree_globs_equal_torchs_file_structure_now(tpkg_bin, corpus_dir):
    names = ["pkg_model_numpy.pt", "pkg_resources.pt", "pkg_dtypes.pt"]
    script = textwrap.dedent("""
        import json, sys
        from torch.package import PackageImporter
        out = []
        for name, include, exclude in json.loads(sys.argv[1]):
            inc = include[0] if len(include) == 1 else include
            exc = exclude[0] if len(exclude) == 1 else exclude
            out.append(str(PackageImporter(name).file_structure(include=inc, exclude=exc)))
        print(json.dumps(out))
    """)
    cases = [(n, inc, exc) for n in names for inc, exc in GLOB_CASES]
    torch = run(TORCH_PYTHON, "-c", script, json.dumps(cases), cwd=corpus_dir)
    assert torch.returncode == 0, torch.stderr
    for (name, include, exclude), want in zip(cases, json.loads(torch.stdout)):
        args = [a for g in include for a in ("--include", g)] + \
               [a for g in exclude for a in ("--exclude", g)]
        got = run(tpkg_bin, "tree", *args, name, cwd=corpus_dir)
        assert got.returncode == 0, got.stderr
        assert got.stdout.decode() == want, (name, include, exclude)


# ------------------------------------------------------------------ modules, info


def test_modules_equal_the_exporters_lists(tpkg_bin, corpus_dir):
    for name in packages(corpus_dir):
        exporter = exporter_facts(corpus_dir, name)
        modules = tpkg_json(tpkg_bin, "modules", corpus_dir / name)["modules"]
        for action, key in (("intern", "interned_modules"), ("extern", "externed_modules"),
                            ("mock", "mocked_modules"), ("deny", "denied_modules")):
            assert sorted(m["name"] for m in modules if m["action"] == action) == exporter[key]
        info = tpkg_json(tpkg_bin, "info", corpus_dir / name)
        assert info["kind"] == "torch.package"
        assert info["modules"] == {"interned": len(exporter["interned_modules"]),
                                   "extern": len(exporter["externed_modules"]),
                                   "mocked": len(exporter["mocked_modules"]),
                                   "denied": len(exporter["denied_modules"])}
        assert info["problems"] == []


def test_modules_text_names_action_record_and_users(tpkg_bin, corpus_dir):
    lines = run(tpkg_bin, "modules", corpus_dir / "pkg_mocked.pt").stdout.decode().splitlines()
    assert lines[0].split() == ["intern", "corpus_mock.net", "corpus_mock/net.py", "<-",
                                "<model.net.pkl>"]
    assert ["mock", "corpus_mock.heavy", "corpus_mock/heavy.py", "<-", "corpus_mock.net"] in \
        [line.split() for line in lines]


INFO_KEYS = ["path", "kind", "file_size", "prefix", "records", "record_bytes", "format_version",
             "python_version", "serialization_id", "modules", "pickles", "storages",
             "storage_bytes", "pending_edits", "last_save_failed", "problems", "unreadable"]


def test_info_of_each_kind(tpkg_bin, corpus_dir, made_by_torch):
    kinds = {corpus_dir / "pkg_model_numpy.pt": "torch.package",
             corpus_dir / "torch_save_checkpoint.pth": "torch.save",
             made_by_torch / "scripted.pt": "torchscript",
             TORCH2 / "scripted.pt": "torchscript",
             TORCH2 / "exported.pt2": "torch.export",
             TORCH2 / "save.pt": "torch.save"}
    for path, kind in kinds.items():
        info = tpkg_json(tpkg_bin, "info", path)
        assert list(info) == INFO_KEYS
        assert info["kind"] == kind, path
        assert info["file_size"] == path.stat().st_size
        assert info["problems"] == [] and info["unreadable"] == [], path
        text = run(tpkg_bin, "info", path)
        assert text.returncode == 0 and text.stdout.decode().startswith(f"{path}: {kind}\n")
    ckpt = tpkg_json(tpkg_bin, "info", corpus_dir / "torch_save_checkpoint.pth")
    assert ckpt["pickles"] == 1 and ckpt["storages"] > 0 and ckpt["format_version"] == "3"


def test_info_of_a_pt2_counts_the_storages_of_its_nested_weights(tpkg_bin):
    # torch 2.6's .pt2 nests torch.save files; the data/N records of its weights (the
    # state dict and the constants, not the example inputs) are the storages.
    import io
    import zipfile
    storages, size = 0, 0
    with zipfile.ZipFile(TORCH2 / "exported.pt2") as outer:
        for name in ("serialized_state_dict.pt", "serialized_constants.pt"):
            data = outer.read(name)
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                for info in inner.infolist():
                    parts = info.filename.split("/")
                    if len(parts) == 3 and parts[1] == "data" and parts[2].isdigit():
                        storages += 1
                        size += info.file_size
    assert storages > 0
    info = tpkg_json(tpkg_bin, "info", TORCH2 / "exported.pt2")
    assert (info["storages"], info["storage_bytes"]) == (storages, size)


def test_torchscript_modules_are_code_records(tpkg_bin, made_by_torch):
    modules = tpkg_json(tpkg_bin, "modules", made_by_torch / "scripted.pt")["modules"]
    scripted = [m for m in modules if m["action"] == "torchscript"]
    assert scripted and all(m["record"].startswith("code/__torch__") for m in scripted)
    assert all(m["problem"] is None for m in modules)


def test_modules_of_a_protocol_2_pickle_are_those_python_3_imports(tpkg_bin, tmp_path):
    """torch.save pickles whole modules with protocol 2, which names Python 2's `__builtin__`;
    the unpickler imports what pickle's fix_imports maps it to, as listed here."""
    script = textwrap.dedent("""
        import pickletools, sys, torch, zipfile, _compat_pickle
        torch.save(torch.nn.BatchNorm1d(3), "bn.pt")
        with zipfile.ZipFile("bn.pt") as z:
            data = z.read("bn/data.pkl")
        names, proto = set(), 0
        for op, arg, _ in pickletools.genops(data):
            if op.name == "PROTO":
                proto = arg
            if op.name == "GLOBAL":
                module = arg.split(" ")[0]
                names.add(_compat_pickle.IMPORT_MAPPING.get(module, module) if proto < 3
                          else module)
        print(" ".join(sorted(names)))
    """)
    r = run(TORCH_PYTHON, "-c", script, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    imported = set(r.stdout.decode().split())
    assert "builtins" in imported
    modules = tpkg_json(tpkg_bin, "modules", tmp_path / "bn.pt")
    assert {m["name"] for m in modules["modules"]} == imported, modules


def test_legacy_torch_save_gets_one_clear_line(tpkg_bin, made_by_torch, tmp_path):
    legacy = made_by_torch / "legacy.pt"
    for command in (["info", legacy], ["modules", legacy], ["tree", legacy], ["ls", legacy],
                    ["repack", legacy, tmp_path / "o.pt"]):
        result = run(tpkg_bin, *command)
        assert result.returncode == 1
        lines = result.stderr.decode().splitlines()
        assert len(lines) == 1 and "a legacy torch.save file" in lines[0], (command, lines)
    assert not (tmp_path / "o.pt").exists()
    # check reports on standard output, as for any archive it refuses
    result = run(tpkg_bin, "check", legacy)
    assert result.returncode == 1 and "a legacy torch.save file" in result.stdout.decode()


def test_a_fifo_is_refused_without_waiting_for_a_writer(tpkg_bin, tmp_path):
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    for command in ("info", "ls", "modules", "tensors", "diff"):
        args = [fifo, fifo] if command == "diff" else [fifo]
        result = run(tpkg_bin, command, *args)  # it used to block in open()
        assert result.returncode == 1, command
        assert result.stderr.decode() == f"tpkg: {fifo}: is a FIFO, not an archive\n", command
    result = run(tpkg_bin, "scan", fifo)
    assert result.returncode == 2 and "not a regular file (a FIFO)" in result.stdout.decode()


# ------------------------------------------------------------------ deps, cat, the mount


def test_deps_and_cat_serve_the_mounts_bytes(tpkg_bin, corpus_dir, tmp_path):
    for name in packages(corpus_dir):
        want = exporter_facts(corpus_dir, name)["dependency_graph_string"].encode()
        assert run(tpkg_bin, "deps", corpus_dir / name).stdout == want, name
        assert run(tpkg_bin, "cat", corpus_dir / name, ".data/deps.dot").stdout == want, name
    for name in ("pkg_model_numpy.pt", "pkg_mocked.pt", "pkg_repackaged.pt"):
        m = Mount(corpus_dir / name, tmp_path / name.split(".")[0], ["-o", "ro"]).start()
        try:
            for generated in (".data/deps.dot", ".data/extern_modules"):
                shown = (m.path / generated).read_bytes()
                assert run(tpkg_bin, "cat", corpus_dir / name, generated).stdout == shown
            assert run(tpkg_bin, "deps", corpus_dir / name).stdout == \
                (m.path / ".data/deps.dot").read_bytes()
        finally:
            assert m.stop() == []


def test_deps_why_lists_every_path(tpkg_bin, corpus_dir):
    why = tpkg_json(tpkg_bin, "deps", "--why", "torch", corpus_dir / "pkg_mocked.pt")
    assert why["action"] == "EXTERN"
    assert why["paths"] == [["<model.net.pkl>", "corpus_mock.net", "torch"],
                            ["<model.net.pkl>", "torch"]]
    text = run(tpkg_bin, "deps", "--why", "corpus_mock.heavy", corpus_dir / "pkg_mocked.pt")
    assert text.stdout.decode().splitlines()[1:] == \
        ["  <model.net.pkl> -> corpus_mock.net -> corpus_mock.heavy"]
    missing = run(tpkg_bin, "deps", "--why", "nope", corpus_dir / "pkg_mocked.pt")
    assert missing.returncode == 1 and b"no module 'nope'" in missing.stderr


def test_deps_of_a_non_package_says_why_not(tpkg_bin, corpus_dir):
    result = run(tpkg_bin, "deps", corpus_dir / "torch_save_checkpoint.pth")
    assert result.returncode == 1
    assert b"not a torch.package" in result.stderr and len(result.stderr.splitlines()) == 1


# ------------------------------------------------------------------ help


def test_help_lists_and_shows_commands(tpkg_bin):
    assert run(tpkg_bin, "help").stdout == run(tpkg_bin, "--help").stdout
    for command in ["ls", "cat", "check", "repack", "edits"] + INSPECT_COMMANDS:
        shown = run(tpkg_bin, "help", command)
        assert shown.returncode == 0
        assert shown.stdout == run(tpkg_bin, command, "--help").stdout
        assert shown.stdout.decode().startswith(f"usage: tpkg {command}")
        assert f"tpkg {command}" in run(tpkg_bin, "help").stdout.decode()
    unknown = run(tpkg_bin, "help", "nope")
    assert unknown.returncode == 2 and b"unknown command 'nope'" in unknown.stderr


# ------------------------------------------------------------------ --json of the other commands


def test_json_of_ls_check_and_edits(tpkg_bin, corpus_dir):
    archive = corpus_dir / "pkg_deflated_by_zip_tool.pt"
    listing = tpkg_json(tpkg_bin, "ls", archive)
    assert list(listing) == ["path", "prefix", "records"]
    assert [r["name"] for r in listing["records"]] == \
        run(tpkg_bin, "ls", archive).stdout.decode().splitlines()
    assert {r["method"] for r in listing["records"]} == {"deflate", "stored"}
    assert list(listing["records"][0]) == ["name", "method", "size", "compressed_size", "crc32",
                                           "data_offset"]
    assert tpkg_json(tpkg_bin, "check", archive) == {"path": str(archive), "ok": True,
                                                      "problems": []}
    bad = run(tpkg_bin, "check", "--json", corpus_dir / "bad_no_prefix.zip")
    assert bad.returncode == 1 and json.loads(bad.stdout)["ok"] is False
    assert json.loads(bad.stdout)["problems"] == bad_lines(tpkg_bin, corpus_dir)
    assert tpkg_json(tpkg_bin, "edits", archive) == {"path": str(archive), "journal": None,
                                                      "edits": [], "discarded": False,
                                                      "unreadable": None}


def bad_lines(tpkg_bin, corpus_dir):
    return run(tpkg_bin, "check", corpus_dir / "bad_no_prefix.zip").stdout.decode().splitlines()


def test_tree_refuses_a_glob_torch_refuses(tpkg_bin, corpus_dir):
    result = run(tpkg_bin, "tree", "--include", "**.txt", corpus_dir / "pkg_resources.pt")
    assert result.returncode == 2
    assert b"bad GLOB: ** can only appear as an entire path segment" in result.stderr


def test_modules_text_has_one_line_per_module_of_the_json(tpkg_bin, corpus_dir):
    for name in packages(corpus_dir):
        modules = tpkg_json(tpkg_bin, "modules", corpus_dir / name)["modules"]
        lines = run(tpkg_bin, "modules", corpus_dir / name).stdout.decode().splitlines()
        if not modules:
            assert lines == ["(no modules)"], name
            continue
        assert [line.split()[:2] for line in lines] == \
            [[m["action"], m["name"]] for m in modules], name


# ------------------------------------------------------------------ damaged files


def damaged_copy(source, record, out):
    """A copy of `source` with one byte of `record`'s data flipped: its CRC-32 no longer
    matches, as after a bad disk or a truncated download patched over."""
    data = bytearray(source.read_bytes())
    data[data_offset(source, record) + 40] ^= 0x01
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("package,record", [("pkg_dtypes", "tensors/all.pkl"),
                                            ("pkg_model_numpy", "corpus_models/model.py")])
@pytest.mark.parametrize("command", [["info"], ["modules"], ["deps"], ["deps", "--why", "torch"]])
def test_a_damaged_record_fails_after_the_report(tpkg_bin, corpus_dir, tmp_path, command,
                                                 package, record):
    # The report shows what could be read, and the exit status says the file is damaged:
    # a pipeline must not take a graph or module list that misses a record for the whole.
    # (A damaged source used to fail the command with the CRC error alone, no report.)
    source = corpus_dir / f"{package}.pt"
    prefix = "archive" if package == "pkg_dtypes" else package
    path = damaged_copy(source, f"{prefix}/{record}", tmp_path / "damaged.pt")
    good = run(tpkg_bin, *command, source)
    assert good.returncode == 0 and good.stderr == b"", good.stderr
    bad = run(tpkg_bin, *command, path)
    assert bad.returncode == 1, bad
    lines = bad.stderr.decode().splitlines()
    if command == ["deps"] and record.endswith(".py"):
        # deps.dot as a mount serves it: no graph that misses a source's imports
        assert len(lines) == 1 and record in lines[0] and "CRC-32 mismatch" in lines[0], lines
        assert bad.stdout == b""
        return
    assert len(lines) == 1 and record in lines[0] and "damaged, cannot be read" in lines[0], lines
    assert bad.stdout, "the report is still printed"
    if command[0] != "deps":
        doc = run(tpkg_bin, *command, "--json", path)
        assert doc.returncode == 1
        report = json.loads(doc.stdout)
        assert report["unreadable"] == [record]
        assert any("CRC-32 mismatch" in p for p in report["problems"])


@pytest.mark.parametrize("command", ["info", "modules"])
def test_damaged_weights_of_a_torch_save_and_a_pt2_fail(tpkg_bin, corpus_dir, tmp_path, command):
    cases = [(corpus_dir / "torch_save_checkpoint.pth", None),
             (TORCH2 / "exported.pt2", "serialized_state_dict.pt")]
    for source, record in cases:
        if record is None:
            with zipfile.ZipFile(source) as z:
                record = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        path = damaged_copy(source, record, tmp_path / ("damaged" + source.suffix))
        assert run(tpkg_bin, command, source).returncode == 0
        bad = run(tpkg_bin, command, "--json", path)
        assert bad.returncode == 1, (source, bad.stderr)
        lines = bad.stderr.decode().splitlines()
        assert len(lines) == 1 and "damaged" in lines[0], lines
        assert json.loads(bad.stdout)["unreadable"], source
