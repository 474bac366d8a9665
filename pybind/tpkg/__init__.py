"""tpkg: a drop-in for the torch.package API (PyTorch 1.13) on libtpkg.

Replace ``from torch.package import PackageExporter, PackageImporter`` with
``from tpkg import PackageExporter, PackageImporter``: same names,
signatures, defaults and errors; archives load in real torch.package and
torch.package's archives load here. Archive I/O, dependency scanning,
patterns and the dependency graph run in C++ (``tpkg._core``). torch itself
is only needed for tensors and TorchScript.
"""
from ._core import CorruptArchiveError, PolicyError, TpkgError, UnsupportedArchiveError
from .analyze.is_from_package import is_from_package
from .file_structure_representation import Directory
from .glob_group import GlobGroup
from .importer import Importer, ObjMismatchError, ObjNotFoundError, OrderedImporter, sys_importer
from .package_exporter import EmptyMatchError, PackageExporter, PackagingError
from .package_importer import PackageImporter

# Reachable as attributes after `import tpkg`, as they are after `import torch.package`.
from . import _stdlib, find_file_dependencies  # noqa: E402,F401

__all__ = [
    "is_from_package",
    "Directory",
    "GlobGroup",
    "Importer",
    "ObjMismatchError",
    "ObjNotFoundError",
    "OrderedImporter",
    "sys_importer",
    "EmptyMatchError",
    "PackageExporter",
    "PackagingError",
    "PackageImporter",
    "TpkgError",
    "CorruptArchiveError",
    "UnsupportedArchiveError",
    "PolicyError",
]
