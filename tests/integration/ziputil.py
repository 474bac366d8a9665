"""Expected views of archives, computed with Python's zipfile (the reference)."""
import json
import pathlib
import struct
import zipfile


def prefix_of(zf):
    """The prefix folder, as torch's reader finds it: entry #0 up to its first '/'."""
    return zf.infolist()[0].filename.split("/", 1)[0]


def expected_tree(archive):
    """{path: bytes for files, None for directories} as the mount must show it."""
    tree = {}
    with zipfile.ZipFile(archive) as zf:
        prefix = prefix_of(zf) + "/"
        for info in zf.infolist():
            name = info.filename[len(prefix):] if info.filename.startswith(prefix) else None
            assert name is not None, f"{info.filename} is outside {prefix}"
            parts = [p for p in name.split("/") if p]
            for i in range(1, len(parts) + (0 if not info.is_dir() else 1)):
                tree.setdefault("/".join(parts[:i]), None)
            if not info.is_dir():
                tree["/".join(parts)] = zf.read(info)
    return tree


def mounted_tree(root):
    """The same shape, read through the mount with scandir's d_type."""
    root = pathlib.Path(root)
    tree = {}

    def walk(directory, rel):
        import os
        with os.scandir(directory) as it:
            for entry in it:
                path = f"{rel}/{entry.name}" if rel else entry.name
                assert not entry.is_symlink(), path
                if entry.is_dir(follow_symlinks=False):
                    tree[path] = None
                    walk(entry.path, path)
                else:
                    assert entry.is_file(follow_symlinks=False), path
                    tree[path] = pathlib.Path(entry.path).read_bytes()

    walk(root, "")
    return tree


def expected_facts(archive):
    path = pathlib.Path(str(archive) + ".expected.json")
    return json.loads(path.read_text()) if path.exists() else None


def data_offset(archive, name):
    """Absolute offset of a record's data, from its local header."""
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(name)
    with open(archive, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len
