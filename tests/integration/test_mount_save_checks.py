"""A save never breaks or widens a package (issue 11, points 3, 4, 5, 7).

Each scenario runs on a real mount of a copy in tmp_path: edits that would
make the package fail to load are refused before anything is written (every
problem named, the archive untouched, the edits kept); an unrelated edit
never adds an extern module the package did not declare; names that are not
UTF-8 are refused with EILSEQ; an unedited mount shows the archive's own
`.data/extern_modules`. Real torch loads, or correctly refuses, every archive
the tests save.
"""
import errno
import json
import os
import shutil
import subprocess
import zipfile

import pytest

from mounting import BUILD
from writing import PYTHON, records, session, torch_check, writable_copy

TPKG = BUILD / "src" / "tools" / "tpkg"
REFUSED = [r"^tpkgfs: Cannot save .*(would no longer load|less safe)", r"^\s*$",
           r"^\s*\*|^\s+\S", r"the edits are kept in", r"would not export as it is"]


def refused_save(tmp_path, edit):
    """Runs `edit(mount_path)` on a copy of the corpus package; the save must fail.
    Returns the daemon's stderr."""
    archive = writable_copy(tmp_path)
    before = archive.read_bytes()
    with session(archive, tmp_path / "mnt", allow=REFUSED) as m:
        edit(m.path)
    assert m.problems == ["tpkgfs exited with 1"]
    assert archive.read_bytes() == before  # nothing written
    assert list(tmp_path.glob(".*.tpkgfs"))  # the edits are kept
    loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "DEFAULT_HIDDEN"}])
    assert "error" not in loaded["k"], loaded
    return m.stderr()


def refused_replacement(tmp_path, record, old, new):
    """refused_save of an edit that replaces `old` by `new` in `record` through the mount."""
    def edit(p):
        path = p / record
        path.write_bytes(path.read_bytes().replace(old, new))
    return refused_save(tmp_path, edit)


def test_removing_an_interned_module_is_refused_never_made_extern(tmp_path):
    stderr = refused_save(tmp_path, lambda p: os.unlink(p / "corpus_models" / "layers.py"))
    assert "Module is imported by packaged code but is missing from the package." in stderr
    assert "corpus_models.layers" in stderr


def test_removing_a_module_only_a_from_import_names_is_refused(tmp_path):
    # layers.py: `from .util import squash` (no pickle names util); util found nowhere else.
    def edit(p):
        layers = p / "corpus_models" / "layers.py"
        layers.write_bytes(layers.read_bytes() + b"\nfrom .util import squash\n")
        (p / "corpus_models" / "model.py").write_bytes(
            (p / "corpus_models" / "model.py").read_bytes().replace(b"from . import util\n", b""))
        os.unlink(p / "corpus_models" / "util.py")
    stderr = refused_save(tmp_path, edit)
    assert "    corpus_models.util\n      Context: imported by corpus_models.layers" in stderr


def test_an_edited_import_found_nowhere_is_saved_with_a_warning(tmp_path):
    archive = writable_copy(tmp_path)
    warning = (r"^tpkgfs: warning: .*: not_installed_anywhere, imported by edited "
               r"corpus_models/layers.py, is not in the package, not extern and not installed "
               r"here: the package fails to load on that import unless it is guarded")
    with session(archive, tmp_path / "mnt", allow=[warning]) as m:
        with open(m.path / "corpus_models" / "layers.py", "ab") as f:
            f.write(b"\ntry:\n    import not_installed_anywhere\nexcept ImportError:\n    pass\n")
    assert m.problems == []
    assert any(line.startswith("tpkgfs: warning: ") for line in m.stderr().splitlines())
    assert b"not_installed_anywhere" in records(archive)["corpus_models/layers.py"]
    loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "DEFAULT_HIDDEN"}])
    assert "error" not in loaded["k"], loaded  # guarded: it loads


def test_renaming_a_module_a_pickle_needs_is_refused(tmp_path):
    stderr = refused_save(tmp_path, lambda p: os.rename(p / "corpus_models" / "model.py",
                                                        p / "corpus_models" / "model2.py"))
    assert "corpus_models.model\n" in stderr


def test_renaming_the_class_a_pickle_loads_is_refused(tmp_path):
    # The module is still there, but torch's find_class would fail on its class
    # (AttributeError: module '<torch_package_0>.corpus_models.model' has no attribute ...).
    stderr = refused_replacement(tmp_path, "corpus_models/model.py", b"class TinyNet",
                                 b"class SmallNet")
    assert "Pickle global is not defined by its module in the package." in stderr
    assert "corpus_models.model.TinyNet\n" in stderr


def test_splitting_the_module_a_pickle_loads_into_a_folder_is_refused(tmp_path):
    # model.py moved to model/core.py: corpus_models.model is now a namespace package, which
    # has no TinyNet (torch: AttributeError), though core.py defines it.
    def edit(p):
        os.mkdir(p / "corpus_models" / "model")
        os.rename(p / "corpus_models" / "model.py", p / "corpus_models" / "model" / "core.py")
    stderr = refused_save(tmp_path, edit)
    assert ("    corpus_models.model.TinyNet\n      Context: loaded by model/model.pkl, and "
            "corpus_models/model.py, which defined TinyNet, is gone: corpus_models.model is now "
            "a folder without __init__.py, which binds only its submodules\n") in stderr


def test_deleting_an_init_whose_name_another_source_imports_is_refused(tmp_path):
    # model.py: `from corpus_models import DEFAULT_HIDDEN`, from a namespace package now.
    stderr = refused_save(tmp_path, lambda p: os.unlink(p / "corpus_models" / "__init__.py"))
    assert ("    corpus_models.DEFAULT_HIDDEN\n      Context: imported by corpus_models.model, "
            "and corpus_models/__init__.py, which defined DEFAULT_HIDDEN, is gone") in stderr


def test_an_edited_pickle_that_would_run_a_command_is_refused(tmp_path):
    # tpkg scan calls such a global malicious; the package as opened loaded none.
    stderr = refused_replacement(tmp_path, "model/model.pkl", b"collections\nOrderedDict\n",
                                 b"posix\nsystem\n")
    assert "the edits would make the package less safe:" in stderr
    assert "Pickle global can run code or reach the system" in stderr
    assert "posix.system\n" in stderr and "loaded by the edited model/model.pkl" in stderr


def test_a_pickle_of_protocol_0_that_would_run_code_is_refused(tmp_path):
    # torch's exporter writes protocol 3 or 4, but load_pickle reads any: with
    # builtins extern (as in many packages) this one ran eval when loaded.
    def edit(p):
        (p / "model" / "p0.pkl").write_bytes(b"c__builtin__\neval\n(S'print(1)'\ntR.")
    stderr = refused_save(tmp_path, edit)
    assert "the edits would make the package less safe:" in stderr
    assert "__builtin__.eval\n" in stderr and "loaded by the edited model/p0.pkl" in stderr


def test_renaming_a_name_another_source_imports_is_refused(tmp_path):
    # model.py: `from corpus_models import DEFAULT_HIDDEN` would fail with ImportError.
    stderr = refused_replacement(tmp_path, "corpus_models/__init__.py", b"DEFAULT_HIDDEN = 3",
                                 b"HIDDEN = 3")
    assert "Name imported by packaged code is not defined by its module in the package." in stderr
    assert "corpus_models.DEFAULT_HIDDEN\n" in stderr
    assert "imported by corpus_models.model, and the edited corpus_models/__init__.py" in stderr


def test_a_short_or_missing_storage_is_refused_and_every_problem_named(tmp_path):
    def edit(p):
        os.truncate(p / ".data" / "1.storage", 0)
        os.unlink(p / ".data" / "2.storage")
    stderr = refused_save(tmp_path, edit)
    assert "Storage is loaded by a pickle but is missing from the archive or too short." in stderr
    assert ".data/1.storage" in stderr and ".data/2.storage" in stderr


@pytest.mark.parametrize("folder, reason", [
    ("corpus_models/layers", "module file corpus_models/layers.py comes before "
                             "corpus_models/layers/, so the importer cannot open the package"),
    ("collections", "the module is extern but the archive has files under collections/"),
    ("numpy", "the module was declared extern and has no module file now but the archive has "
              "files under numpy/"),
])
def test_an_empty_folder_the_importer_would_refuse_is_refused(tmp_path, folder, reason):
    """torch's importer walks a folder entry as it walks a file: an empty folder where a
    module file is, or under an extern module, makes it refuse the whole package."""
    stderr = refused_save(tmp_path, lambda p: os.makedirs(p / folder))
    assert "Module layout would not load: inconsistent module structure." in stderr, stderr
    assert reason in stderr, stderr


def test_a_missing_storage_of_a_torch_save_checkpoint_is_refused(tmp_path):
    from mounting import CORPUS
    archive = writable_copy(tmp_path, name="ck.pth", source=CORPUS / "torch_save_checkpoint.pth")
    before = archive.read_bytes()
    with session(archive, tmp_path / "mnt", allow=REFUSED) as m:
        os.unlink(m.path / "data" / "1")
    assert m.problems == ["tpkgfs exited with 1"]
    assert archive.read_bytes() == before
    stderr = m.stderr()
    assert f"Cannot save {archive}: the torch.save archive would no longer load:" in stderr
    assert "    data/1\n      Context: loaded by data.pkl, and the archive has no such" in stderr


@pytest.mark.parametrize("edit, refusal", [
    (b"", "the torch.save archive would no longer load:"),
    (b"garbage\n", "the torch.save archive would no longer load:"),
    (b"\x80\x02cos\nsystem\n(S'echo run'\ntR.", "the edits would make the torch.save archive "
                                                  "less safe:"),
], ids=["emptied", "overwritten", "runs-a-command"])
def test_a_torch_save_pickle_edited_out_of_loading_or_into_a_command_is_refused(
        tmp_path, edit, refusal):
    from mounting import CORPUS
    archive = writable_copy(tmp_path, name="ck.pth", source=CORPUS / "torch_save_checkpoint.pth")
    before = archive.read_bytes()
    with session(archive, tmp_path / "mnt", allow=REFUSED) as m:
        (m.path / "data.pkl").write_bytes(edit)
    assert m.problems == ["tpkgfs exited with 1"]
    assert archive.read_bytes() == before
    assert f"Cannot save {archive}: {refusal}" in m.stderr()
    assert "data.pkl" in m.stderr()
    # What the save refused is what real torch fails on (or runs), on the same bytes.
    edited = tmp_path / "edited.pth"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(edited, "w") as dst:
        for info in src.infolist():
            data = edit if info.filename.endswith("/data.pkl") else src.read(info)
            dst.writestr(info, data)
    loaded = subprocess.run([PYTHON, "-c", "import sys, torch; torch.load(sys.argv[1])", edited],
                            capture_output=True, text=True, timeout=120)
    if edit.startswith(b"\x80\x02cos"):
        assert "run" in loaded.stdout or loaded.returncode != 0  # ran it, or refused to load
    else:
        assert loaded.returncode != 0


MAKE_SCRIPTED = r"""
import sys, torch
class Affine(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(3))
    def forward(self, x):
        return x * self.scale
torch.jit.save(torch.jit.script(Affine()), sys.argv[1])
"""


def test_torchscript_code_a_pickle_loads_cannot_be_removed(tmp_path):
    # The code of a scripted module's class, in a torch.jit.save archive and in a package.
    scripted = tmp_path / "scripted.pt"
    maker = tmp_path / "make_scripted.py"  # a file: torch.jit.script reads the class's source
    maker.write_text(MAKE_SCRIPTED)
    run = subprocess.run([PYTHON, str(maker), str(scripted)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    from mounting import CORPUS
    package = writable_copy(tmp_path, name="pkg.pt", source=CORPUS / "pkg_torchscript.pt")
    for archive, code, kind in ((scripted, "code", "torchscript"),
                                (package, ".data/ts_code/code", "package")):
        before = archive.read_bytes()
        with session(archive, tmp_path / "mnt", allow=REFUSED) as m:
            subprocess.run(["rm", "-r", str(m.path / code)], check=True)
        assert m.problems == ["tpkgfs exited with 1"], archive
        assert archive.read_bytes() == before
        stderr = m.stderr()
        assert f"Cannot save {archive}: the {kind}" in stderr
        assert "TorchScript code or data that a pickle loads is missing from the archive." in stderr
        assert f"    {code}/__torch__" in stderr and "Context: the code of __torch__." in stderr


BROKEN_CODE_LOADS = r"""
import sys, torch, zipfile
source, out, record = sys.argv[1:]
with zipfile.ZipFile(source) as zin, zipfile.ZipFile(out, "w") as zout:
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename.endswith(record):
            data += b"def broken(:\n"
        zout.writestr(info, data)
try:
    torch.jit.load(out)
    print("loaded")
except Exception as e:
    print("refused by torch:", type(e).__name__)
"""


def test_torchscript_code_edited_into_a_syntax_error_is_refused(tmp_path):
    # torch's loader compiles a TorchScript archive's code when it loads it, and a package's
    # when it loads the scripted module: a syntax error there fails the load.
    scripted = tmp_path / "scripted.pt"
    maker = tmp_path / "make_scripted.py"  # a file: torch.jit.script reads the class's source
    maker.write_text(MAKE_SCRIPTED)
    subprocess.run([PYTHON, str(maker), str(scripted)], check=True, timeout=300)
    from mounting import CORPUS
    package = writable_copy(tmp_path, name="pkg.pt", source=CORPUS / "pkg_torchscript.pt")
    with zipfile.ZipFile(scripted) as z:  # the class's code: `code/__torch__.py` (__main__)
        script_code = next(n.split("/", 1)[1] for n in z.namelist()
                           if n.split("/", 1)[1].startswith("code/") and n.endswith(".py"))
    for archive, code, kind in ((scripted, script_code, "torchscript"),
                                (package, ".data/ts_code/code/__torch__/corpus_ts/affine.py",
                                 "package")):
        before = archive.read_bytes()
        with session(archive, tmp_path / "mnt", allow=REFUSED) as m:
            with open(m.path / code, "ab") as f:
                f.write(b"def broken(:\n")
        assert m.problems == ["tpkgfs exited with 1"], (archive, m.stderr())
        assert archive.read_bytes() == before
        stderr = m.stderr()
        assert f"Cannot save {archive}: the {kind}" in stderr, stderr
        assert ("* TorchScript code is not valid Python: torch's loader cannot compile it.\n"
                f"    {code}\n      Context: line ") in stderr, stderr
    # What the save refused, torch refuses to load.
    run = subprocess.run([PYTHON, "-c", BROKEN_CODE_LOADS, str(scripted),
                          str(tmp_path / "broken.pt"), script_code],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("refused by torch:"), run.stdout


MAKE_LONG_NAME_PACKAGE = r"""
import sys
from torch.package import PackageExporter
with PackageExporter(sys.argv[1]) as pe:
    pe.save_text("res", "a" * 300 + ".txt", "long\n")
    pe.save_text("res", "ok.txt", "ok\n")
"""


def test_a_record_name_a_mount_cannot_show_makes_the_view_read_only(tmp_path):
    # torch writes and reads a 300-byte name; Linux shows at most 255 bytes a
    # component. Read/write, the folder listed nothing and every save failed.
    archive = tmp_path / "long.pt"
    run = subprocess.run([PYTHON, "-c", MAKE_LONG_NAME_PACKAGE, str(archive)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    before = archive.read_bytes()
    allow = [r"^tpkgfs: mounting .*long.pt read-only: record 'res/a{196}\.\.\.': path "
             r"component longer than 255 bytes, which a read/write view cannot hold$",
             r"^tpkgfs: .*long.pt: skipping record 'long/res/a{300}\.txt': "]
    with session(archive, tmp_path / "mnt", allow=allow) as m:
        assert os.listdir(m.path / "res") == ["ok.txt"]
        with pytest.raises(OSError) as info:
            (m.path / "res" / "new.txt").write_text("x")
        assert info.value.errno == errno.EROFS
    assert m.problems == []
    assert "read-only: record 'res/" in m.stderr()
    assert archive.read_bytes() == before


def test_a_version_torch_refuses_is_refused(tmp_path):
    stderr = refused_save(tmp_path, lambda p: (p / ".data" / "version").write_bytes(b"99\n"))
    assert "Package version is not one torch loads." in stderr
    assert "version 99" in stderr


def test_names_that_are_not_utf8_are_refused_with_eilseq(tmp_path):
    archive = writable_copy(tmp_path)
    before = archive.read_bytes()
    with session(archive, tmp_path / "mnt") as m:
        root = os.fsencode(m.path)
        for make in (lambda: open(root + b"/notes\xff.txt", "wb"),
                     lambda: os.mkdir(root + b"/dir\xff"),
                     lambda: os.rename(root + b"/corpus_models/util.py", root + b"/u\xff.py")):
            with pytest.raises(OSError) as info:
                make()
            assert info.value.errno == errno.EILSEQ
    assert m.problems == []
    assert archive.read_bytes() == before  # nothing changed, nothing saved
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None


# A package whose pickle calls posix.system, exported by torch; its declared
# extern list is then emptied, so torch refuses to load it ("posix" is not extern).
MAKE_POSIX_PACKAGE = r"""
import sys, zipfile, posix
from torch.package import PackageExporter

class Runs:
    def __reduce__(self):
        return (posix.system, ("true",))

exported, out = sys.argv[1], sys.argv[2]
with PackageExporter(exported) as pe:
    pe.save_text("notes", "readme.txt", "hello\n")
    pe.save_pickle("evil", "obj.pkl", Runs())
with zipfile.ZipFile(exported) as src, zipfile.ZipFile(out, "w") as dst:
    for info in src.infolist():
        data = src.read(info)
        if info.filename.endswith("/.data/extern_modules"):
            assert data == b"posix\n", data
            data = b"\n"
        dst.writestr(info, data)
"""

LOAD_POSIX_PACKAGE = r"""
import sys
from torch.package import PackageImporter
imp = PackageImporter(sys.argv[1])
try:
    imp.load_pickle("evil", "obj.pkl")
    print("ran")
except ModuleNotFoundError as e:
    print("refused:", e)
"""


def load_posix_package(archive):
    run = subprocess.run([PYTHON, "-c", LOAD_POSIX_PACKAGE, str(archive)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


@pytest.fixture
def posix_package(tmp_path):
    archive = tmp_path / "posix.pt"
    run = subprocess.run([PYTHON, "-c", MAKE_POSIX_PACKAGE, str(tmp_path / "exported.pt"),
                          str(archive)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert load_posix_package(archive).startswith("refused:")
    return archive


def test_an_unrelated_edit_never_adds_an_extern_module(tmp_path, posix_package):
    check = subprocess.run([str(TPKG), "check", str(posix_package)], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 1
    assert check.stdout.splitlines() == [
        f"{posix_package}: .data/extern_modules does not declare modules the package needs: "
        "posix"]
    with session(posix_package, tmp_path / "mnt") as m:
        assert (m.path / ".data" / "extern_modules").read_bytes() == b"\n"
        with open(m.path / "notes" / "readme.txt", "ab") as f:
            f.write(b"one more line\n")
        # The edited view shows what the save will write: still no posix.
        assert (m.path / ".data" / "extern_modules").read_bytes() == b"\n"
    assert m.problems == []
    saved = records(posix_package)
    assert saved["notes/readme.txt"] == b"hello\none more line\n"
    assert saved[".data/extern_modules"] == b"\n"
    assert load_posix_package(posix_package).startswith("refused:")


def test_an_unedited_mount_shows_the_archives_own_extern_modules(tmp_path):
    # The corpus package with `os` and `subprocess` declared, which its code never imports.
    source = writable_copy(tmp_path / "src")
    archive = tmp_path / "declared.pt"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(archive, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/.data/extern_modules"):
                own = data + b"os\nsubprocess\n"
                data = own
            dst.writestr(info, data)
    # Declared but unused externs are no load problem: `tpkg check` accepts them.
    check = subprocess.run([str(TPKG), "check", str(archive)], capture_output=True, text=True,
                           timeout=120)
    assert check.returncode == 0, check.stdout
    for options in ((), ("-o", "ro")):
        with session(archive, tmp_path / ("mnt" + "".join(options)), *options) as m:
            assert (m.path / ".data" / "extern_modules").read_bytes() == own
        assert m.problems == []
    assert records(archive)[".data/extern_modules"] == own
    loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "DEFAULT_HIDDEN"}])
    assert "error" not in loaded["k"], loaded
    assert loaded["k"]["externs"][-2:] == ["os", "subprocess"]


# Sources torch's exporter writes as they are (dependencies=False) without parsing them: the
# package loads while nothing imports them.
MAKE_UNPARSED_PACKAGE = r"""
import sys
from torch.package import PackageExporter
with PackageExporter(sys.argv[1]) as e:
    e.save_source_string("top.rel", "from .. import nothing\n", dependencies=False)
    e.save_source_string("top.bad", "def f(:\n    pass\n", dependencies=False)
    e.save_source_string("top.ok", "import math\nX = 1\n")
    e.save_pickle("m", "obj.pkl", {"a": 1})
"""

LOAD_UNPARSED_PACKAGE = r"""
import sys
from torch.package import PackageImporter
imp = PackageImporter(sys.argv[1])
print(imp.load_pickle("m", "obj.pkl"), imp.import_module("top.ok").X)
"""


def test_sources_torch_wrote_unparsed_do_not_block_the_save_of_other_edits(tmp_path):
    """A save blames only what the edits wrote: it used to refuse every save of such a package
    ("would no longer load: Dependency resolution failed"), which torch loads. An edit that
    leaves such a source broken is still refused."""
    archive = tmp_path / "unparsed.pt"
    run = subprocess.run([PYTHON, "-c", MAKE_UNPARSED_PACKAGE, str(archive)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    with session(archive, tmp_path / "mnt") as m:
        (m.path / "top" / "ok.py").write_text("import math\nX = 2\n")
    assert m.problems == []
    loaded = subprocess.run([PYTHON, "-c", LOAD_UNPARSED_PACKAGE, str(archive)],
                            capture_output=True, text=True, timeout=300)
    assert loaded.stdout == "{'a': 1} 2\n", loaded.stderr
    before = archive.read_bytes()
    # Edited itself, or imported by an edited source (a loader of top.ok would now run it).
    for n, (record, text) in enumerate([("bad.py", "def f(:\n    pass\n# still not Python\n"),
                                        ("ok.py", "from .bad import f\nX = 3\n")]):
        with session(archive, tmp_path / f"mnt-refused{n}", allow=REFUSED) as m:
            (m.path / "top" / record).write_text(text)
        assert m.problems == ["tpkgfs exited with 1"]
        assert "top.bad\n      Context: invalid syntax" in m.stderr()
        assert "top.rel" not in m.stderr()
        assert archive.read_bytes() == before
        shutil.rmtree(archive.parent / f".{archive.name}.tpkgfs")  # drop the refused edit


def test_a_tensor_spanning_more_than_its_storage_is_refused(tmp_path):
    """views/b.pkl sets 5 shorts at offset 40 of `.data/1.storage` (100 shorts, 200 bytes);
    moved to offset 97 the storage record is still long enough, but the tensor spans 102
    elements and torch fails ("Trying to resize storage that is not resizable")."""
    from mounting import CORPUS
    archive = writable_copy(tmp_path, source=CORPUS / "pkg_shared_views.pt")
    before = archive.read_bytes()
    pickle = records(archive)["views/b.pkl"]
    assert pickle.count(b"K\x28K\x05\x85") == 1
    patched = pickle.replace(b"K\x28K\x05\x85", b"K\x61K\x05\x85")
    with session(archive, tmp_path / "mnt", allow=REFUSED) as m:
        (m.path / "views" / "b.pkl").write_bytes(patched)
    assert m.problems == ["tpkgfs exited with 1"]
    assert archive.read_bytes() == before
    stderr = m.stderr()
    assert "Storage is loaded by a pickle but is missing from the archive or too short." in stderr
    assert ("a tensor of views/b.pkl spans 102 x ShortStorage (204 bytes, offset included), "
            "and torch loads 200 bytes for this storage") in stderr, stderr
    # The same edit made without the mount: torch refuses it, as the save said.
    hostile = tmp_path / "hostile.pt"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(hostile, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, patched if info.filename.endswith("/views/b.pkl") else data)
    run = subprocess.run([PYTHON, "-c", "import sys, torch\n"
                          "torch.package.PackageImporter(sys.argv[1]).load_pickle('views', 'b.pkl')",
                          str(hostile)], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "not resizable" in run.stderr, run.stderr


def test_a_record_damaged_before_the_edits_is_named_as_such_and_can_be_replaced(tmp_path):
    # One byte of layers.py flipped in the archive (its CRC-32 no longer matches): the save of an
    # edit to another source cannot copy it, and says the damage is the archive's own.
    archive = writable_copy(tmp_path)
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        [info] = [i for i in z.infolist() if i.filename.endswith("corpus_models/layers.py")]
        good_layers = z.read(info)
    header = info.header_offset
    start = header + 30 + int.from_bytes(data[header + 26:header + 28], "little") + int.from_bytes(
        data[header + 28:header + 30], "little")
    data[start + 5] ^= 0x20
    archive.write_bytes(bytes(data))
    allow = [r"^tpkgfs: Cannot save .*: the archive was damaged before these edits "
             r"\('corpus_models/layers.py' cannot be read"] + REFUSED[1:]
    with session(archive, tmp_path / "mnt", allow=allow) as m:
        with open(m.path / "corpus_models" / "util.py", "a") as f:
            f.write("\nEDITED = 1\n")
    assert m.problems == ["tpkgfs exited with 1"]
    assert "CRC-32 mismatch" in m.stderr()
    assert archive.read_bytes() == bytes(data)
    # A good copy written through the mount replaces the damaged record: the save goes through.
    with session(archive, tmp_path / "mnt", allow=[r"^tpkgfs: recovered ", r"^tpkgfs: the last save"]) as m:
        (m.path / "corpus_models" / "layers.py").write_bytes(good_layers)
    assert m.problems == [], m.stderr()
    loaded = torch_check([{"name": "e", "archive": str(archive), "attr": "EDITED",
                           "module": "corpus_models.util"}])
    assert loaded["e"].get("value") == "1", loaded


def with_record_replaced(source, target, record, data):
    """A copy of the ZIP `source` at `target` with `record`'s bytes replaced (what a save that
    accepted the edit would have written), for asking torch how it loads."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, data if info.filename == record else zin.read(info))
    return target


@pytest.mark.parametrize("appended,reason", [
    (b"\nreturn SQUASHED\n", "'return' outside function"),
    (b"\nfor i in range(3):\n    pass\nelse:\n    break\n", "'break' outside loop"),
    (b"\nfrom __future__ import annotations\n",
     "from __future__ imports must occur at the beginning of the file"),
    (b"\ndef twice(a, a):\n    pass\n", "duplicate argument 'a' in function definition"),
], ids=["return", "break", "late future", "duplicate argument"])
def test_an_edit_that_parses_but_does_not_compile_is_refused(tmp_path, appended, reason):
    """ast.parse accepts these, and so does torch's exporter; torch's importer compiles the
    module and fails with SyntaxError: the save refuses them, naming the line and the reason."""
    util = "corpus_models/util.py"
    original = zipfile.ZipFile(writable_copy(tmp_path / "orig")).read("pkg_model_numpy/" + util)
    edited = original + appended
    with pytest.raises(SyntaxError) as compiled:  # this stack's compiler: the line it names
        compile(edited, util, "exec", dont_inherit=True)
    line = compiled.value.lineno
    stderr = refused_save(tmp_path, lambda p: (p / util).write_bytes(edited))
    assert ("* Source parses, but Python's compiler refuses it: importing it raises SyntaxError.\n"
            f"    corpus_models.util\n      Context: line {line}: {reason}\n") in stderr, stderr
    # What the save refused, torch fails to load.
    broken = with_record_replaced(writable_copy(tmp_path / "orig"), tmp_path / "broken.pt",
                                  "pkg_model_numpy/" + util, edited)
    loaded = torch_check([{"name": "k", "archive": str(broken), "attr": "DEFAULT_HIDDEN"}])
    assert loaded["k"]["error"].startswith("SyntaxError: " + reason), loaded


def test_a_source_in_a_declared_encoding_is_saved_and_loads(tmp_path):
    """A source written in latin-1 with its coding declaration (an older editor's default): torch
    compiles its bytes in that encoding, so the save takes it (it used to refuse it as not
    UTF-8) and torch loads the text it holds."""
    archive = writable_copy(tmp_path)
    util = "corpus_models/util.py"
    source = records(archive)[util].decode() + '\nGREETING = "café"\n'
    edited = ("# -*- coding: latin-1 -*-\n" + source).encode("latin-1")
    with session(archive, tmp_path / "mnt") as m:
        (m.path / util).write_bytes(edited)
    assert m.problems == []
    assert records(archive)[util] == edited
    loaded = torch_check([{"name": "k", "archive": str(archive), "attr": "GREETING",
                           "module": "corpus_models.util"}])
    assert loaded["k"].get("value") == repr("café"), loaded
