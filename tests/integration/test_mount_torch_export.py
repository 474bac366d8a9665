"""The round trip users make, with the torch of the stack the tests run on
(1.13 on Debian 12, 2.6 on Debian 13): export with torch, mount, `sed -i`,
unmount, and the saved archive is byte for byte what that torch exports for
the edited objects (`.data/extern_modules`, record order and, on torch 2.x,
`byteorder` and `.data/serialization_id` included), and it loads in torch."""
import json
import pathlib
import subprocess
import zipfile

import pytest

from writing import PYTHON, session

HERE = pathlib.Path(__file__).parent
SOURCE = "import os\nX = 1\n"
EDITED = "import os\nimport json\nX = 2\n"


def torch_run(*args):
    run = subprocess.run([PYTHON, str(HERE / "torch_export.py"), *map(str, args)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout) if run.stdout.strip() else None


@pytest.fixture(scope="module")
def torch_major():
    pytest.importorskip("torch")
    run = subprocess.run([PYTHON, "-c", "import torch; print(torch.__version__)"],
                         capture_output=True, text=True, check=True)
    return int(run.stdout.split(".")[0])


def written_by_torch(tmp_path, archive):
    """What torch's own writer makes of `archive`'s records (torch 2.x: the id)."""
    (tmp_path / "rewritten").mkdir()
    return torch_run("rewrite", archive, tmp_path / "rewritten" / archive.name)["same"]


def test_sed_on_an_exported_package_saves_what_torch_exports(tmp_path, torch_major):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    archive, expected = tmp_path / "a" / "model.pt", tmp_path / "b" / "model.pt"
    torch_run("package", archive, SOURCE)
    torch_run("package", expected, EDITED)  # same basename: same prefix folder
    with session(archive, tmp_path / "mnt") as m:
        subprocess.run(["sed", "-i", "s/X = 1/import json\\nX = 2/", str(m.path / "m.py")],
                       check=True)
        assert (m.path / "m.py").read_text() == EDITED
        assert "json" in (m.path / ".data" / "extern_modules").read_text().split()
    assert m.problems == []
    assert archive.read_bytes() == expected.read_bytes()
    loaded = torch_run("load-package", archive)
    assert loaded["X"] == 2 and loaded["t"] == [0.0, 1.0, 2.0]
    assert "json" in loaded["externs"]
    if torch_major >= 2:
        assert written_by_torch(tmp_path, archive)


def test_edited_checkpoint_saves_what_torch_save_writes(tmp_path, torch_major):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    archive, expected = tmp_path / "a" / "ckpt.pt", tmp_path / "b" / "ckpt.pt"
    torch_run("checkpoint", archive, 1)
    torch_run("checkpoint", expected, 7)
    with zipfile.ZipFile(expected) as zf:
        new_data = zf.read("ckpt/data/0")
    with session(archive, tmp_path / "mnt") as m:
        with open(m.path / "data" / "0", "r+b") as f:
            f.write(new_data)
    assert m.problems == []
    assert archive.read_bytes() == expected.read_bytes()
    assert torch_run("load-checkpoint", archive) == {"a": [7.0] * 4, "b": [1.0, 1.0]}
    if torch_major >= 2:
        assert written_by_torch(tmp_path, archive)
