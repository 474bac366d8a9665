"""PackageImporter: load code and objects from a package, hermetically.

Modules come from the archive (or from the real environment for names the
package lists as extern), under ``<torch_package_N>``-mangled names, in a
module table private to the importer (``self.modules``), never in
``sys.modules``. The import machinery mirrors CPython's (and
torch.package's) so that package code sees ordinary import semantics.
"""
import builtins
import importlib
import importlib.machinery
import importlib.util
import io
import linecache
import os.path
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, cast, Dict, Iterable, Optional, Union

from . import _torch_compat
from ._directory_reader import DirectoryReader
from ._importer_pickles import PickleLoad
from ._importer_resources import PackageResourceReader, register_module, share_with_torch
from ._importer_tree import add_extern, add_file, ExternNode, PackageNode
from ._importlib import (
    _calc___package__,
    _normalize_line_endings,
    _normalize_path,
    _resolve_name,
    _sanity_check,
)
from ._mangling import demangle, PackageMangler
from ._package_unpickler import FastPackageUnpickler, PackageUnpickler
from ._zip_reader import ArchiveReader
from .file_structure_representation import _create_directory_from_file_list, Directory
from .glob_group import GlobPattern
from .importer import Importer

__all__ = ["PackageImporter"]


# Imports that are allowed even if not externed: torch implicitly depends on
# numpy and packages cannot track it (pytorch/MultiPy#46); torch 2.x adds
# builtins (FX GraphModules may need it and users rarely extern it).
IMPLICIT_IMPORT_ALLOWLIST: Iterable[str] = [
    "numpy",
    "numpy.core",
    "numpy.core._multiarray_umath",
] + (["builtins"] if _torch_compat.is_torch2() else [])

if _torch_compat.is_torch2():
    # torch 2.x: names an extern module lost that old packages still use.
    EXTERN_IMPORT_COMPAT_NAME_MAPPING: Dict[str, Dict[str, Any]] = {
        "numpy": {
            "str": str,
            "bool": bool,
        },
    }


class PackageImporter(Importer):
    """Importers allow you to load code written to packages by :class:`PackageExporter`.
    Code is loaded in a hermetic way, using files from the package rather than
    the normal python import system.

    The importer ensures that code in the module can only be loaded from within
    the package, except for modules explicitly listed as external during export
    (the archive's ``.data/extern_modules``).
    """

    modules: Dict[str, types.ModuleType]

    def __init__(
        self,
        file_or_buffer: Union[str, Path, BinaryIO, Any],
        module_allowed: Callable[[str], bool] = lambda module_name: True,
    ):
        """Open ``file_or_buffer`` (a path to an archive or to a directory of
        unzipped records, a seekable binary file object, or a
        ``torch._C.PyTorchFileReader``) for importing.

        Raises:
            ImportError: If the package will use a module that ``module_allowed`` refuses.
        """
        _torch_compat.register_importers_with_torch()
        self._torch_reader = None  # torch's reader of the same archive, made on demand
        self._reader = self._open_reader(file_or_buffer)

        self.root = PackageNode(None)
        self.modules = {}
        self.extern_modules = self._read_extern()

        for extern_module in self.extern_modules:
            if not module_allowed(extern_module):
                raise ImportError(
                    f"package '{file_or_buffer}' needs the external module '{extern_module}' "
                    f"but that module has been disallowed"
                )
            add_extern(self.root, extern_module)

        for fname in self._reader.get_all_records():
            add_file(self.root, fname)

        self.patched_builtins = builtins.__dict__.copy()
        self.patched_builtins["__import__"] = self.__import__
        # Packaged modules can reach their importer with `import torch_package_importer`.
        self.modules["torch_package_importer"] = self  # type: ignore[assignment]

        self._mangler = PackageMangler()

        # Set during load_pickle, for __reduce_package__ loaders (TorchScript).
        self.storage_context: Any = None
        self.last_map_location = None

        # Used by torch.serialization._load.
        self.Unpickler = lambda *args, **kwargs: PackageUnpickler(self, *args, **kwargs)

    def _open_reader(self, file_or_buffer):
        torch = _torch_compat.loaded_torch()
        if torch is not None and isinstance(file_or_buffer, torch._C.PyTorchFileReader):
            self.filename = "<pytorch_file_reader>"
            self._torch_reader = file_or_buffer
            return file_or_buffer
        if isinstance(file_or_buffer, (os.PathLike, str) if _torch_compat.is_torch2() else (Path, str)):
            self.filename = os.fspath(file_or_buffer)
            if os.path.isdir(self.filename):
                return DirectoryReader(self.filename)
            try:
                return ArchiveReader(self.filename)
            except OSError as e:  # torch raises RuntimeError for a file it cannot open
                raise _torch_compat.torch_file_error(e) from None
        self.filename = "<binary>"
        if isinstance(file_or_buffer, bytes):  # torch's reader takes bytes as a file name
            try:  # as they are: a name that is no UTF-8 still opens
                return ArchiveReader(file_or_buffer)
            except OSError as e:
                raise _torch_compat.torch_file_error(e) from None
        return ArchiveReader.from_file(file_or_buffer)

    @property
    def zip_reader(self):
        """The torch-side reader of this package: a ``DirectoryReader`` in
        directory mode, else a ``torch._C.PyTorchFileReader`` over the same
        archive (made on first use: TorchScript loading needs torch's own)."""
        if not isinstance(self._reader, ArchiveReader):
            return self._reader
        if self._torch_reader is None:
            import torch

            self._torch_reader = torch._C.PyTorchFileReader(self._reader.same_file_path)
        return self._torch_reader

    def import_module(self, name: str, package=None):
        """Load a module from the package if it hasn't already been loaded, and
        return it. Modules live in ``self.modules``, not ``sys.modules``.

        Args:
            name (str): Fully qualified name of the module to load (it may be
                mangled by this importer, e.g. ``obj.__module__``).
            package: Unused; matches importlib.import_module's signature.
        """
        # Names mangled by another importer pass through unchanged.
        name = self._mangler.demangle(name)
        module = self._gcd_import(name)
        share_with_torch()  # those made before the packaged code imported torch
        return module

    def load_binary(self, package: str, resource: str) -> bytes:
        """Load raw bytes of ``resource`` in ``package`` (e.g. ``"my_package.sub"``)."""
        path = self._zipfile_path(package, resource)
        return self._reader.get_record(path)

    def load_text(
        self,
        package: str,
        resource: str,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> str:
        """Load a string (``encoding`` and ``errors`` are passed to ``decode``)."""
        data = self.load_binary(package, resource)
        return data.decode(encoding, errors)

    def load_pickle(self, package: str, resource: str, map_location=None) -> Any:
        """Unpickle ``resource`` of ``package``, importing the modules needed to
        construct the objects with :meth:`import_module`.

        Args:
            map_location: as for ``torch.load``: where tensors go. Defaults to ``None``.
        """
        pickle_file = self._zipfile_path(package, resource)
        data = self._reader.get_record(pickle_file)
        with self._deserialization_context(map_location):
            try:
                result = self._unpickle(FastPackageUnpickler(self, data), map_location)
            except (pickle.UnpicklingError, EOFError):
                # Bytes the C unpickler refuses: torch reads them with the
                # pure-Python one, whose exception (EOFError for a cut pickle,
                # KeyError for an unknown opcode) callers may catch. Read
                # again so, from the start, to raise what torch raises.
                result = self._unpickle(PackageUnpickler(self, io.BytesIO(data)), map_location)

        torch = _torch_compat.loaded_torch()
        if torch is not None:
            torch._utils._validate_loaded_sparse_tensors()
        return result

    def _unpickle(self, unpickler, map_location):
        unpickler.persistent_load = PickleLoad(self, map_location).persistent_load
        return unpickler.load()

    @contextmanager
    def _deserialization_context(self, map_location):
        # Lets __reduce_package__ loaders (TorchScript) share this load's
        # storages: PickleLoad sets storage_context once torch is loaded.
        self.last_map_location = map_location
        try:
            yield
        finally:
            self.storage_context = None
            self.last_map_location = None

    def id(self):
        """The identifier that distinguishes importers, e.g. ``<torch_package_0>``."""
        return self._mangler.parent_name()

    def file_structure(self, *, include: "GlobPattern" = "**", exclude: "GlobPattern" = ()) -> Directory:
        """The package's records as a :class:`Directory` tree, filtered by glob
        patterns over ``/``-separated record names."""
        return _create_directory_from_file_list(
            self.filename, self._reader.get_all_records(), include, exclude
        )

    def python_version(self):
        """The Python version that made the package (e.g. ``3.11.2``), or None."""
        python_version_path = ".data/python_version"
        if not self._reader.has_record(python_version_path):
            return None
        return self._reader.get_record(python_version_path).decode("utf-8").strip()

    def _read_extern(self):
        return self._reader.get_record(".data/extern_modules").decode("utf-8").splitlines(keepends=False)

    def _make_module(self, name: str, filename: Optional[str], is_package: bool, parent: str):
        mangled_filename = self._mangler.mangle(filename) if filename else None
        spec = importlib.machinery.ModuleSpec(
            name,
            self,  # type: ignore[arg-type]
            origin="<package_importer>",
            is_package=is_package,
        )
        module = importlib.util.module_from_spec(spec)
        self.modules[name] = module
        module.__name__ = self._mangler.mangle(name)
        ns = module.__dict__
        ns["__spec__"] = spec
        ns["__loader__"] = self
        ns["__file__"] = mangled_filename
        ns["__cached__"] = None
        ns["__builtins__"] = self.patched_builtins
        ns["__torch_package__"] = True

        # Unique thanks to mangling; lets inspect.getfile (and torch's Dynamo)
        # find packaged modules.
        register_module(module)

        # Installed on the parent first, so IMPORT_FROM never consults sys.modules.
        self._install_on_parent(parent, name, module)

        if filename is not None:
            assert mangled_filename is not None
            # Register the source lazily so tracebacks and inspect work.
            assert filename not in linecache.cache  # type: ignore[attr-defined]
            linecache.lazycache(mangled_filename, ns)
            code = self._compile_source(filename, mangled_filename)
            exec(code, ns)

        return module

    def _load_module(self, name: str, parent: str):
        cur = self.root
        for atom in name.split("."):
            if not isinstance(cur, PackageNode) or atom not in cur.children:
                if name in IMPLICIT_IMPORT_ALLOWLIST:
                    module = self.modules[name] = importlib.import_module(name)
                    return module
                raise ModuleNotFoundError(
                    f'No module named "{name}" in self-contained archive "{self.filename}"'
                    f" and the module is also not in the list of allowed external modules: {self.extern_modules}",
                    name=name,
                )
            cur = cur.children[atom]
            if isinstance(cur, ExternNode):
                module = self.modules[name] = importlib.import_module(name)
                if _torch_compat.is_torch2():
                    for old_name, new_name in EXTERN_IMPORT_COMPAT_NAME_MAPPING.get(name, {}).items():
                        module.__dict__.setdefault(old_name, new_name)
                return module
        return self._make_module(name, cur.source_file, isinstance(cur, PackageNode), parent)  # type: ignore[attr-defined]

    def _compile_source(self, fullpath: str, mangled_filename: str):
        source = self._reader.get_record(fullpath)
        source = _normalize_line_endings(source)
        return compile(source, mangled_filename, "exec", dont_inherit=True)

    # Named `get_source` so that linecache finds the source of packaged modules.
    def get_source(self, module_name) -> str:
        # linecache passes the (mangled) module.__name__.
        module = self.import_module(demangle(module_name))
        return self._reader.get_record(demangle(module.__file__)).decode("utf-8")

    # Named `get_resource_reader` so that importlib.resources finds it.
    def get_resource_reader(self, fullname):
        try:
            package = self._get_package(fullname)
        except ImportError:
            return None
        if package.__loader__ is not self:
            return None
        return PackageResourceReader(self, fullname)

    def _install_on_parent(self, parent: str, name: str, module: types.ModuleType):
        if not parent:
            return
        parent_module = self.modules[parent]
        if parent_module.__loader__ is self:
            setattr(parent_module, name.rpartition(".")[2], module)

    # CPython's import code, with module creation replaced by _load_module.
    def _do_find_and_load(self, name):
        parent = name.rpartition(".")[0]
        module_name_no_parent = name.rpartition(".")[-1]
        if parent:
            if parent not in self.modules:
                self._gcd_import(parent)
            # Importing the parent may have imported this module already.
            if name in self.modules:
                return self.modules[name]
            parent_module = self.modules[parent]
            try:
                parent_module.__path__  # type: ignore[attr-defined]
            except AttributeError:
                self._raise_not_a_package(name, parent, parent_module, module_name_no_parent)

        module = self._load_module(name, parent)
        self._install_on_parent(parent, name, module)
        return module

    def _raise_not_a_package(self, name, parent, parent_module, module_name_no_parent):
        # A package of only pybind'ed files is no Python package: tell the
        # user to extern it rather than "not a package".
        if isinstance(parent_module.__loader__, importlib.machinery.ExtensionFileLoader):
            if name not in self.extern_modules:
                msg = (
                    _ERR_MSG
                    + "; {!r} is a c extension module which was not externed. C extension modules \
                    need to be externed by the PackageExporter in order to be used as we do not support interning them.}."
                ).format(name, name)
                raise ModuleNotFoundError(msg, name=name) from None
            if not isinstance(parent_module.__dict__.get(module_name_no_parent), types.ModuleType):
                msg = (_ERR_MSG + "; {!r} is a c extension package which does not contain {!r}.").format(
                    name, parent, name
                )
                raise ModuleNotFoundError(msg, name=name) from None
            return
        msg = (_ERR_MSG + "; {!r} is not a package").format(name, parent)
        raise ModuleNotFoundError(msg, name=name) from None

    # CPython's import code.
    def _find_and_load(self, name):
        module = self.modules.get(name, _NEEDS_LOADING)
        if module is _NEEDS_LOADING:
            return self._do_find_and_load(name)

        if module is None:
            message = "import of {} halted; None in sys.modules".format(name)
            raise ModuleNotFoundError(message, name=name)

        # The stdlib fakes submodules by editing sys.modules (pytorch#57490).
        if name == "os":
            self.modules["os.path"] = cast(Any, module).path
        elif name == "typing" and sys.version_info < (3, 13):  # 3.13 removed them
            self.modules["typing.io"] = cast(Any, module).io
            self.modules["typing.re"] = cast(Any, module).re

        return module

    def _gcd_import(self, name, package=None, level=0):
        """Import and return the module based on its name, the package the call
        is being made from, and the level adjustment (CPython's _gcd_import)."""
        if level == 0 and type(name) is str and name:
            return self._find_and_load(name)  # the common case, checked inline
        _sanity_check(name, package, level)
        if level > 0:
            name = _resolve_name(name, package, level)
        return self._find_and_load(name)

    # CPython's import code.
    def _handle_fromlist(self, module, fromlist, *, recursive=False):
        """Figure out what __import__ should return for a fromlist."""
        module_name = demangle(module.__name__)
        # If a package was imported, try to import stuff from fromlist.
        if hasattr(module, "__path__"):
            for x in fromlist:
                if not isinstance(x, str):
                    where = module_name + ".__all__" if recursive else "``from list''"
                    raise TypeError(f"Item in {where} must be str, not {type(x).__name__}")
                elif x == "*":
                    if not recursive and hasattr(module, "__all__"):
                        self._handle_fromlist(module, module.__all__, recursive=True)
                elif not hasattr(module, x):
                    from_name = "{}.{}".format(module_name, x)
                    try:
                        self._gcd_import(from_name)
                    except ModuleNotFoundError as exc:
                        # Failed fromlist imports of modules that don't exist are ignored.
                        if exc.name == from_name and self.modules.get(from_name, _NEEDS_LOADING) is not None:
                            continue
                        raise
        return module

    def __import__(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0:
            module = self._gcd_import(name)
        else:
            globals_ = globals if globals is not None else {}
            package = _calc___package__(globals_)
            module = self._gcd_import(name, package, level)
        if fromlist:
            return self._handle_fromlist(module, fromlist)
        # Return up to the first dot in 'name' (which may be relative).
        if level == 0:
            return self._gcd_import(name.partition(".")[0])
        if not name:
            return module
        cut_off = len(name) - len(name.partition(".")[0])
        module_name = demangle(module.__name__)
        return self.modules[module_name[: len(module_name) - cut_off]]

    def _get_package(self, package):
        """Take a package name or module object and return the module; raise
        TypeError if it is not a package."""
        if hasattr(package, "__spec__"):
            if package.__spec__.submodule_search_locations is None:
                raise TypeError("{!r} is not a package".format(package.__spec__.name))
            return package
        module = self.import_module(package)
        if module.__spec__.submodule_search_locations is None:
            raise TypeError("{!r} is not a package".format(package))
        return module

    def _zipfile_path(self, package, resource=None):
        package = self._get_package(package)
        assert package.__loader__ is self
        name = demangle(package.__name__)
        if resource is not None:
            resource = _normalize_path(resource)
            return f"{name.replace('.', '/')}/{resource}"
        return f"{name.replace('.', '/')}"


_NEEDS_LOADING = object()
_ERR_MSG_PREFIX = "No module named "
_ERR_MSG = _ERR_MSG_PREFIX + "{!r}"
