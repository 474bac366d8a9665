"""The unpickler of PackageImporter.load_pickle: globals resolve through the
importer (so packaged classes come from the package, externs from sys)."""
import _compat_pickle
import pickle

from .importer import Importer


class PackageUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """Package-aware unpickler: ``find_class`` imports through `importer`."""

    def __init__(self, importer: Importer, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._importer = importer

    def find_class(self, module, name):
        if self.proto < 3 and self.fix_imports:  # type: ignore[attr-defined]
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        mod = self._importer.import_module(module)
        return getattr(mod, name)


def _protocol_of(data: bytes) -> int:
    """The protocol a pickle declares (PROTO opcode), 0 when it has none."""
    return data[1] if len(data) >= 2 and data[0] == 0x80 else 0


class FastPackageUnpickler(pickle.Unpickler):
    """PackageUnpickler on the C unpickler: what load_pickle uses. Same
    results, several times faster on big pickles; the protocol (for the
    Python 2 name mapping) comes from the pickle's PROTO opcode, because the
    C unpickler does not expose it."""

    def __init__(self, importer: Importer, data: bytes):
        import io

        super().__init__(io.BytesIO(data))
        self._importer = importer
        self._proto = _protocol_of(data)

    def find_class(self, module, name):
        if self._proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        mod = self._importer.import_module(module)
        return getattr(mod, name)
