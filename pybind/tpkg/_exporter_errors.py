"""The exporter's vocabulary: module actions, failure reasons and errors
(torch.package.package_exporter's names; tpkg.package_exporter re-exports
them). The values mirror libtpkg's Action and Reason (tpkg/dep_graph.h).
"""
from dataclasses import dataclass
from enum import Enum

from . import _core, _torch_compat


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
    """Every problem found while exporting, grouped by reason (torch 2.x:
    with ``debug``, the path that brought in each broken module)."""

    if _torch_compat.is_torch2():

        def __init__(self, dependency_graph, debug=False):
            self._init(dependency_graph, debug)

    else:

        def __init__(self, dependency_graph):
            self._init(dependency_graph, False)

    def _init(self, dependency_graph, debug):
        core = dependency_graph._graph
        for attrs in core.nodes():
            # torch asserts this while grouping; a module given an action after
            # it failed to match (save_source_file's quirk) trips it.
            if attrs.error == _core.Reason.NO_ACTION:
                assert attrs.action is None

        # Tooling (analyze.find_first_use_of_broken_modules) reads the graph.
        self.dependency_graph = dependency_graph
        text = _core.format_packaging_error(core, _torch_compat.torch_release(), debug)
        super().__init__("\n" + text.lstrip("\n"))
