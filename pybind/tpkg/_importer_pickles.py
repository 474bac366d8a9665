"""PackageImporter.load_pickle's persistent ids: storages and
``__reduce_package__`` objects, shared within one load (doc/format.md §4.3, §4.4)."""
from typing import Any, Dict, Union

from . import _torch_compat
from ._directory_reader import DirectoryReader


class PickleLoad:
    """The state of one load_pickle call: storages and reduce_package objects
    are shared within the call, never across calls."""

    def __init__(self, importer, map_location):
        self._importer = importer
        self._loaded_storages: Dict[Any, Any] = {}
        self._loaded_reduces: Dict[Any, Any] = {}
        self._map_location = map_location
        self._restore_location = None
        self._storage_context = None
        if _torch_compat.loaded_torch() is not None:
            self._context()

    def _context(self):
        """torch's DeserializationStorageContext of this call (so TorchScript
        loaders share its storages), made once torch is loaded: unpickling
        may be what imports torch."""
        if self._storage_context is None:
            import torch

            self._storage_context = torch._C.DeserializationStorageContext()
            self._importer.storage_context = self._storage_context
        return self._storage_context

    def persistent_load(self, saved_id):
        assert isinstance(saved_id, tuple)
        typename = _maybe_decode_ascii(saved_id[0])
        data = saved_id[1:]
        if typename == "storage":
            return self._load_storage(*data)
        if typename == "reduce_package":
            return self._load_reduce(data)
        # torch 1.13 builds this message but never raises it; objects become None.
        return None

    def _load_storage(self, storage_type, key, location, numel):
        import torch  # a storage class was just unpickled, so torch is loaded

        dtype = storage_type.dtype
        if key not in self._loaded_storages:
            if self._restore_location is None:
                self._restore_location = torch.serialization._get_restore_location(self._map_location)
            storage = self._read_storage(dtype, numel, key)
            self._loaded_storages[key] = self._restore_location(storage, _maybe_decode_ascii(location))
        storage = self._loaded_storages[key]
        return torch.storage.TypedStorage(wrap_storage=storage.untyped(), dtype=dtype)

    def _read_storage(self, dtype, numel, key):
        name = f"{key}.storage"
        context = self._context()
        if context.has_storage(name):
            return context.get_storage(name, dtype).storage()
        reader = self._importer._reader
        tensor = reader.get_storage_from_record(".data/" + name, numel, dtype)
        if not isinstance(reader, DirectoryReader):
            context.add_storage(name, tensor)
        return tensor.storage()

    def _load_reduce(self, data):
        # The 1.13 4-tuple carries id(obj): one call per object per load. The
        # older 3-tuple has no id and is called for every reference.
        if _torch_compat.loaded_torch() is not None:
            self._context()  # the loader may be TorchScript's, which reads it
        if len(data) == 2:
            func, args = data
            return func(self._importer, *args)
        reduce_id, func, args = data
        if reduce_id not in self._loaded_reduces:
            self._loaded_reduces[reduce_id] = func(self._importer, *args)
        return self._loaded_reduces[reduce_id]


def _maybe_decode_ascii(bytes_str: Union[bytes, str]) -> str:
    # Python 2 pickles may hold bytes where str is expected.
    if isinstance(bytes_str, bytes):
        return bytes_str.decode("ascii")
    return bytes_str
