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


def libzip_entries(archive):
    """[(name, size)] as the system's libzip lists them, opened with ZIP_CHECKCONS (every local
    header checked against the central directory); raises AssertionError with libzip's own
    message when it refuses the archive. Through ctypes: the libzip of the stack the tests run
    on (1.7 on Debian 12, 1.11 on Debian 13), the one `tpkg` links too."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("zip")
    assert name, "libzip is not installed (scripts/setup.sh installs it)"
    lib = ctypes.CDLL(name)
    ZIP_RDONLY, ZIP_CHECKCONS = 16, 4

    class ZipError(ctypes.Structure):
        _fields_ = [("zip_err", ctypes.c_int), ("sys_err", ctypes.c_int), ("str", ctypes.c_char_p)]

    class ZipStat(ctypes.Structure):
        _fields_ = [("valid", ctypes.c_uint64), ("name", ctypes.c_char_p),
                    ("index", ctypes.c_uint64), ("size", ctypes.c_uint64),
                    ("comp_size", ctypes.c_uint64), ("mtime", ctypes.c_long),
                    ("crc", ctypes.c_uint32), ("comp_method", ctypes.c_uint16),
                    ("encryption_method", ctypes.c_uint16), ("flags", ctypes.c_uint32)]

    lib.zip_source_file_create.restype = ctypes.c_void_p
    lib.zip_source_file_create.argtypes = [ctypes.c_char_p, ctypes.c_uint64, ctypes.c_int64,
                                           ctypes.POINTER(ZipError)]
    lib.zip_open_from_source.restype = ctypes.c_void_p
    lib.zip_open_from_source.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ZipError)]
    lib.zip_error_strerror.restype = ctypes.c_char_p
    lib.zip_error_strerror.argtypes = [ctypes.POINTER(ZipError)]
    lib.zip_get_num_entries.restype = ctypes.c_int64
    lib.zip_get_num_entries.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.zip_stat_index.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                                   ctypes.POINTER(ZipStat)]
    lib.zip_discard.argtypes = [ctypes.c_void_p]
    lib.zip_source_free.argtypes = [ctypes.c_void_p]
    lib.zip_error_init.argtypes = [ctypes.POINTER(ZipError)]
    lib.zip_error_fini.argtypes = [ctypes.POINTER(ZipError)]

    error = ZipError()
    lib.zip_error_init(ctypes.byref(error))
    try:
        source = lib.zip_source_file_create(str(archive).encode(), 0, -1, ctypes.byref(error))
        assert source, lib.zip_error_strerror(ctypes.byref(error)).decode()
        z = lib.zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, ctypes.byref(error))
        if not z:
            lib.zip_source_free(source)
            raise AssertionError(f"libzip refuses {archive}: "
                                 f"{lib.zip_error_strerror(ctypes.byref(error)).decode()}")
        try:
            entries = []
            for i in range(lib.zip_get_num_entries(z, 0)):
                st = ZipStat()
                assert lib.zip_stat_index(z, i, 0, ctypes.byref(st)) == 0
                entries.append((st.name.decode(), st.size))
            return entries
        finally:
            lib.zip_discard(z)
    finally:
        lib.zip_error_fini(ctypes.byref(error))
