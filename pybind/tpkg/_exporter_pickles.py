"""The persistent ids of the exporter's pickles: storages and
``__reduce_package__`` objects (doc/format.md §4.3, §4.4).

A storage is written as ``.data/N.storage`` the first time a pickle meets
it; once a ScriptModule is saved, TorchScript's own serializer numbers the
storages instead (``_torchscript``), seeded with those written so far.
"""
import weakref
from typing import Any, Dict, Tuple

from . import _torch_compat


class PersistentIds:
    """``pickler.persistent_id`` for one exporter (held weakly: the exporter
    owns this)."""

    def __init__(self, exporter):
        self._exporter = weakref.ref(exporter)
        # storage._cdata -> (N of .data/N.storage, the storage, kept alive)
        self._storages: Dict[int, Tuple[int, Any]] = {}
        self._ts = None  # the TorchScript side writer, made on first use

    def __call__(self, obj):
        torch = _torch_compat.loaded_torch()
        if torch is not None and (torch.is_storage(obj) or isinstance(obj, torch.storage.TypedStorage)):
            return self._storage_pid(torch, obj)

        if hasattr(obj, "__reduce_package__"):
            if _torch_compat.gate_torchscript_serialization() and _torch_compat.is_script_module(obj):
                raise Exception(
                    "Serializing ScriptModules directly into a package is a beta feature. "
                    "To use, set global "
                    "`torch.package.package_exporter._gate_torchscript_serialization` to `False`."
                )
            exporter = self._exporter()
            reduces = exporter.serialized_reduces
            if reduces.get(id(obj)) is None:
                reduces[id(obj)] = ("reduce_package", id(obj), *obj.__reduce_package__(exporter))
            return reduces[id(obj)]

        return None

    def _storage_pid(self, torch, obj):
        if _torch_compat.is_torch2():
            # torch 2.x: typed storages by their untyped one, and bare untyped storages.
            if isinstance(obj, torch.storage.TypedStorage):
                storage = obj._untyped_storage
                storage_type = getattr(torch, obj.pickle_storage_type())
                numel = obj.size()
            elif isinstance(obj, torch.UntypedStorage):
                storage = obj
                storage_type = torch.serialization.normalize_storage_type(type(obj))
                numel = obj.nbytes()
            else:
                raise RuntimeError(f"storage type not recognized: {type(obj)}")
            location = torch.serialization.location_tag(storage)
            return ("storage", storage_type, self._storage_id(storage), location, numel)
        if not isinstance(obj, torch.storage.TypedStorage):
            # torch 1.13 fails here too (an UnboundLocalError in its exporter):
            # only storages reached through tensors can be packaged.
            raise UnboundLocalError(
                f"cannot package a bare {type(obj).__name__}: torch.package 1.13 only "
                "packages typed storages (those of tensors)"
            )
        storage = obj._storage
        storage_type = getattr(torch, obj.pickle_storage_type())
        location = torch.serialization.location_tag(storage)
        storage_id = self._storage_id(storage)
        return ("storage", storage_type, storage_id, location, obj.size())

    def _storage_id(self, storage) -> int:
        """N of `.data/N.storage`, writing the storage the first time it is met."""
        if self._ts is not None:
            present = self._ts.context.has_storage(storage)
            storage_id = self._ts.context.get_or_add_storage(storage)
        else:
            known = self._storages.get(storage._cdata)
            present = known is not None
            storage_id = known[0] if present else len(self._storages)
            if not present:
                self._storages[storage._cdata] = (storage_id, storage)
        if not present:
            self._write_storage(storage_id, storage)
        return storage_id

    def _write_storage(self, storage_id: int, storage):
        if storage.device.type != "cpu":
            storage = storage.cpu()
        name = f".data/{storage_id}.storage"
        exporter = self._exporter()
        exporter._claim(name)
        exporter._zip.add_record_from_memory(name, storage.data_ptr(), storage.nbytes())

    def torchscript(self):
        """TorchScript's serializer and storage context for this package."""
        if self._ts is None:
            from ._torchscript import TorchScriptRecords

            self._ts = TorchScriptRecords([s for _, s in self._storages.values()])
        return self._ts

    def copy_torchscript_into(self, zip_writer, claim):
        """close(): the records TorchScript wrote, if a ScriptModule was saved."""
        if self._ts is not None:
            self._ts.copy_into(zip_writer, claim)

    def discard_torchscript(self):
        """A failed or finished export: free TorchScript's side archive now
        (its memory file), not whenever the exporter is collected."""
        ts, self._ts = self._ts, None
        if ts is not None:
            ts.discard()
