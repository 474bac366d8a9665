"""What torch's loader needs, as `tpkg check` and `tpkg info` report it: model files written
now by the stack's real torch, some with a record taken out, judged against torch loading
them. `info` counts the pickles and storages that `tpkg tensors` lists, whatever the
records are named."""
import json
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
