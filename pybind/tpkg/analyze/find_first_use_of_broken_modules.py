from typing import Dict, List

from ..package_exporter import PackagingError

__all__ = ["find_first_use_of_broken_modules"]


def find_first_use_of_broken_modules(exc: PackagingError) -> Dict[str, List[str]]:
    """For every broken module of a PackagingError, the dependency path on
    which it was first met, e.g. {'m.n.o': ['a', 'b', 'c']}."""
    assert isinstance(exc, PackagingError), "exception must be a PackagingError"
    graph = exc.dependency_graph
    broken = [m for m, attr in graph.nodes.items() if attr.get("error", False)]
    return {module_name: graph.first_path(module_name) for module_name in broken}
