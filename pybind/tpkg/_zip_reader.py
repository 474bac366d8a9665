"""The archive side of PackageImporter: torch's PyTorchFileReader interface
(``get_record``, ``has_record``, ``get_all_records``,
``get_storage_from_record``) over libtpkg's ZipReader.

Differences from torch's reader, all invisible to package code:

* A file-like object is read once into an anonymous memory file (memfd), or
  used in place when it is a file opened with ``open()`` (an ``io.FileIO``,
  buffered or not). A wrapper (gzip, bz2, lzma, a reader of its own) is read
  as a stream: the descriptor its ``fileno()`` gives is the file under it.

Storages are copied out of the archive, as torch's reader copies them: a
tensor never reads the archive file again, so saving over the file it was
loaded from (load, fine-tune, save to the same path) neither changes it nor
kills the process with SIGBUS, as a mapping of the file would.
"""
import ctypes
import errno
import io
import os
import sys

from . import _core

_MIN_VERSION, _MAX_VERSION = 1, 10  # torch 1.13's kMin/kMaxSupportedFileFormatVersion


class RecordNotFoundError(FileNotFoundError, RuntimeError):
    """A record is missing from a zip archive. A RuntimeError too, as torch's
    reader raises for the same case, and a FileNotFoundError, as torch's
    DirectoryReader raises."""

    def __init__(self, record: str):
        super().__init__(f"PytorchStreamReader failed locating file {record}: file not found")
        self.errno = errno.ENOENT
        self.record = record


def _file_path_of(fileobj):
    """A path naming the same open file when `fileobj` reads a file's own bytes (one opened
    with open()), else None: in-memory objects, and wrappers whose fileno() is the file under
    them (gzip.open's, say), whose bytes are not the ones they read."""
    raw = fileobj.raw if isinstance(fileobj, (io.BufferedReader, io.BufferedRandom)) else fileobj
    if not isinstance(raw, io.FileIO):
        return None
    try:
        fd = raw.fileno()
    except (OSError, ValueError):
        return None
    return f"/proc/self/fd/{fd}"


def _name_of(fileobj) -> str:
    """What the caller knows a file object by: its name, else "<binary>"."""
    name = getattr(fileobj, "name", None)
    return os.fsdecode(name) if isinstance(name, (str, bytes)) else "<binary>"


def _renamed(error, path: str, name: str):
    """`error` (a tpkg error naming `path`) naming `name` instead; an OSError keeps its errno."""
    if isinstance(error, OSError):
        renamed = type(error)(error.errno, error.strerror.replace(path, name))
    else:
        renamed = type(error)(str(error).replace(path, name))
    renamed.code = error.code
    return renamed


class _MemoryFile:
    """Owns an anonymous in-memory file holding a copy of a buffer's bytes."""

    def __init__(self, fileobj):
        fileobj.tell()  # torch's buffer adapter asks this first: the same AttributeError
        fileobj.seek(0)
        self.fd = os.memfd_create("tpkg-archive", os.MFD_CLOEXEC)
        with os.fdopen(os.dup(self.fd), "wb") as out:
            while chunk := fileobj.read(1 << 20):
                out.write(chunk)
        self.path = f"/proc/self/fd/{self.fd}"

    def __del__(self):
        if hasattr(self, "fd"):  # not when __init__ failed before making it
            os.close(self.fd)


class ArchiveReader:
    """Reads a torch.package zip through ``tpkg._core.ZipReader``."""

    def __init__(self, path: str, keepalive=None, shown=None):
        # Non-strict: the importer must open whatever torch 1.13 opens.
        self._zip = _core.ZipReader(path, strict=False)
        self.path = path
        # What errors call the archive: a file object's name, not the /proc path read.
        self._shown = shown
        self._keepalive = keepalive
        self._check_version()
        self._check_prefix()

    @classmethod
    def from_file(cls, fileobj) -> "ArchiveReader":
        path = _file_path_of(fileobj)
        keepalive = fileobj
        if path is None:
            keepalive = _MemoryFile(fileobj)
            path = keepalive.path
        try:
            return cls(path, keepalive=keepalive, shown=_name_of(fileobj))
        except (_core.TpkgError, OSError) as e:
            if not isinstance(getattr(e, "code", None), _core.Errc):
                raise  # not libtpkg's: it does not name the path
            # The /proc/self/fd path means nothing to the caller: name the
            # file object by its name, or "<binary>" (what torch's importer
            # calls every file object).
            raise _renamed(e, path, _name_of(fileobj)) from None

    def _check_version(self):
        # torch's reader refuses archives without a readable version in 1..10.
        record = ".data/version" if self.has_record(".data/version") else "version"
        if not self.has_record(record):
            raise RuntimeError(
                'Expected hasRecord("version") to be true, but got false.  (Could this error '
                "message be improved?  If so, please report an enhancement request to PyTorch.)"
            )
        text = self._zip.get_record(record)
        version = _core.parse_torch_version(text)
        if version is None:
            # torch prints the record's text, not its name.
            shown = text.decode("utf-8", "replace")
            raise RuntimeError(f"Couldn't parse the version {shown} as Long Long.")
        if not _MIN_VERSION <= version <= _MAX_VERSION:
            raise RuntimeError(
                f"Attempted to read a PyTorch file with version {version}, but the maximum "
                f"supported version for reading is {_MAX_VERSION}. Your PyTorch installation "
                "may be too old."
            )

    def _check_prefix(self):
        # torch lists records only when every entry sits in the prefix folder
        # (the non-strict reader also lists the strays, by their full name).
        folder = self._zip.prefix + "/"
        for entry in self._zip.entries():
            if not entry.full_name.startswith(folder):
                raise RuntimeError(f"file in archive is not in a subdirectory {folder}: {entry.full_name}")

    @property
    def same_file_path(self) -> str:
        """A path that opens the very file this reader read, for torch._C.PyTorchFileReader
        (TorchScript): not `path`, which may name another file by now (replaced, or relative
        to a working folder left since)."""
        return f"/proc/self/fd/{self._zip.fd}"

    def get_record(self, name: str) -> bytes:
        try:
            return self._zip.get_record(name)
        except FileNotFoundError:
            raise RecordNotFoundError(name) from None
        except (_core.TpkgError, OSError) as e:
            # The archive changed under a file object's reader: name it as the caller knows it.
            if self._shown is None or not isinstance(getattr(e, "code", None), _core.Errc):
                raise
            raise _renamed(e, self.path, self._shown) from None

    def has_record(self, name: str) -> bool:
        entry = self._zip.entry(name)
        return entry is not None and entry.full_name.startswith(self._zip.prefix + "/")

    def get_all_records(self):
        return self._zip.records()

    def get_storage_from_record(self, name: str, numel: int, dtype):
        """A 1-D tensor of `numel` elements of `dtype` holding the record's bytes."""
        torch = sys.modules["torch"]
        nbytes = numel * torch._utils._element_size(dtype)
        if nbytes == 0:
            return torch.empty(0, dtype=dtype)
        entry = self._zip.entry(name)
        if entry is None:
            raise RecordNotFoundError(name)
        if entry.size < nbytes:
            raise RuntimeError(
                f"record {name} holds {entry.size} bytes, fewer than the {nbytes} "
                f"bytes of {numel} {dtype} elements"
            )
        # Storage torch's allocator owns (aligned, resizable, as torch's reader
        # gives), filled in place: no second copy.
        storage = torch.empty(nbytes, dtype=torch.uint8)
        buffer = memoryview((ctypes.c_char * nbytes).from_address(storage.data_ptr())).cast("B")
        if entry.method == _core.METHOD_STORED:
            self._pread_into(buffer, entry.data_offset)
        else:
            buffer[:] = memoryview(self.get_record(entry.name))[:nbytes]
        return storage.view(dtype)

    def _pread_into(self, view: memoryview, offset: int):
        done = 0
        while done < len(view):
            got = os.preadv(self._zip.fd, [view[done:]], offset + done)
            if got == 0:
                shown = self.path if self._shown is None else self._shown
                raise RuntimeError(f"{shown}: unexpected end of file at offset {offset + done}")
            done += got
