"""PackageImporter over an unzipped package (or a tpkgfs mount): the same
methods as torch's DirectoryReader, with the same visible behaviour
(``glob`` hides dot-files, storages are private memory maps)."""
import os.path
import sys
from glob import glob

from . import _torch_compat

__serialization_id_record_name__ = ".data/serialization_id"


class _HasStorage:
    # torch's reader API hands back "something with .storage()".
    def __init__(self, storage):
        self._storage = storage

    def storage(self):
        return self._storage


class DirectoryReader:
    """Reads records from a directory holding an archive's prefix-stripped
    records. ScriptObjects cannot be loaded this way (torch needs a real
    PyTorchFileReader for them)."""

    def __init__(self, directory):
        self.directory = directory

    def get_record(self, name):
        with open(f"{self.directory}/{name}", "rb") as f:
            return f.read()

    def get_storage_from_record(self, name, numel, dtype):
        torch = sys.modules["torch"]
        nbytes = torch._utils._element_size(dtype) * numel
        storage = torch.UntypedStorage.from_file(filename=f"{self.directory}/{name}", nbytes=nbytes)
        return _HasStorage(storage)

    def has_record(self, path):
        return os.path.isfile(os.path.join(self.directory, path))

    def get_all_records(self):
        files = []
        for filename in glob(f"{self.directory}/**", recursive=True):
            if not os.path.isdir(filename):
                files.append(filename[len(self.directory) + 1:])
        return files

    if _torch_compat.is_torch2():

        def serialization_id(self):
            """torch 2.x: the archive's `.data/serialization_id`, or ""."""
            if self.has_record(__serialization_id_record_name__):
                return self.get_record(__serialization_id_record_name__)
            return ""
