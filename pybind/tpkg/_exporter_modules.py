"""How the exporter finds modules: through its importer, as libtpkg's policy
asks (the ModuleEnvironment of tpkg/policy.h: ``find``, ``importable`` and
``parse_error``).

Finding a module means importing it, which only the interpreter can do;
what to do with it is the policy's decision (libtpkg).
"""
import ast
import importlib.machinery
import linecache
import sys
import types
import weakref
from typing import Optional, Set

from . import _core, _torch_compat
from ._mangling import is_mangled
from .importer import sys_importer


class ExporterModules:
    """The modules the exporter's importer gives. Holds the exporter weakly:
    the exporter owns the policy, which owns this; the importer is read from
    the exporter at each use, as torch does."""

    def __init__(self, exporter):
        self._exporter = weakref.ref(exporter)
        # Names found not to exist, so that each is looked up once.
        self._missing: Set[str] = set()

    def import_module(self, module_name: str):
        importer = self._exporter().importer
        if importer is sys_importer:
            # importlib.import_module's own answer for an imported module,
            # without its locking round trip (the exporter asks ~10x per module).
            module = sys.modules.get(module_name)
            if module is not None:
                return module
        try:
            return importer.import_module(module_name)
        except ModuleNotFoundError:
            if not is_mangled(module_name):
                raise
            msg = (
                f"Module not found: '{module_name}'. Make sure the PackageImporter that "
                "created this module is present in `self.importer`"
            )
            raise ModuleNotFoundError(msg) from None

    def importable(self, module_name: str) -> bool:
        """torch's _module_exists: any failure to import counts as absent."""
        if module_name in self._missing:
            return False
        if self._exporter().importer is sys_importer and _cannot_be_submodule(module_name):
            return False
        try:
            self.import_module(module_name)
            return True
        except ModuleNotFoundError as e:
            # Missing itself (not failing on some other import): asking again
            # would walk the same directories for the same answer.
            if e.name == module_name:
                self._missing.add(module_name)
            return False
        except Exception:
            return False

    def parse_error(self, source: str) -> Optional[str]:
        """torch parses every source it scans (ast.parse) and reports str()
        of any exception as the error's context: the interpreter decides
        what is Python, with its own messages; None when it parses."""
        try:
            ast.parse(source)
        except Exception as e:
            return str(e)
        return None

    def find(self, module_name: str):
        """What importing `module_name` reveals (a _core.ModuleSource); raises
        the importer's errors."""
        module = self.import_module(module_name)
        is_package = hasattr(module, "__path__")
        source = source_of_module(module)
        if source is not None:
            # Imported, so compiled from this file: no need to parse it again
            # (unless the file changed since; torch would parse the new text).
            return _core.ModuleSource(_core.ModuleKind.SOURCE, source, is_package, compiled=True)
        filename = getattr(module, "__file__", None)
        if filename is None:
            return _core.ModuleSource(_core.ModuleKind.NO_FILE, "", is_package)
        if filename.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return _core.ModuleSource(_core.ModuleKind.EXTENSION, "", is_package, filename)
        return _core.ModuleSource(_core.ModuleKind.FILE_NOT_FOUND, "", is_package, filename)


def source_of_module(module: types.ModuleType) -> Optional[str]:
    """The module's source as linecache gives it (None unless a .py file).
    torch 2.x asks a SourceFileLoader for the file name first, then falls
    back to ``__file__`` as 1.13 always does."""
    if not _torch_compat.is_torch2():
        filename = getattr(module, "__file__", None)
        if filename is None or not filename.endswith(".py"):
            return None
        return "".join(linecache.getlines(filename, module.__dict__))
    filename = None
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    if isinstance(loader, importlib.machinery.SourceFileLoader):
        try:
            filename = loader.get_filename(module.__name__)
        except ImportError:
            pass
    if filename is None:
        filename = getattr(module, "__file__", None)
    if not isinstance(filename, str) or not filename.endswith(".py"):
        return None
    return "".join(linecache.getlines(filename, module.__dict__))


def _cannot_be_submodule(module_name: str) -> bool:
    """True when importing `module_name` must fail at once: its parent is an
    imported module that is not a package (importlib then raises "'a.b' is
    not a package" without looking anywhere). The typical case is
    `from mod import function`, which torch first tries as a submodule.
    A name already in sys.modules imports whatever its parent is, as
    importlib returns it from there first: `os.path` (os is no package)."""
    parent, dot, _ = module_name.rpartition(".")
    if not dot or module_name in sys.modules:
        return False
    parent_module = sys.modules.get(parent)
    return parent_module is not None and not hasattr(parent_module, "__path__")
