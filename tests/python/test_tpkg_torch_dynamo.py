"""Packaged code that tpkg's importer loaded, under the parts of torch that look packaged modules
up by their mangled names in torch.package's own table (package_importer._package_imported_modules):
torch 2.x's Dynamo, behind torch.compile and torch.export. The reference is torch.package itself."""
import io

import pytest

import tpkg

HELPERS = "FACTOR = 3.0\ndef scale(x):\n    return x * FACTOR\n"
MODEL = "from helpers import scale\ndef f(x):\n    return scale(x) + 1\n"


def package(torch_package_or_tpkg):
    buf = io.BytesIO()
    with torch_package_or_tpkg.PackageExporter(buf) as exporter:
        exporter.extern("torch.**")
        exporter.save_source_string("helpers", HELPERS)
        exporter.save_source_string("model", MODEL)
    return buf.getvalue()


def test_modules_are_in_torchs_table(torch):
    from torch.package import package_importer

    importer = tpkg.PackageImporter(io.BytesIO(package(tpkg)))
    model = importer.import_module("model")
    helpers = importer.import_module("helpers")
    assert package_importer._package_imported_modules[model.__name__] is model
    assert package_importer._package_imported_modules[helpers.__name__] is helpers


def test_torch_compile_and_export_of_packaged_code(torch):
    if not hasattr(torch, "compile"):
        pytest.skip("torch 1.x has no torch.compile")
    for library in (torch.package, tpkg):  # torch's own importer first: the expected result
        f = library.PackageImporter(io.BytesIO(package(tpkg))).import_module("model").f
        assert torch.equal(torch.compile(f, backend="eager")(torch.ones(2)), torch.full((2,), 4.0))

        class Module(torch.nn.Module):
            def forward(self, x):
                return f(x)

        exported = torch.export.export(Module(), (torch.ones(2),))
        assert torch.equal(exported.module()(torch.ones(2)), torch.full((2,), 4.0))


def test_torch_imported_after_tpkg_made_modules_never_reuses_their_names(tmp_path, staging_dir):
    """tpkg's first importer took <torch_package_0> before torch was imported, whose counter then
    starts at 0 again: sharing the module must not make torch's next importer fail on the name."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    archive = tmp_path / "m.pt"
    archive.write_bytes(package(tpkg))
    code = (
        "import sys, tpkg\n"
        "a = tpkg.PackageImporter(sys.argv[1]); m = a.import_module('model')\n"
        "assert m.__name__.startswith('<torch_package_0>')\n"
        "import torch.package as tp\n"
        "a.import_module('model')\n"
        "t = tp.PackageImporter(sys.argv[1]).import_module('model')\n"
        "assert t.__name__ != m.__name__, t.__name__\n"
        "assert tp.package_importer._package_imported_modules[m.__name__] is m\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code, str(archive)], capture_output=True,
                            text=True, env={"PYTHONPATH": str(staging_dir), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr
