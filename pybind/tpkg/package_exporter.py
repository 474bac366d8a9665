"""PackageExporter: write code, pickled objects and resources into a package.

The Python side does what needs the interpreter (importing modules to find
their source, pickling objects, user hooks); libtpkg does the rest: which
module gets which action and why (tpkg/policy.h, which asks back through
_PolicyEnvironment whenever it needs an import), the archive writer
(zip_writer.h), the import and pickle scanners (import_scan.h,
pickle_scan.h), patterns (glob.h) and the graph (dep_graph.h). The records,
their order, the graph and every error match torch.package 1.13's
(doc/format.md §5-§7).
"""
import collections.abc
import importlib.machinery
import io
import linecache
import platform
import sys
import types
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Sequence, Set, Union

from . import _core, _torch_compat
from ._digraph import DiGraph
from ._importlib import _normalize_path
from ._mangling import demangle, is_mangled
from ._package_pickler import create_pickler
from .glob_group import GlobGroup, GlobPattern
from .importer import Importer, is_importer, OrderedImporter, sys_importer

__all__ = [
    "PackagingErrorReason",
    "EmptyMatchError",
    "PackagingError",
    "PackageExporter",
]

# ScriptModules are refused unless this (or torch.package's own flag) is False.
_gate_torchscript_serialization = True

ActionHook = Callable[["PackageExporter", str], None]


class _ModuleProviderAction(Enum):
    """One of the actions that :class:`PackageExporter` can take on a module."""

    INTERN = 1
    EXTERN = 2
    MOCK = 3
    DENY = 4
    # A `_mock` module from a re-packaged package: _mock.py is written once.
    REPACKAGED_MOCK_MODULE = 5
    # `torch_package_importer`, the importer's own fake module: never written.
    SKIP = 6


class PackagingErrorReason(Enum):
    """Why a dependency failed to package (grouped in :class:`PackagingError`)."""

    def __repr__(self):
        return "<%s.%s>" % (self.__class__.__name__, self.name)

    IS_EXTENSION_MODULE = "Module is a C extension module. torch.package supports Python modules only."
    NO_DUNDER_FILE = "Module had no __file__ defined."
    SOURCE_FILE_NOT_FOUND = "Module had a __file__, but we could not find it in your filesystem."
    DEPENDENCY_RESOLUTION_FAILED = "Dependency resolution failed."
    NO_ACTION = "Module did not match against any action pattern. Extern, mock, or intern it."
    DENIED = "Module was denied by a pattern."
    MOCKED_BUT_STILL_USED = (
        "Module was mocked out, but is still being used in the package. "
        "Please intern or extern the mocked modules if objects are supposed to be in "
        "the package."
    )


@dataclass
class _PatternInfo:
    """What to do with modules matching one pattern, and whether any did."""

    action: _ModuleProviderAction
    allow_empty: bool
    was_matched: bool

    def __init__(self, action, allow_empty):
        self.action = action
        self.allow_empty = allow_empty
        self.was_matched = False


class EmptyMatchError(Exception):
    """A pattern marked ``allow_empty=False`` matched no module during packaging."""


class PackagingError(Exception):
    """Every problem found while exporting, grouped by reason."""

    def __init__(self, dependency_graph: DiGraph):
        core = dependency_graph._graph
        for attrs in core.nodes():
            # torch asserts this while grouping; a module given an action after
            # it failed to match (save_source_file's quirk) trips it.
            if attrs.error == _core.Reason.NO_ACTION:
                assert attrs.action is None

        # Tooling (analyze.find_first_use_of_broken_modules) reads the graph.
        self.dependency_graph = dependency_graph
        super().__init__("\n" + _core.format_packaging_error(core).lstrip("\n"))


class RemovableHandle:
    """A handle to remove a hook (torch.utils.hooks.RemovableHandle's API)."""

    next_id = 0

    def __init__(self, hooks_dict: Any):
        import weakref

        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1

    def remove(self) -> None:
        hooks_dict = self.hooks_dict_ref()
        if hooks_dict is not None and self.id in hooks_dict:
            del hooks_dict[self.id]

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, type: Any, value: Any, tb: Any) -> None:
        self.remove()


class PackageExporter:
    """Exporters allow you to write packages of code, pickled Python data, and
    arbitrary binary and text resources into a self-contained package that
    :class:`PackageImporter` loads hermetically.

    Source added to the package can be scanned for dependencies
    (``dependencies=True``): import statements are resolved to module names and
    each module is given the action of the first pattern it matches
    (:meth:`intern`, :meth:`extern`, :meth:`mock`, :meth:`deny`); the standard
    library and torch are always extern.
    """

    importer: Importer

    def __init__(
        self,
        f: Union[str, Path, BinaryIO],
        importer: Union[Importer, Sequence[Importer]] = sys_importer,
    ):
        """Create an exporter.

        Args:
            f: where to write: a ``str``/``Path`` file name or a binary I/O object.
            importer: an Importer to find modules with, or a sequence of them
                (an ``OrderedImporter`` is built from it).
        """
        _torch_compat.register_importers_with_torch()
        if isinstance(f, (Path, str)):
            f = str(f)
            self.buffer: Optional[BinaryIO] = None
            self._zip = _core.ZipWriter.create(f, _core.prefix_for_path(f), overwrite=True)
        else:
            self.buffer = f
            self._zip = _core.ZipWriter.to_file(f, "archive")
        self._written_files: Set[str] = set()

        self.serialized_reduces: Dict[int, Any] = {}

        # The decisions, and the graph they build: modules and pickles (named
        # '<package.resource>') with "u needs v" edges; nodes carry how to
        # write them (see _digraph).
        self._policy = _core.ExportPolicy(_PolicyEnvironment(self))
        self._graph = self._policy.graph
        self.dependency_graph = DiGraph(self._graph)

        # Storage numbering (.data/N.storage): storage id -> (N, storage kept alive).
        self._storages: Dict[int, Any] = {}
        self._ts = None  # the TorchScript side writer, made on first use

        # OrderedDicts for RemovableHandle.
        self._extern_hooks: OrderedDict = OrderedDict()
        self._mock_hooks: OrderedDict = OrderedDict()
        self._intern_hooks: OrderedDict = OrderedDict()

        if is_importer(importer):
            self.importer = importer  # type: ignore[assignment]
        else:
            if not isinstance(importer, collections.abc.Sequence):
                raise TypeError(
                    "importer arg should be an Importer or a sequence of Importers, "
                    f"got {type(importer)} instead."
                )
            self.importer = OrderedImporter(*importer)

        self.patterns: Dict[GlobGroup, _PatternInfo] = {}
        self._unique_id = 0
        # Names found not to exist (_module_exists), so each is looked up once.
        self._missing_modules: Set[str] = set()

    def save_source_file(self, module_name: str, file_or_directory: str, dependencies=True):
        """Adds the file or directory ``file_or_directory`` as the code of
        ``module_name``. A directory is added recursively (every ``**/*.py``);
        a file named ``__init__.py`` makes a package.
        """
        path = Path(file_or_directory)
        if not path.is_dir():
            is_package = path.name == "__init__.py"
            self.save_source_string(module_name, _read_file(file_or_directory), is_package, dependencies)
            return
        # Every file is registered before any is scanned, so that scanning
        # never pulls in a module this directory provides.
        to_save = []
        module_path = module_name.replace(".", "/")
        for filename in path.glob("**/*.py"):
            archivename = module_path + "/" + filename.relative_to(path).as_posix()
            if filename.name == "__init__.py":
                submodule_name = archivename[: -len("/__init__.py")].replace("/", ".")
                is_package = True
            else:
                submodule_name = archivename[: -len(".py")].replace("/", ".")
                is_package = False
            to_save.append((submodule_name, _read_file(str(filename)), is_package, dependencies))
        for item in to_save:
            self.save_source_string(*item)

    def get_unique_id(self) -> str:
        """An id handed out only once per package ("0", "1", ...)."""
        ret = str(self._unique_id)
        self._unique_id += 1
        return ret

    def save_source_string(
        self,
        module_name: str,
        src: str,
        is_package: bool = False,
        dependencies: bool = True,
    ):
        """Adds ``src`` as the source code of ``module_name`` (always interned).

        Args:
            is_package: treat the module as a package (``name/__init__.py``),
                which may have submodules and resources.
            dependencies: scan ``src`` for imports and handle them.
        """
        self._policy.save_source_string(module_name, src, is_package, dependencies)

    def _write_source_string(self, module_name: str, src: str, is_package: bool = False):
        extension = "/__init__.py" if is_package else ".py"
        self._write(module_name.replace(".", "/") + extension, src)

    def _import_module(self, module_name: str):
        if self.importer is sys_importer:
            # importlib.import_module's own answer for an imported module,
            # without its locking round trip (the exporter asks ~10x per module).
            module = sys.modules.get(module_name)
            if module is not None:
                return module
        try:
            return self.importer.import_module(module_name)
        except ModuleNotFoundError:
            if not is_mangled(module_name):
                raise
            msg = (
                f"Module not found: '{module_name}'. Make sure the PackageImporter that "
                "created this module is present in `self.importer`"
            )
            raise ModuleNotFoundError(msg) from None

    def _module_exists(self, module_name: str) -> bool:
        if module_name in self._missing_modules:
            return False
        if self.importer is sys_importer and _cannot_be_submodule(module_name):
            return False
        try:
            self._import_module(module_name)
            return True
        except ModuleNotFoundError as e:
            # Missing itself (not failing on some other import): asking again
            # would walk the same directories for the same answer.
            if e.name == module_name:
                self._missing_modules.add(module_name)
            return False
        except Exception:
            return False

    def _get_source_of_module(self, module: types.ModuleType) -> Optional[str]:
        filename = getattr(module, "__file__", None)
        if filename is None or not filename.endswith(".py"):
            return None
        return "".join(linecache.getlines(filename, module.__dict__))

    def add_dependency(self, module_name: str, dependencies=True):
        """Add `module_name` to the dependency graph with the action of the
        first pattern it matches (torch and the standard library, except
        ``sys`` and ``io``, are always extern)."""
        self._policy.add_dependency(module_name, dependencies)

    def save_module(self, module_name: str, dependencies=True):
        """Save the code of ``module_name`` (found through the importer and its
        ``__file__``) into the package; it is always interned."""
        if not isinstance(module_name, str):
            raise TypeError("save_module() expects a string input, did you perhaps mean to pass `__name__`?")
        self._intern_module(module_name, dependencies)

    def _intern_module(self, module_name: str, dependencies: bool):
        """Adds the module as interned, with its source, then its dependencies."""
        if is_mangled(module_name):
            # Only an importer in the chain can recognize it; the package
            # stores the plain name.
            self._import_module(module_name)
            module_name = demangle(module_name)
        self._policy.save_module(module_name, dependencies)

    def _find_module_source(self, module_name: str):
        """What importing `module_name` through the importer reveals (the
        policy's ModuleEnvironment.Find); raises the importer's errors."""
        module = self._import_module(module_name)
        is_package = hasattr(module, "__path__")
        source = self._get_source_of_module(module)
        if source is not None:
            return _core.ModuleSource(_core.ModuleKind.SOURCE, source, is_package)
        filename = getattr(module, "__file__", None)
        if filename is None:
            return _core.ModuleSource(_core.ModuleKind.NO_FILE, "", is_package)
        if filename.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return _core.ModuleSource(_core.ModuleKind.EXTENSION, "", is_package, filename)
        return _core.ModuleSource(_core.ModuleKind.FILE_NOT_FOUND, "", is_package, filename)

    def save_pickle(
        self,
        package: str,
        resource: str,
        obj: Any,
        dependencies: bool = True,
        pickle_protocol: int = 3,
    ):
        """Pickle ``obj`` into ``package/resource`` (like ``torch.save``). With
        ``dependencies``, the modules the pickle names are handled like
        imports, so the code needed to unpickle it is packaged too.

        Objects whose class was loaded from a package are named through
        ``importer`` (list that package's PackageImporter there).
        """
        assert (pickle_protocol == 4) or (pickle_protocol == 3), "torch.package only supports pickle protocols 3 and 4"

        filename = self._filename(package, resource)
        data_buf = io.BytesIO()
        pickler = create_pickler(data_buf, self.importer, protocol=pickle_protocol)
        pickler.persistent_id = self._persistent_id
        pickler.dump(obj)
        data_value = data_buf.getvalue()

        modules, globals_, last = [], [], None
        if dependencies:
            modules = _core.scan_pickle_modules(data_value)
            globals_, last = self._mock_check_inputs(data_value, modules)
        self._policy.save_pickle(package, resource, modules, globals_, last, dependencies)
        self._write(filename, data_value)

    def _mock_check_inputs(self, data: bytes, modules: List[str]):
        """What the policy needs to replay torch's check for objects of mocked
        modules: every global in opcode order and the module torch's loop
        tracked last (its check looks only at that one, doc/format.md §6.6).

        Only a pickle naming a module that a mock pattern claims needs the
        opcode walk (pure Python); otherwise no global can be flagged."""
        if not any(self._first_action(m) == _ModuleProviderAction.MOCK for m in modules):
            return [], ""
        from . import _pickle_mock_check

        return _pickle_mock_check.torch_mock_check_inputs(data)

    def _first_action(self, module: str) -> Optional[_ModuleProviderAction]:
        """The action of the first user pattern matching `module`, None for
        implicit externs and unmatched modules."""
        if self._can_implicitly_extern(module):
            return None
        for pattern, pattern_info in self.patterns.items():
            if pattern.matches(module):
                return pattern_info.action
        return None

    def save_text(self, package: str, resource: str, text: str):
        """Save text (UTF-8) as ``package/resource``."""
        return self.save_binary(package, resource, text.encode("utf-8"))

    def save_binary(self, package, resource, binary: bytes):
        """Save raw bytes as ``package/resource``."""
        filename = self._filename(package, resource)
        self._write(filename, binary)

    def register_extern_hook(self, hook: ActionHook) -> RemovableHandle:
        """Registers ``hook(exporter, module_name)``, called in :meth:`close` for
        every extern module, in registration order. Returns a removable handle."""
        return self._register_hook(self._extern_hooks, hook)

    def register_mock_hook(self, hook: ActionHook) -> RemovableHandle:
        """Registers ``hook(exporter, module_name)``, called in :meth:`close` for
        every mocked module, in registration order. Returns a removable handle."""
        return self._register_hook(self._mock_hooks, hook)

    def register_intern_hook(self, hook: ActionHook) -> RemovableHandle:
        """Registers ``hook(exporter, module_name)``, called in :meth:`close` for
        every interned module, in registration order. Returns a removable handle."""
        return self._register_hook(self._intern_hooks, hook)

    @staticmethod
    def _register_hook(hooks: OrderedDict, hook: ActionHook) -> RemovableHandle:
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def intern(self, include: "GlobPattern", *, exclude: "GlobPattern" = (), allow_empty: bool = True):
        """Package the modules matching ``include`` (and not ``exclude``) and
        follow their dependencies. With ``allow_empty=False``, :meth:`close`
        raises :class:`EmptyMatchError` if no module matched."""
        self._add_pattern(include, exclude, _ModuleProviderAction.INTERN, allow_empty)

    def mock(self, include: "GlobPattern", *, exclude: "GlobPattern" = (), allow_empty: bool = True):
        """Replace the modules matching ``include`` (and not ``exclude``) with a
        stub whose every attribute is a ``MockedObject``.

        Patterns: ``'torch.**'`` matches ``torch`` and all its submodules;
        ``'torch.*'`` matches ``torch.nn`` but not ``torch.nn.functional``.
        With ``allow_empty=False``, :meth:`close` raises
        :class:`EmptyMatchError` if no module matched.
        """
        self._add_pattern(include, exclude, _ModuleProviderAction.MOCK, allow_empty)

    def extern(self, include: "GlobPattern", *, exclude: "GlobPattern" = (), allow_empty: bool = True):
        """Let the package import the modules matching ``include`` (and not
        ``exclude``) from the loading environment instead of packaging them.
        With ``allow_empty=False``, :meth:`close` raises
        :class:`EmptyMatchError` if no module matched."""
        self._add_pattern(include, exclude, _ModuleProviderAction.EXTERN, allow_empty)

    def deny(self, include: "GlobPattern", *, exclude: "GlobPattern" = ()):
        """Refuse the modules matching ``include`` (and not ``exclude``): a
        dependency on one makes :meth:`close` raise :class:`PackagingError`."""
        self._add_pattern(include, exclude, _ModuleProviderAction.DENY, True)

    def _add_pattern(self, include, exclude, action: _ModuleProviderAction, allow_empty: bool):
        # Keyed by the (identity-hashed) group: an equal pattern added twice is two entries.
        group = GlobGroup(include, exclude=exclude)
        self.patterns[group] = _PatternInfo(action, allow_empty)
        if action == _ModuleProviderAction.DENY:
            self._policy.deny(group._group)
        else:
            getattr(self._policy, action.name.lower())(group._group, allow_empty)

    def _persistent_id(self, obj):
        torch = _torch_compat.loaded_torch()
        if torch is not None and (torch.is_storage(obj) or isinstance(obj, torch.storage.TypedStorage)):
            return self._persistent_storage_id(torch, obj)

        if hasattr(obj, "__reduce_package__"):
            if _torch_compat.gate_torchscript_serialization() and _torch_compat.is_script_module(obj):
                raise Exception(
                    "Serializing ScriptModules directly into a package is a beta feature. "
                    "To use, set global "
                    "`torch.package.package_exporter._gate_torchscript_serialization` to `False`."
                )
            if self.serialized_reduces.get(id(obj)) is None:
                self.serialized_reduces[id(obj)] = (
                    "reduce_package",
                    id(obj),
                    *obj.__reduce_package__(self),
                )
            return self.serialized_reduces[id(obj)]

        return None

    def _persistent_storage_id(self, torch, obj):
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
        """N of `.data/N.storage`, writing the storage the first time it is met
        (numbering shared with TorchScript modules once one is saved)."""
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
        self._claim(name)
        self._zip.add_record_from_memory(name, storage.data_ptr(), storage.nbytes())

    @property
    def script_module_serializer(self):
        """torch's ScriptModuleSerializer, for ScriptModule.__reduce_package__."""
        return self._torchscript().serializer

    @property
    def storage_context(self):
        """torch's SerializationStorageContext shared with TorchScript."""
        return self._torchscript().context

    def _torchscript(self):
        if self._ts is None:
            from ._torchscript import TorchScriptRecords

            self._ts = TorchScriptRecords([s for _, s in self._storages.values()])
        return self._ts

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        # On an exception, only leave the output a valid (unloadable) zip.
        if exc_type is not None:
            self._finalize_zip()
            return
        self.close()

    def _claim(self, filename: str):
        if filename in self._written_files:
            raise AssertionError(
                f"Tried to write file '{filename}', but it already exists in this archive. "
                "Please file a bug."
            )
        self._written_files.add(filename)

    def _write(self, filename, str_or_bytes):
        self._claim(filename)
        if is_mangled(filename):
            raise AssertionError(
                f"Tried to save a torch.package'd module as '{filename}'. "
                "Directly saving torch.package'd modules is not allowed."
            )
        if isinstance(str_or_bytes, str):
            str_or_bytes = str_or_bytes.encode("utf-8")
        self._zip.add_record(filename, str_or_bytes)

    def _validate_dependency_graph(self):
        # 1. Errors recorded during dependency analysis, 2. patterns with
        # allow_empty=False that never matched.
        try:
            self._policy.validate()
        except _core.PolicyError as e:
            if self._graph.has_errors():
                raise PackagingError(self.dependency_graph) from None
            raise EmptyMatchError(str(e)) from None

    def _write_mock_file(self):
        if "_mock.py" not in self._written_files:
            mock_file = str(Path(__file__).parent / "_mock.py")
            self._write_source_string("_mock", _read_file(mock_file), is_package=False)

    def _execute_dependency_graph(self):
        """Validates the graph, then writes every node in insertion order."""
        self._validate_dependency_graph()

        extern_modules = []
        for module_name, attrs in zip(self._graph.names(), self._graph.nodes()):
            action = attrs.action
            if action == _core.Action.EXTERN:
                self._run_hooks(self._extern_hooks, module_name)
                extern_modules.append(module_name)
            elif action == _core.Action.MOCK:
                self._run_hooks(self._mock_hooks, module_name)
                self._write_mock_file()
                is_package = hasattr(self._import_module(module_name), "__path__")
                self._write_source_string(module_name, _MOCK_IMPL, is_package)
            elif action == _core.Action.INTERN:
                self._run_hooks(self._intern_hooks, module_name)
                if not attrs.provided:
                    raise AssertionError(f"Module was marked `intern` but not provided: {module_name}")
                if attrs.is_pickle:
                    continue  # a save_pickle node: nothing to write
                self._write_source_string(module_name, attrs.source, attrs.is_package)
            elif action == _core.Action.REPACKAGED_MOCK_MODULE:
                self._write_mock_file()
            elif action == _core.Action.SKIP:
                continue
            else:
                raise AssertionError(f"Invalid action: {module_name}, {action}. Please report a bug to PyTorch.")

        self._write(".data/extern_modules", "\n".join(extern_modules) + "\n")

    def _run_hooks(self, hooks: OrderedDict, module_name: str):
        for hook in list(hooks.values()):
            hook(self, module_name)

    def _write_python_version(self):
        """`.data/python_version`: the exporting interpreter's version, no newline."""
        self._write(".data/python_version", platform.python_version())

    def close(self):
        """Write the package. Calls after :meth:`close` are invalid; prefer
        ``with PackageExporter("file.zip") as e: ...``."""
        try:
            self._execute_dependency_graph()
        except BaseException:
            # Like torch's writer when the exporter is dropped: a valid zip
            # holding what was written so far.
            self._finalize_zip()
            raise
        self._write_python_version()
        if self._ts is not None:
            self._ts.copy_into(self._zip, self._claim)
        self._finalize_zip()

    def _finalize_zip(self):
        """Leave the archive closed and valid: `.data/version` last, then the
        central directory."""
        if self._zip is None:
            return
        zip_file, self._zip = self._zip, None
        zip_file.add_record(".data/version", b"6\n")
        zip_file.finish()
        if self.buffer:
            self.buffer.flush()

    def __del__(self):
        # torch's writer finalizes when the exporter is dropped unclosed.
        if getattr(self, "_zip", None) is not None:
            try:
                self._finalize_zip()
            except Exception:
                pass

    def _filename(self, package, resource):
        package_path = package.replace(".", "/")
        resource = _normalize_path(resource)
        return f"{package_path}/{resource}"

    def _can_implicitly_extern(self, module_name: str):
        # torch.*, or the standard library except sys and io.
        return _core.can_implicitly_extern(module_name)

    def dependency_graph_string(self) -> str:
        """The dependency graph as DOT text."""
        return self._graph.to_dot()

    def _nodes_with_action_type(self, action: Optional[_ModuleProviderAction]) -> List[str]:
        return self._graph.names_with_action(_CORE_ACTIONS[action])

    def externed_modules(self) -> List[str]:
        """The modules that are externed (sorted)."""
        return self._nodes_with_action_type(_ModuleProviderAction.EXTERN)

    def interned_modules(self) -> List[str]:
        """The modules that are interned (sorted)."""
        return self._nodes_with_action_type(_ModuleProviderAction.INTERN)

    def mocked_modules(self) -> List[str]:
        """The modules that are mocked (sorted)."""
        return self._nodes_with_action_type(_ModuleProviderAction.MOCK)

    def denied_modules(self) -> List[str]:
        """The modules that are denied (sorted)."""
        return self._nodes_with_action_type(_ModuleProviderAction.DENY)

    def get_rdeps(self, module_name: str) -> List[str]:
        """The modules (and pickles) that depend on ``module_name``."""
        return self._graph.rdeps(module_name)

    def all_paths(self, src: str, dst: str) -> str:
        """DOT text of the subgraph holding every path from src to dst."""
        return self.dependency_graph.all_paths(src, dst)


class _PolicyEnvironment:
    """The exporter's importer as the policy's ModuleEnvironment. It holds the
    exporter weakly: the exporter owns the policy, which owns this."""

    def __init__(self, exporter: "PackageExporter"):
        self._exporter = weakref.ref(exporter)

    def find(self, module_name: str):
        return self._exporter()._find_module_source(module_name)

    def importable(self, module_name: str) -> bool:
        return self._exporter()._module_exists(module_name)


_CORE_ACTIONS = {a: getattr(_core.Action, a.name) for a in _ModuleProviderAction}
_CORE_ACTIONS[None] = None

# The stub written for every mocked module (torch's _MOCK_IMPL).
_MOCK_IMPL = _core.MOCK_STUB_SOURCE


def _cannot_be_submodule(module_name: str) -> bool:
    """True when importing `module_name` must fail at once: its parent is an
    imported module that is not a package (importlib then raises "'a.b' is
    not a package" without looking anywhere). The typical case is
    `from mod import function`, which torch first tries as a submodule."""
    parent, dot, _ = module_name.rpartition(".")
    if not dot:
        return False
    parent_module = sys.modules.get(parent)
    return parent_module is not None and not hasattr(parent_module, "__path__")


def _read_file(filename: str) -> str:
    with open(filename, "rb") as f:
        return f.read().decode("utf-8")
