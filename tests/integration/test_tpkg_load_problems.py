"""What torch's loader needs, as `tpkg check` and `tpkg info` report it: model files written
now by the stack's real torch, some with a record taken out, judged against torch loading
them. `info` counts the pickles and storages that `tpkg tensors` lists, whatever the
records are named."""
import json
import re
import subprocess
import textwrap
import zipfile

import pytest

TORCH_PYTHON = "/usr/bin/python3"


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120,
                          **kwargs)


def torch_run(code, cwd):
    r = run(TORCH_PYTHON, "-c", textwrap.dedent(code), cwd=cwd)
    return r


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("load_problems")
    r = torch_run("""
        import torch
        from torch.package import PackageExporter
        torch.save({"a": torch.ones(3), "b": torch.ones(2)}, "saved.pt")
        with PackageExporter("package.pt") as e:
            e.extern(["torch.**", "collections"])
            e.save_pickle("m", "weights.bin", {"w": torch.ones(5)})
            e.save_pickle("m", "other", {"v": torch.zeros(2)})

        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Parameter(torch.ones(3))

            def forward(self, x):
                return x * self.w + torch.arange(3, dtype=torch.float32) * 2.0

        torch.jit.save(torch.jit.trace(M(), torch.randn(3)), "traced.pt")
    """, out)
    assert r.returncode == 0, r.stderr
    return out


def without(source, suffix, out):
    """A copy of `source` without its one record whose name ends with `suffix`."""
    with zipfile.ZipFile(source) as z, zipfile.ZipFile(out, "w") as o:
        names = [i.filename for i in z.infolist() if i.filename.endswith(suffix)]
        assert len(names) == 1, names
        for info in z.infolist():
            if info.filename not in names:
                o.writestr(info, z.read(info))
    return out


def torch_fails_to_load(path, code):
    r = torch_run(f"""
        import torch
        from torch.package import PackageImporter
        path = {str(path)!r}
        {code}
    """, path.parent)
    return r.returncode != 0


def check_agrees_with_torch(tpkg_bin, good, broken, load, problem):
    """torch's `load` fails on `broken` and not on `good`; `tpkg check` says `problem` of
    `broken` (its only line, exit 1) and ok of `good`."""
    assert torch_fails_to_load(broken, load)
    assert not torch_fails_to_load(good, load)
    r = run(tpkg_bin, "check", broken)
    assert (r.returncode, r.stdout) == (1, f"{broken}: {problem}\n"), r
    assert run(tpkg_bin, "check", good).returncode == 0


def test_a_torch_save_without_a_storage_fails_check_as_it_fails_torch(tpkg_bin, made, tmp_path):
    good = made / "saved.pt"
    broken = without(good, "data/1", tmp_path / "missing.pt")
    check_agrees_with_torch(tpkg_bin, good, broken, "torch.load(path)",
                            "data/1: Storage is loaded by a pickle but is missing from the "
                            "archive or too short (loaded by data.pkl, and the archive has no "
                            "such record)")
    info = json.loads(run(tpkg_bin, "info", "--json", broken).stdout)
    assert any("data/1" in line for line in info["problems"]), info["problems"]


def test_a_package_without_a_storage_fails_check_as_it_fails_torch(tpkg_bin, made, tmp_path):
    good = made / "package.pt"
    load_other = "PackageImporter(path).load_pickle('m', 'other')"
    with zipfile.ZipFile(good) as z:
        # The storage `other` loads: the second one saved.
        storage = sorted(n for n in z.namelist() if n.endswith(".storage"))[-1]
    broken = without(good, storage, tmp_path / "missing.pt")
    assert torch_fails_to_load(broken, load_other)
    assert not torch_fails_to_load(good, load_other)
    r = run(tpkg_bin, "check", broken)
    assert r.returncode == 1, r
    assert "Storage is loaded by a pickle but is missing" in r.stdout, r.stdout
    assert run(tpkg_bin, "check", good).returncode == 0


@pytest.mark.parametrize("name", ["package.pt", "traced.pt", "saved.pt"])
def test_info_counts_the_pickles_and_storages_tensors_lists(tpkg_bin, made, name):
    """Pickles not named `.pkl` in a package, a TorchScript file's constants: counted."""
    info = json.loads(run(tpkg_bin, "info", "--json", made / name).stdout)
    tensors = json.loads(run(tpkg_bin, "tensors", "--json", made / name).stdout)["tensors"]
    storages = {t["storage"]["record"]: t["storage"]["record_bytes"] for t in tensors}
    assert info["pickles"] == len({t["pickle"] for t in tensors}), (info, tensors)
    assert (info["storages"], info["storage_bytes"]) == (len(storages), sum(storages.values()))
    expected = {"package.pt": (2, 2), "traced.pt": (2, 2), "saved.pt": (1, 2)}[name]
    assert (info["pickles"], info["storages"]) == expected, info


def test_a_folder_entry_under_a_declared_extern_fails_check_as_it_fails_torch(tpkg_bin,
                                                                               corpus_dir,
                                                                               tmp_path):
    """torch's importer makes every declared extern a node before it walks the records: a
    folder entry `numpy/` under the declared extern numpy (not one torch externs of itself,
    like the stdlib) makes it refuse the package."""
    good = corpus_dir / "pkg_model_numpy.pt"
    broken = tmp_path / "folder.pt"
    with zipfile.ZipFile(good) as z, zipfile.ZipFile(broken, "w") as o:
        prefix = z.namelist()[0].split("/")[0]
        assert "numpy" in z.read(f"{prefix}/.data/extern_modules").decode().split()
        for info in z.infolist():
            o.writestr(info, z.read(info))
        o.writestr(zipfile.ZipInfo(f"{prefix}/numpy/"), b"")
    check_agrees_with_torch(tpkg_bin, good, broken, "PackageImporter(path)",
                            "numpy: Module layout would not load: inconsistent module structure "
                            "(the module is declared extern in .data/extern_modules but the "
                            "archive has files under numpy/)")


def test_check_passes_what_torch_saves_and_loads_though_an_exporter_would_object(tpkg_bin,
                                                                                 tmp_path):
    """A source that does not parse, saved with dependencies=False, and a pickle larger than
    the analysis reads: torch saves and loads the package, so `check` says ok."""
    r = torch_run("""
        import torch
        from torch.package import PackageExporter, PackageImporter
        with PackageExporter("tolerated.pt") as e:
            e.save_source_string("bad", "def f(:\\n", dependencies=False)
            e.save_pickle("m", "big.pkl", {"blob": b"x" * (65 << 20)})
        assert len(PackageImporter("tolerated.pt").load_pickle("m", "big.pkl")["blob"]) == 65 << 20
    """, tmp_path)
    assert r.returncode == 0, r.stderr
    c = run(tpkg_bin, "check", tmp_path / "tolerated.pt")
    assert (c.returncode, c.stdout) == (0, f"{tmp_path / 'tolerated.pt'}: ok (format; whether "
                                           "it is safe to load is tpkg scan's job)\n"), c


def with_numel(source, numel, out):
    """A copy of torch.save file `source` whose first storage persistent id
    claims `numel` elements (a LONG1 8-byte int in place of its int)."""
    import pickletools
    with zipfile.ZipFile(source) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        data = z.read(name)
        ops = list(pickletools.genops(data))
        at = next(i for i, (op, arg, _) in enumerate(ops) if arg == "cpu")
        op, _, pos = next(o for o in ops[at + 1:] if "INT" in o[0].name)
        end = next(o[2] for o in ops if o[2] > pos)
        data = data[:pos] + b"\x8a\x08" + numel.to_bytes(8, "little") + data[end:]
        with zipfile.ZipFile(out, "w") as o:
            for info in z.infolist():
                o.writestr(info, data if info.filename == name else z.read(info))
    return out


def test_a_storage_of_more_than_2_to_the_64_bytes_is_a_problem_not_a_wrapped_size(tpkg_bin, made,
                                                                                  tmp_path):
    # 2^62 float32 elements are 2^64 bytes: the product wraps to 0 in 64 bits.
    broken = with_numel(made / "saved.pt", 2**62, tmp_path / "huge.pt")
    tensors = json.loads(run(tpkg_bin, "tensors", "--json", broken).stdout)["tensors"]
    assert tensors[0]["storage"]["numel"] == 2**62
    assert tensors[0]["storage"]["bytes"] is None
    text = run(tpkg_bin, "tensors", broken).stdout
    assert "over 2^64 (overflow)" in text and " 0\n" not in text, text
    r = run(tpkg_bin, "check", broken)
    assert r.returncode == 1
    assert "as 4611686018427387904 x FloatStorage, more than 2^64 bytes" in r.stdout, r.stdout


def copy_with(source, out, edit_record=None, extra=()):
    """A copy of `source` whose records pass through `edit_record(name, bytes)` (None: as
    they are), with the records `extra` ((name under the prefix, bytes)) added."""
    with zipfile.ZipFile(source) as z, zipfile.ZipFile(out, "w") as o:
        prefix = z.namelist()[0].split("/")[0]
        for info in z.infolist():
            data = z.read(info)
            o.writestr(info, edit_record(info.filename, data) if edit_record else data)
        for name, data in extra:
            o.writestr(f"{prefix}/{name}", data)
    return out


def test_a_record_name_that_is_not_utf8_fails_check_as_it_fails_torch(tpkg_bin, corpus_dir,
                                                                       tmp_path):
    good = corpus_dir / "pkg_model_numpy.pt"
    broken = copy_with(good, tmp_path / "name.pt", extra=[("notes/caf\u00e9.txt", b"x")])
    # The same name with bytes no UTF-8 decoder takes, in the local header and the directory.
    data = broken.read_bytes()
    assert data.count("caf\u00e9".encode()) == 2
    broken.write_bytes(data.replace("caf\u00e9".encode(), b"caf\xe9\xe9"))
    check_agrees_with_torch(tpkg_bin, good, broken, "PackageImporter(path)",
                            "'notes/caf\\xe9\\xe9.txt': Record name is not UTF-8: torch's "
                            "importer cannot open the package (its reader hands every name to "
                            "Python as str: UnicodeDecodeError)")
    assert run(tpkg_bin, "info", broken).returncode == 0  # a finding, not damage
    assert "Record name is not UTF-8" in run(tpkg_bin, "info", broken).stdout


def test_a_truncated_pickle_fails_check_as_info_and_torch_say(tpkg_bin, corpus_dir, tmp_path):
    good = corpus_dir / "pkg_model_numpy.pt"
    broken = copy_with(good, tmp_path / "cut.pt", lambda name, data: data[:len(data) // 2]
                       if name.endswith("/model/model.pkl") else data)  # its CRC-32 matches
    load = "PackageImporter(path).load_pickle('model', 'model.pkl')"
    assert torch_fails_to_load(broken, load) and not torch_fails_to_load(good, load)
    r = run(tpkg_bin, "check", broken)
    # Where the cut falls, and so what the scan says, depends on the pickle this stack's torch
    # wrote ("4 bytes declared, 3 left at byte 362", "no STOP opcode at byte 856").
    assert r.returncode == 1 and re.fullmatch(
        rf"{re.escape(str(broken))}: damaged, cannot be read: model/model\.pkl \(truncated "
        rf"pickle: [^\n]+\)\n", r.stdout), r
    info = run(tpkg_bin, "info", broken)
    assert info.returncode == 1 and "damaged, cannot be read: model/model.pkl" in info.stderr


def test_a_pickle_damaged_at_its_first_byte_is_named_by_every_command(tpkg_bin, corpus_dir,
                                                                      tmp_path):
    """The first byte decides whether a record opens as a pickle: read unchecked, it must not
    hide a `.pkl` whose bytes fail their CRC-32 (info, modules and deps list it as damaged and
    exit 1; tensors and pickles fail on it)."""
    broken = tmp_path / "first_byte.pt"
    data = bytearray((corpus_dir / "pkg_model_numpy.pt").read_bytes())
    with zipfile.ZipFile(corpus_dir / "pkg_model_numpy.pt") as z:
        entry = next(i for i in z.infolist() if i.filename.endswith("/model/model.pkl"))
    header = entry.header_offset
    name_length = int.from_bytes(data[header + 26:header + 28], "little")
    extra_length = int.from_bytes(data[header + 28:header + 30], "little")
    data[header + 30 + name_length + extra_length] ^= 0xFF  # the first byte of its data
    broken.write_bytes(bytes(data))
    for command in ("info", "modules", "deps"):
        r = run(tpkg_bin, command, broken)
        assert r.returncode == 1, (command, r)
        assert "damaged, cannot be read: model/model.pkl" in r.stderr, (command, r.stderr)
    for command in ("tensors", "pickles"):
        r = run(tpkg_bin, command, broken)
        assert r.returncode == 1, (command, r)
        assert "record 'pkg_model_numpy/model/model.pkl': CRC-32 mismatch" in r.stderr, r.stderr


def test_a_binary_resource_that_opens_like_a_pickle_is_no_pickle(tpkg_bin, corpus_dir, tmp_path):
    """save_binary bytes that start as a protocol-3 pickle and are none: torch never unpickles
    them, and no command calls them damaged."""
    good = corpus_dir / "pkg_model_numpy.pt"
    package = copy_with(good, tmp_path / "blob.pt", extra=[("res/blob.bin", b"\x80\x03not one")])
    assert not torch_fails_to_load(
        package, "assert PackageImporter(path).load_binary('res', 'blob.bin') == b'\\x80\\x03not one'")
    for command in ("check", "info", "modules", "deps", "tensors", "pickles"):
        r = run(tpkg_bin, command, package)
        assert r.returncode == 0 and "blob.bin" not in r.stdout + r.stderr, (command, r)


def test_a_pickle_class_whose_module_is_only_a_folder_fails_check_as_it_fails_torch(
        tpkg_bin, corpus_dir, tmp_path):
    """model.py moved to model/core.py (what an older tpkgfs saved): corpus_models.model is a
    namespace package, which torch's find_class finds no TinyNet in."""
    good = corpus_dir / "pkg_model_numpy.pt"
    broken = tmp_path / "split.pt"
    with zipfile.ZipFile(good) as z, zipfile.ZipFile(broken, "w") as o:
        for info in z.infolist():
            name = info.filename.replace("/corpus_models/model.py", "/corpus_models/model/core.py")
            o.writestr(name, z.read(info))
    check_agrees_with_torch(tpkg_bin, good, broken,
                            "PackageImporter(path).load_pickle('model', 'model.pkl')",
                            "corpus_models.model.TinyNet: Pickle global is not defined by its "
                            "module in the package (loaded by model/model.pkl, and "
                            "corpus_models.model is a folder without __init__.py, which binds "
                            "only its submodules)")
