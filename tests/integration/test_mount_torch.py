"""Real torch.package loads every corpus package from the mount exactly as
from the archive (doc/format.md §9), and packaged modules import via sys.path."""
import json
import pathlib
import subprocess
import sys

import pytest

from mounting import CORPUS, Mount
from ziputil import expected_facts

HERE = pathlib.Path(__file__).parent
PYTHON = "/usr/bin/python3"  # the interpreter with Debian's python3-torch
PACKAGES = sorted(p for p in CORPUS.glob("*.pt")
                  if (expected_facts(p) or {}).get("kind") == "torch.package")
CASES = [p.name.split(".")[0] for p in PACKAGES]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """Mounts every package read-only at <case>_dir, runs torch_compare.py once over all."""
    root = tmp_path_factory.mktemp("torch")
    mounts = [Mount(p, root / f"{p.name.split('.')[0]}_dir", ["-o", "ro"]) for p in PACKAGES]
    try:
        for m in mounts:
            m.start()
        # Relative mount names, as the corpus used: they root file_structure().
        cases = [{"case": m.path.name[:-4], "archive": str(m.archive), "mount": m.path.name}
                 for m in mounts]
        run = subprocess.run([PYTHON, str(HERE / "torch_compare.py"), json.dumps(cases)],
                             capture_output=True, text=True, timeout=300, cwd=root)
        assert run.returncode == 0, run.stderr
        yield json.loads(run.stdout)
    finally:
        problems = [p for m in mounts for p in m.stop()]
        assert not problems, problems


@pytest.mark.parametrize("case", CASES)
def test_package_importer_on_the_mount_matches_the_zip_load(comparison, case):
    facts = expected_facts(CORPUS / f"{case}.pt")
    expected = facts["directory_load"]
    got = comparison[case]
    if not expected["ok"]:  # TorchScript cannot load from a directory (§8.5)
        assert got.get("error") == expected["error"]
        return
    assert "error" not in got, got.get("error")
    assert got["compared"], "every package here has records outside .data/"
    assert {r: p for r, p in got["compared"].items() if p} == {}
    assert got["records"] == expected["get_all_records_sorted"]
    assert got["file_structure"] == expected["file_structure"]


@pytest.mark.parametrize("case", CASES)
def test_values_from_the_mount_match_what_torch_recorded(comparison, case):
    facts = expected_facts(CORPUS / f"{case}.pt")
    got = comparison[case].get("facts")
    if got is None:
        pytest.skip("not loadable from a directory (recorded by torch as well)")
    assert got["extern_modules"] == facts["package"]["extern_modules_list"]
    loads = facts["loads"]
    if "output" in got:
        assert got["output"] == pytest.approx(loads["output"]["values_flat"])
    for key, shas in got.items():
        if key.endswith(":sha256") and key[:-len(":sha256")] in loads:
            recorded = loads[key[:-len(":sha256")]]
            for name, sha in shas.items():
                if isinstance(recorded.get(name), dict) and "contiguous_bytes_sha256" in recorded[name]:
                    assert sha == recorded[name]["contiguous_bytes_sha256"], name


def test_packaged_modules_import_through_sys_path(mount_factory):
    # Read-only here; a read/write mount refuses __pycache__ (test_mount_write_kept.py).
    m = mount_factory(CORPUS / "pkg_model_numpy.pt", "-o", "ro")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import corpus_models, corpus_models.model as mm;"
        "print(corpus_models.DEFAULT_HIDDEN, mm.__file__.startswith(sys.argv[1]))"
    )
    run = subprocess.run([PYTHON, "-c", code, str(m.path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["3", "True"]
