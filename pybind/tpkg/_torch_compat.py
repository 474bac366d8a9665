"""Everything tpkg needs from PyTorch, looked up lazily.

tpkg never imports torch by itself: an object that holds tensors can only
exist once torch has been imported, so ``loaded_torch()`` (torch if it is
already in ``sys.modules``) is all the exporter and importer need. Without
torch installed, every tensor-free feature still works.

``torch_release()`` is the torch whose torch.package tpkg reproduces: the
torch beside it (doc/python_module.md lists what differs between 1.13 and 2.x).
"""
import functools
import importlib.metadata
import os
import sys

from . import _core

# The release reproduced when no torch is installed at all: the newest one.
_WITHOUT_TORCH = _core.TorchRelease.TORCH_2


def torch_version():
    """The version of the torch beside tpkg ("1.13.0a0+gitunknown",
    "2.6.0+debian"), without importing it; None when none is installed.
    TPKG_TORCH_VERSION overrides it (for tests and for writing packages
    for another torch)."""
    override = os.environ.get("TPKG_TORCH_VERSION")
    if override:
        return override
    torch = sys.modules.get("torch")
    version = getattr(torch, "__version__", None) if torch is not None else None
    if version is not None:
        return str(version)
    return _installed_torch_version()


@functools.lru_cache(maxsize=None)
def _installed_torch_version():
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def torch_release():
    """The _core.TorchRelease to reproduce (tpkg/torch_release.h)."""
    version = torch_version()
    return _WITHOUT_TORCH if version is None else _core.torch_release_of(version)


def is_torch2() -> bool:
    return torch_release() == _core.TorchRelease.TORCH_2


def loaded_torch():
    """The torch module if it has been imported, else None."""
    torch = sys.modules.get("torch")
    # A partially initialised torch (we are inside its own import) has no _C yet.
    return torch if torch is not None and hasattr(torch, "_C") else None


def register_importers_with_torch():
    """Makes real torch.package accept tpkg importers (its PackageExporter and
    OrderedImporter check isinstance against their own Importer ABC)."""
    torch_importer = sys.modules.get("torch.package.importer")
    if torch_importer is None:
        return
    from .importer import Importer

    if not issubclass(Importer, torch_importer.Importer):
        torch_importer.Importer.register(Importer)


def gate_torchscript_serialization() -> bool:
    """torch.package's beta gate for ScriptModules: tpkg honours the flag set
    on torch's own exporter module as well as on tpkg's."""
    from . import package_exporter

    torch_exporter = sys.modules.get("torch.package.package_exporter")
    if torch_exporter is not None and not torch_exporter._gate_torchscript_serialization:
        return False
    return package_exporter._gate_torchscript_serialization


def is_script_module(obj) -> bool:
    torch = loaded_torch()
    return torch is not None and isinstance(obj, torch.jit.RecursiveScriptModule)


# OSError subclass -> the same subclass that is also a RuntimeError.
_TORCH_FILE_ERRORS = {}


def torch_file_error(error: OSError) -> OSError:
    """`error` (a file the archive reader or writer could not open or create) as
    torch's reader and writer raise it: a RuntimeError, which code written
    against torch.package catches; it stays the OSError it is (e.g.
    FileNotFoundError, with its errno) for code written against tpkg."""
    kind = type(error)
    both = _TORCH_FILE_ERRORS.get(kind)
    if both is None:
        # Pickled by how it is made (the class is no attribute of a module), so
        # that it crosses process boundaries (multiprocessing) as itself.
        reduce = lambda self: (_rebuild_torch_file_error, (kind, self.args))  # noqa: E731
        both = type(kind.__name__, (kind, RuntimeError), {"__module__": "tpkg", "__reduce__": reduce})
        _TORCH_FILE_ERRORS[kind] = both
    out = both(*error.args)
    if hasattr(error, "code"):
        out.code = error.code
    return out


def _rebuild_torch_file_error(kind, args):
    return torch_file_error(kind(*args))
