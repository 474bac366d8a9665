"""TorchScript modules inside a tpkg package, through torch's own serializer.

ScriptModule.__reduce_package__ calls
``exporter.script_module_serializer.serialize(...)``, a torch C++ object
that can only write to a torch ``PyTorchFileWriter``. tpkg gives it one of
its own, over an anonymous memory file, and in ``close()`` copies what it
wrote (storages, ``.data/ts_code/...``) into the package raw, so the
deflated code records keep torch's exact bytes. Storage numbering stays
shared: the serializer's storage context is seeded with the storages the
package already holds, in order, so they keep their numbers and are not
written twice.
"""
import os

import torch

from . import _core


class TorchScriptRecords:
    def __init__(self, known_storages):
        self._fd = os.memfd_create("tpkg-torchscript", os.MFD_CLOEXEC)
        self._path = f"/proc/self/fd/{self._fd}"
        self._writer = torch._C.PyTorchFileWriter(self._path)
        self._writer.set_min_version(6)
        self.serializer = torch._C.ScriptModuleSerializer(self._writer)
        self.context = self.serializer.storage_context()
        for storage in known_storages:
            self.context.get_or_add_storage(storage)

    def copy_into(self, zip_writer, claim):
        """Writes the code files, then copies every record the serializer wrote
        into `zip_writer`, except what torch's writer added when it finished
        the side archive (its version record; torch 2.x also `byteorder` and
        `.data/serialization_id`): the package's own trailer has them."""
        self.serializer.write_files()
        del self.serializer
        del self._writer  # finalizes the side archive
        side = _core.ZipReader(self._path)
        trailer = set(side.torch_writer_trailer())
        for name in side.records():
            if name in trailer:
                continue
            claim(name)
            zip_writer.copy_raw_record(side, name)
        del side
        self._close()

    def discard(self):
        """Drops what the serializer wrote (a failed export)."""
        self.serializer = self.context = self._writer = None
        self._close()

    def _close(self, _os_close=os.close):
        # os.close bound at definition: at interpreter exit the module's
        # globals may be gone before this object is collected.
        if getattr(self, "_fd", None) is not None:
            _os_close(self._fd)
            self._fd = None

    def __del__(self):
        # An exporter dropped without close(): only the memory file to free.
        self._close()
