"""Archives written by torch 2.6 (tests/data/torch2, made in a Debian 13 root)
through a real read/write mount: an edit saves exactly what torch 2.6 writes
for the edited objects, `.data/serialization_id` and record order included;
a mount without edits leaves the archive untouched."""
import pathlib
import subprocess
import zipfile

import pytest

from writing import session, writable_copy

TORCH2 = pathlib.Path(__file__).resolve().parents[1] / "data" / "torch2"


def record(archive, name):
    with zipfile.ZipFile(archive) as zf:
        prefix = zf.infolist()[0].filename.split("/", 1)[0]
        return zf.read(f"{prefix}/{name}")


def test_sed_on_a_torch2_package_saves_what_torch_writes(tmp_path):
    archive = writable_copy(tmp_path / "a", "package.pt", TORCH2 / "package.pt")
    with session(archive, tmp_path / "mnt") as m:
        subprocess.run(["sed", "-i", "s/X = 1/X = 22  # edited/", str(m.path / "m.py")],
                       check=True)
        # The mount shows the records as stored until the save.
        assert (m.path / "byteorder").read_bytes() == b"little"
    assert m.problems == []
    assert archive.read_bytes() == (TORCH2 / "edited" / "package.pt").read_bytes()


@pytest.mark.parametrize("name", ["save.pt", "save_nobyteorder.pt"])
def test_edited_torch2_checkpoint_saves_what_torch_save_writes(tmp_path, name):
    archive = writable_copy(tmp_path / "a", name, TORCH2 / name)
    with session(archive, tmp_path / "mnt") as m:
        with open(m.path / "data" / "0", "r+b") as f:
            f.write(record(TORCH2 / "edited" / name, "data/0"))
    assert m.problems == []
    assert archive.read_bytes() == (TORCH2 / "edited" / name).read_bytes()


def test_torch2_package_read_through_a_mount_is_left_untouched(tmp_path):
    archive = writable_copy(tmp_path / "a", "package.pt", TORCH2 / "package.pt")
    before = archive.read_bytes()
    with session(archive, tmp_path / "mnt") as m:
        assert (m.path / "m.py").read_bytes() == record(archive, "m.py")
        # Regenerated from the records: what torch 2.6 wrote.
        assert (m.path / ".data" / "extern_modules").read_bytes() == \
            record(archive, ".data/extern_modules")
    assert m.problems == []
    assert archive.read_bytes() == before
