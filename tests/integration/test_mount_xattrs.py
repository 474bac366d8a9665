"""Extended attributes through real mounts (user.tpkg.*, tpkg/record_attributes.h):
the module and action of a source, the globals of a pickle, the dtype, shape and
tensors of a storage; the same facts `tpkg tensors` / `tpkg pickles` print. Read
with os.listxattr / os.getxattr (what `getfattr -d` calls), and with getfattr
itself where it is installed."""
import errno
import os
import shutil
import subprocess

import pytest

from mounting import CORPUS, private_copy


def attributes(path):
    return {name: os.getxattr(path, name).decode() for name in os.listxattr(path)}


def check_package_attributes(root):
    storage = attributes(root / ".data" / "0.storage")
    assert storage["user.tpkg.dtype"] == "float32"
    assert storage["user.tpkg.numel"] == "24"
    assert storage["user.tpkg.shape"] == "[4, 6]"
    assert "views/a.pkl row2 float32[6]\n" in storage["user.tpkg.tensors"]
    assert "views/b.pkl again_base float32[4, 6]\n" in storage["user.tpkg.tensors"]
    pickle = attributes(root / "views" / "a.pkl")
    assert pickle["user.tpkg.protocol"] == "3"
    assert pickle["user.tpkg.globals"].splitlines() == [
        "torch._utils._rebuild_tensor_v2", "torch.FloatStorage", "collections.OrderedDict"]
    assert attributes(root / ".data" / "version") == {}
    assert os.listxattr(root / "views") == []
    with pytest.raises(OSError) as e:
        os.getxattr(root / "views" / "a.pkl", "user.tpkg.dtype")
    assert e.value.errno == errno.ENODATA
    with pytest.raises(OSError) as e:
        os.getxattr(root / "views" / "a.pkl", "security.capability")
    assert e.value.errno == errno.ENODATA


def test_read_only_mount_shows_storage_and_pickle_facts(mount_factory):
    m = mount_factory(CORPUS / "pkg_shared_views.pt", "-o", "ro")
    check_package_attributes(m.path)


def test_read_write_mount_follows_edits(tmp_path, mount_factory):
    m = mount_factory(private_copy(CORPUS / "pkg_mocked.pt", tmp_path / "copy"))
    m.allow_stderr(r"tpkgfs: saved ")
    sources = {}
    for path in m.path.rglob("*.py"):
        facts = attributes(path)
        if facts:
            sources[facts["user.tpkg.module"]] = facts["user.tpkg.action"]
    assert "mock" in sources.values() and "intern" in sources.values()
    storage = attributes(m.path / ".data" / "0.storage")
    assert storage["user.tpkg.dtype"] == "float32"
    assert storage["user.tpkg.tensors"] == "model/net.pkl lin.weight float32[2, 2]\n"
    # A new source is a module of the package at once.
    (m.path / "model" / "extra_mod.py").write_text("X = 1\n")
    assert attributes(m.path / "model" / "extra_mod.py")["user.tpkg.module"] == "model.extra_mod"


@pytest.mark.skipif(shutil.which("getfattr") is None, reason="getfattr (package attr) not installed")
def test_getfattr_dumps_them(mount_factory):
    m = mount_factory(CORPUS / "pkg_shared_views.pt", "-o", "ro")
    out = subprocess.run(["getfattr", "-d", m.path / ".data" / "0.storage"], capture_output=True,
                         text=True, check=True).stdout
    assert 'user.tpkg.dtype="float32"' in out


@pytest.mark.parametrize("options", [("-o", "ro"), ()], ids=["read-only", "read-write"])
def test_the_kernel_asks_for_a_files_acl_once(tmp_path, mount_factory, options):
    """`ls -l` asks every file for its POSIX ACL. The package has none, and the kernel keeps
    that answer after one request instead of passing every later question to the daemon
    (FUSE_POSIX_ACL): a warm `ls -lR` costs half the requests. Counted in the daemon's
    debug log; setting an ACL is refused as unsupported."""
    m = mount_factory(private_copy(CORPUS / "pkg_mocked.pt", tmp_path / "copy"), "-d", *options)
    m.allow_stderr(r".*")
    # The generated files follow every edit: the kernel looks them up afresh each time.
    generated = {m.path / ".data" / "deps.dot", m.path / ".data" / "extern_modules"}
    files = sorted(p for p in m.path.rglob("*") if p.is_file() and p not in generated)
    assert len(files) >= 5

    def ask_every_file():
        for path in files:
            with pytest.raises(OSError) as e:
                os.getxattr(path, "system.posix_acl_access")
            assert e.value.errno == errno.ENODATA, path

    def requests_so_far():
        return m.stderr().count("opcode: GETXATTR")

    ask_every_file()
    first = requests_so_far()
    assert first >= len(files)  # the daemon was asked, once a file
    ask_every_file()
    ask_every_file()
    assert requests_so_far() == first
    with pytest.raises(OSError) as e:
        os.setxattr(files[0], "system.posix_acl_access", b"\x02\x00\x00\x00")
    assert e.value.errno in (errno.EOPNOTSUPP, errno.EROFS)
