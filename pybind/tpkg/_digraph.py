"""DiGraph: torch.package's dependency graph API over libtpkg's DepGraph
(tpkg/dep_graph.h), which keeps the insertion orders that drive record
order, ``extern_modules`` and ``dependency_graph_string()``.

Node attributes read like torch's ``dict``s: ``graph.nodes[name]`` holds only
the keys that were set (``action``, ``provided``, ``is_package``,
``is_pickle``, ``source``, ``error``, ``error_context``, plus anything else
passed to ``add_node``).
"""
from typing import Any, Dict, List, Set

from . import _core
from ._exporter_errors import _ModuleProviderAction, PackagingErrorReason

_CORE_ATTRS = ("action", "provided", "is_package", "is_pickle", "source", "error", "error_context")


def to_core(key: str, value):
    """A Python attribute value as the core graph stores it."""
    if key == "action":
        return getattr(_core.Action, value.name)
    if key == "error":
        return getattr(_core.Reason, value.name)
    return value


def from_core(key: str, value):
    """A core attribute value as torch's graph dict would hold it."""
    if key == "action":
        return getattr(_ModuleProviderAction, value.name)
    if key == "error":
        return getattr(PackagingErrorReason, value.name)
    return value


class DiGraph:
    """Really simple unweighted directed graph data structure to track dependencies
    (networkx-like API, as torch.package's)."""

    def __init__(self, graph: "_core.DepGraph" = None):
        # A fresh graph, or a view of one the exporter's policy builds.
        self._graph = graph if graph is not None else _core.DepGraph()
        self._extra: Dict[str, Dict[str, Any]] = {}

    def add_node(self, n, **kwargs):
        """Add a node (or update its attributes if it exists)."""
        attrs = self._graph.add_node(n)
        for key, value in kwargs.items():
            if key in _CORE_ATTRS:
                setattr(attrs, key, to_core(key, value))
            else:
                self._extra.setdefault(n, {})[key] = value

    def add_edge(self, u, v):
        """Add an edge u -> v, creating both nodes if needed."""
        self._graph.add_edge(u, v)

    def _require(self, n):
        if n not in self:
            raise ValueError(f"The node {n} is not in the digraph.")

    def successors(self, n):
        self._require(n)
        return iter(self._graph.successors(n))

    def predecessors(self, n):
        self._require(n)
        return iter(self._graph.predecessors(n))

    @property
    def edges(self):
        """Every edge (u, v): sources in node order, then edge order."""
        return iter(self._graph.edges())

    @property
    def nodes(self) -> Dict[str, Dict[str, Any]]:
        """Every node's attribute dict, in insertion order (a snapshot)."""
        return {name: self.node_attrs(name) for name in self._graph.names()}

    def node_attrs(self, n) -> Dict[str, Any]:
        attrs = self._graph.node(n)
        result = {}
        for key in _CORE_ATTRS:
            value = getattr(attrs, key)
            if value is None or (key in ("provided", "is_pickle") and value is False):
                continue
            result[key] = from_core(key, value)
        result.update(self._extra.get(n, {}))
        return result

    @property
    def _pred(self) -> Dict[str, Dict[str, bool]]:
        return {n: dict.fromkeys(self._graph.predecessors(n), True) for n in self._graph.names()}

    @property
    def _succ(self) -> Dict[str, Dict[str, bool]]:
        return {n: dict.fromkeys(self._graph.successors(n), True) for n in self._graph.names()}

    def __iter__(self):
        return iter(self._graph.names())

    def __contains__(self, n):
        return isinstance(n, str) and self._graph.contains(n)

    def __len__(self):
        return len(self._graph)

    def forward_transitive_closure(self, src: str) -> Set[str]:
        """Nodes reachable from src (src included)."""
        self._require(src)
        return set(self._graph.forward_closure(src))

    def backward_transitive_closure(self, src: str) -> Set[str]:
        """Nodes from which src is reachable (src included)."""
        self._require(src)
        return set(self._graph.backward_closure(src))

    def all_paths(self, src: str, dst: str) -> str:
        """DOT text of the subgraph of every path src -> ... -> dst (works on
        ordinary names, unlike torch 1.13's, which raises)."""
        self._require(src)
        return self._graph.all_paths_dot(src, dst)

    def first_path(self, dst: str) -> List[str]:
        """The first path that added dst to the graph, root first."""
        return self._graph.first_path(dst)

    def to_dot(self) -> str:
        """The DOT text of the graph (torch's exact format)."""
        return self._graph.to_dot()
