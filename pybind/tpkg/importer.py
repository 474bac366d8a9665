"""Module environments: where an exporter finds modules and names objects.

``Importer`` is the interface (``import_module`` and ``get_name``),
``sys_importer`` is the normal Python environment, and ``OrderedImporter``
tries several environments in order (used to re-export objects that came
out of a ``PackageImporter``).

Importers of real torch.package are accepted wherever a tpkg importer is
(see ``is_importer``), so the two libraries can be mixed in one chain.
"""
import importlib
import sys
from abc import ABC, abstractmethod
from pickle import _getattribute, _Pickler  # type: ignore[attr-defined]
from pickle import whichmodule as _pickle_whichmodule  # type: ignore[attr-defined]
from types import ModuleType
from typing import Any, Dict, List, Optional, Tuple

from ._mangling import demangle, get_mangle_prefix, is_mangled

__all__ = ["ObjNotFoundError", "ObjMismatchError", "Importer", "OrderedImporter"]


class ObjNotFoundError(Exception):
    """Raised when an importer cannot find an object by searching for its name."""


class ObjMismatchError(Exception):
    """Raised when an importer found a different object with the same name as the user-provided one."""


def is_importer(obj: Any) -> bool:
    """True for tpkg importers and for real torch.package importers."""
    if isinstance(obj, Importer):
        return True
    torch_importer = sys.modules.get("torch.package.importer")
    return torch_importer is not None and isinstance(obj, torch_importer.Importer)


class Importer(ABC):
    """Represents an environment to import modules from.

    It supports two main operations:
        import_module: module_name -> module object
        get_name: object -> (parent module name, name of obj within module)

    The guarantee is that the following round trip succeeds or raises
    ObjNotFoundError/ObjMismatchError::

        module_name, obj_name = env.get_name(obj)
        module = env.import_module(module_name)
        obj2 = getattr(module, obj_name)
        assert obj1 is obj2
    """

    modules: Dict[str, ModuleType]

    @abstractmethod
    def import_module(self, module_name: str) -> ModuleType:
        """Import `module_name` from this environment (contract of importlib.import_module)."""

    def get_name(self, obj: Any, name: Optional[str] = None) -> Tuple[str, str]:
        """Given an object, return ``(parent_module_name, attr_name)`` that retrieves
        it from this environment; raises ObjNotFoundError or ObjMismatchError."""
        if name is None and obj and _Pickler.dispatch.get(type(obj)) is None:
            # Honor the string return variant of __reduce__: it names a global.
            reduce = getattr(obj, "__reduce__", None)
            if reduce is not None:
                try:
                    rv = reduce()
                    if isinstance(rv, str):
                        name = rv
                except Exception:
                    pass
        if name is None:
            name = getattr(obj, "__qualname__", None)
        if name is None:
            name = obj.__name__

        orig_module_name = self.whichmodule(obj, name)
        # Objects that came out of a PackageImporter have a mangled __module__.
        module_name = demangle(orig_module_name)

        try:
            module = self.import_module(module_name)
            obj2, _ = _getattribute(module, name)
        except (ImportError, KeyError, AttributeError):
            raise ObjNotFoundError(f"{obj} was not found as {module_name}.{name}") from None

        if obj is obj2:
            return module_name, name
        raise ObjMismatchError(self._mismatch_message(obj, obj2, name))

    def _mismatch_message(self, obj: Any, obj2: Any, name: str) -> str:
        def get_obj_info(o):
            module_name = self.whichmodule(o, name)
            mangled = is_mangled(module_name)
            location = (
                get_mangle_prefix(module_name) if mangled else "the current Python environment"
            )
            importer_name = (
                f"the importer for {get_mangle_prefix(module_name)}" if mangled else "'sys_importer'"
            )
            return module_name, location, importer_name

        obj_module_name, obj_location, obj_importer_name = get_obj_info(obj)
        obj2_module_name, obj2_location, obj2_importer_name = get_obj_info(obj2)
        return (
            f"\n\nThe object provided is from '{obj_module_name}', "
            f"which is coming from {obj_location}."
            f"\nHowever, when we import '{obj2_module_name}', it's coming from {obj2_location}."
            "\nTo fix this, make sure this 'PackageExporter's importer lists "
            f"{obj_importer_name} before {obj2_importer_name}."
        )

    def whichmodule(self, obj: Any, name: str) -> str:
        """Find the module name an object belongs to (pickle.whichmodule,
        searching this importer's modules instead of sys.modules)."""
        module_name = getattr(obj, "__module__", None)
        if module_name is not None:
            return module_name

        # A copy: getattr on lazy modules may import (and add) more modules.
        for module_name, module in self.modules.copy().items():
            if module_name in ("__main__", "__mp_main__") or module is None:
                continue
            try:
                if _getattribute(module, name)[0] is obj:
                    return module_name
            except AttributeError:
                pass
        return "__main__"


class _SysImporter(Importer):
    """An importer that implements the default behavior of Python."""

    def import_module(self, module_name: str):
        return importlib.import_module(module_name)

    def whichmodule(self, obj: Any, name: str) -> str:
        return _pickle_whichmodule(obj, name)


sys_importer = _SysImporter()


def _is_torchpackage_dummy(module) -> bool:
    """True iff `module` is an implicit empty package of a package importer.

    If you intern `a.b` but never use `a`, then `a` is an empty module with
    no source; resolving `a` to it would hide a real `a` later in the chain.
    """
    if not getattr(module, "__torch_package__", False):
        return False
    if not hasattr(module, "__path__"):
        return False
    if not hasattr(module, "__file__"):
        return True
    return module.__file__ is None


class OrderedImporter(Importer):
    """A compound importer that takes a list of importers and tries them one at a time.

    The first importer in the list that returns a result "wins".
    """

    def __init__(self, *args):
        self._importers: List[Importer] = list(args)

    def _is_torchpackage_dummy(self, module):
        return _is_torchpackage_dummy(module)

    def import_module(self, module_name: str) -> ModuleType:
        last_err = None
        for importer in self._importers:
            if not is_importer(importer):
                raise TypeError(
                    f"{importer} is not a Importer. "
                    "All importers in OrderedImporter must inherit from Importer."
                )
            try:
                module = importer.import_module(module_name)
                if _is_torchpackage_dummy(module):
                    continue
                return module
            except ModuleNotFoundError as err:
                last_err = err

        if last_err is not None:
            raise last_err
        raise ModuleNotFoundError(module_name)

    def whichmodule(self, obj: Any, name: str) -> str:
        for importer in self._importers:
            module_name = importer.whichmodule(obj, name)
            if module_name != "__main__":
                return module_name
        return "__main__"
