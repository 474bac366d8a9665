"""PackageExporter: write code, pickled objects and resources into a package.

The Python side does what needs the interpreter: importing modules to find
their source (_exporter_modules), pickling objects and their persistent ids
(_exporter_pickles), calling user hooks, and handing bytes to the archive
writer. libtpkg does the rest: which module gets which action and why, the
pickle's dependencies, and close(): validation, hooks and the records to
write, in order (tpkg/policy.h); the archive writer (zip_writer.h), the
import and pickle scanners (import_scan.h, pickle_scan.h), patterns
(glob.h) and the graph (dep_graph.h). The records, their order, the graph
and every error match the torch.package of the torch installed beside tpkg,
1.13 or 2.x (_torch_compat.torch_release(); doc/format.md §5-§7, §12;
doc/python_module.md).
"""
import collections.abc
import io
import platform
import weakref
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Sequence, Set, Union

from . import _core, _torch_compat
from ._digraph import DiGraph
from ._exporter_errors import (
    _ModuleProviderAction,
    _PatternInfo,
    EmptyMatchError,
    PackagingError,
    PackagingErrorReason,
)
from ._exporter_modules import ExporterModules
from ._exporter_pickles import PersistentIds
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

# torch's RemovableHandle API (remove(), id, a context manager) on libtpkg's hook handle.
RemovableHandle = _core.HookHandle

# The stub written for every mocked module (torch's _MOCK_IMPL).
_MOCK_IMPL = _core.MOCK_STUB_SOURCE


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

    if _torch_compat.is_torch2():

        def __init__(
            self,
            f: Union[str, Path, BinaryIO],
            importer: Union[Importer, Sequence[Importer]] = sys_importer,
            debug: bool = False,
        ):
            """Create an exporter.

            Args:
                f: where to write: a ``str``/``Path`` file name or a binary I/O object.
                importer: an Importer to find modules with, or a sequence of them
                    (an ``OrderedImporter`` is built from it).
                debug: add the path to each broken module to PackagingErrors.
            """
            self._init(f, importer, debug)

    else:

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
            self._init(f, importer, False)

    def _init(self, f, importer, debug: bool):
        # The torch whose exporter this one reproduces (tpkg/torch_release.h).
        self._release = _torch_compat.torch_release()
        self.debug = debug
        _torch_compat.register_importers_with_torch()
        if isinstance(f, (Path, str)):
            f = str(f)
            self.buffer: Optional[BinaryIO] = None
            try:
                self._zip = _core.ZipWriter.create(f, _core.prefix_for_path(f), overwrite=True)
            except OSError as e:  # torch raises RuntimeError for a file it cannot create
                raise _torch_compat.torch_file_error(e) from None
            except ValueError as e:  # a name with no file name in it: torch's writer's RuntimeError
                raise RuntimeError(str(e)) from None
        else:
            self.buffer = f
            self._zip = _core.ZipWriter.to_file(f, "archive")
        self._written_files: Set[str] = set()

        self.serialized_reduces: Dict[int, Any] = {}

        # The decisions, and the graph they build: modules and pickles (named
        # '<package.resource>') with "u needs v" edges; nodes carry how to
        # write them (see _digraph). The policy also holds the rules and hooks.
        self._modules = ExporterModules(self)
        self._policy = _core.ExportPolicy(self._modules, self._release, debug)
        self._graph = self._policy.graph
        self.dependency_graph = DiGraph(self._graph)
        # The GlobGroup of each rule, in the policy's order (for `patterns`).
        self._pattern_groups: List[GlobGroup] = []

        self._persistent_ids = PersistentIds(self)

        if is_importer(importer):
            self.importer = importer  # type: ignore[assignment]
        else:
            if not isinstance(importer, collections.abc.Sequence):
                raise TypeError(
                    "importer arg should be an Importer or a sequence of Importers, "
                    f"got {type(importer)} instead."
                )
            self.importer = OrderedImporter(*importer)

        self._unique_id = 0

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

    @property
    def patterns(self) -> Dict[GlobGroup, _PatternInfo]:
        """Every rule (intern/extern/mock/deny) in registration order, and
        whether it matched a module so far (torch's attribute, read-only)."""
        patterns = {}
        for group, rule in zip(self._pattern_groups, self._policy.rules()):
            info = _PatternInfo(getattr(_ModuleProviderAction, rule.action.name), rule.allow_empty)
            info.was_matched = rule.was_matched
            patterns[group] = info
        return patterns

    def _import_module(self, module_name: str):
        return self._modules.import_module(module_name)

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
        pickler = create_pickler(data_buf, self.importer, pickle_protocol, self._release)
        pickler.persistent_id = self._persistent_ids
        pickler.dump(obj)
        data_value = data_buf.getvalue()

        # The policy scans the bytes for the modules they name (and objects of
        # mocked modules), as torch's opcode loop does.
        self._policy.save_pickle(package, resource, data_value, dependencies)
        self._write(filename, data_value)

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
        return self._policy.register_extern_hook(_policy_hook(self, hook))

    def register_mock_hook(self, hook: ActionHook) -> RemovableHandle:
        """Registers ``hook(exporter, module_name)``, called in :meth:`close` for
        every mocked module, in registration order. Returns a removable handle."""
        return self._policy.register_mock_hook(_policy_hook(self, hook))

    def register_intern_hook(self, hook: ActionHook) -> RemovableHandle:
        """Registers ``hook(exporter, module_name)``, called in :meth:`close` for
        every interned module, in registration order. Returns a removable handle."""
        return self._policy.register_intern_hook(_policy_hook(self, hook))

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
        # An equal pattern added twice is two rules (torch keys them by identity).
        group = GlobGroup(include, exclude=exclude)
        self._pattern_groups.append(group)
        if action == _ModuleProviderAction.DENY:
            self._policy.deny(group._group)
        else:
            getattr(self._policy, action.name.lower())(group._group, allow_empty)

    @property
    def script_module_serializer(self):
        """torch's ScriptModuleSerializer, for ScriptModule.__reduce_package__."""
        return self._persistent_ids.torchscript().serializer

    @property
    def storage_context(self):
        """torch's SerializationStorageContext shared with TorchScript."""
        return self._persistent_ids.torchscript().context

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
        if self._zip is None:  # after close(), which drops torch's writer attribute
            raise AttributeError("'PackageExporter' object has no attribute 'zip_file'")
        try:
            self._zip.add_record(filename, str_or_bytes)
        except ValueError as e:  # a name no archive may hold: torch's writer's RuntimeError
            raise RuntimeError(str(e)) from None

    def _validate_dependency_graph(self):
        """The policy's checks (errors found during analysis, then rules with
        allow_empty=False that matched nothing) as torch's exceptions."""
        try:
            self._policy.validate()
        except _core.PolicyError as e:
            if self._graph.has_errors():
                if self._release == _core.TorchRelease.TORCH_2:
                    raise PackagingError(self.dependency_graph, debug=self.debug) from None
                raise PackagingError(self.dependency_graph) from None
            raise EmptyMatchError(str(e)) from None

    def _write_close_record(self, record: str, data: Optional[bytes], mock_header: bytes = b""):
        """One record of the policy's close(); None is torch's _mock.py: the
        header the policy gives for this torch, then the file tpkg ships."""
        if data is None:
            data = mock_header + (Path(__file__).parent / "_mock.py").read_bytes()
        self._write(record, data)

    def _write_python_version(self):
        """`.data/python_version`: the exporting interpreter's version, no newline."""
        self._write(".data/python_version", platform.python_version())

    def close(self):
        """Write the package. Calls after :meth:`close` are invalid; prefer
        ``with PackageExporter("file.zip") as e: ...``."""
        try:
            self._validate_dependency_graph()
            # Per node: its hooks, then its records (tpkg/policy.h).
            extern_modules = self._policy.close(self._write_close_record)
            self._write(".data/extern_modules", extern_modules)
        except BaseException:
            # Like torch's writer when the exporter is dropped: a valid zip
            # holding what was written so far.
            self._finalize_zip()
            raise
        self._write_python_version()
        self._persistent_ids.copy_torchscript_into(self._zip, self._claim)
        self._finalize_zip()

    def _finalize_zip(self):
        """Leave the archive closed and valid: what torch's writer adds last
        (`.data/version`; torch 2.x: then `byteorder` and
        `.data/serialization_id`), then the central directory."""
        if self._zip is None:
            return
        self._persistent_ids.discard_torchscript()
        zip_file, self._zip = self._zip, None
        zip_file.add_torch_package_trailer(self._release)
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
        core_action = None if action is None else getattr(_core.Action, action.name)
        return self._graph.names_with_action(core_action)

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


def _policy_hook(exporter: PackageExporter, hook: ActionHook) -> Callable[[str], None]:
    """hook(exporter, module_name) as the policy calls it, hook(module_name);
    the exporter is held weakly (it owns the policy, which holds the hook)."""
    exporter_ref = weakref.ref(exporter)
    return lambda module_name: hook(exporter_ref(), module_name)


def _read_file(filename: str) -> str:
    with open(filename, "rb") as f:
        return f.read().decode("utf-8")
