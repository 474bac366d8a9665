"""The module tree of a package: which names are packages, modules (and
their records) or externs, built from the record names and
``.data/extern_modules`` (doc/format.md §8.1)."""
from typing import Dict, List, Optional, Union


class PathNode:
    pass


class PackageNode(PathNode):
    def __init__(self, source_file: Optional[str]):
        self.source_file = source_file
        self.children: Dict[str, PathNode] = {}


class ModuleNode(PathNode):
    __slots__ = ["source_file"]

    def __init__(self, source_file: str):
        self.source_file = source_file


class ExternNode(PathNode):
    pass


def get_or_create_package(root: PackageNode, atoms: List[str]) -> Union[PackageNode, ExternNode]:
    """The package node at `atoms`, made as needed; an extern on the way
    covers everything below it."""
    cur = root
    for i, atom in enumerate(atoms):
        node = cur.children.get(atom, None)
        if node is None:
            node = cur.children[atom] = PackageNode(None)
        if isinstance(node, ExternNode):
            return node
        if isinstance(node, ModuleNode):
            name = ".".join(atoms[:i])
            raise ImportError(
                f"inconsistent module structure. module {name} is not a package, but has submodules"
            )
        assert isinstance(node, PackageNode)
        cur = node
    return cur


def add_file(root: PackageNode, filename: str):
    """Adds a record to the module tree (records under .data/ are ignored)."""
    *prefix, last = filename.split("/")
    if len(prefix) > 1 and prefix[0] == ".data":
        return
    package = get_or_create_package(root, prefix)
    if isinstance(package, ExternNode):
        raise ImportError(
            f"inconsistent module structure. package contains a module file {filename}"
            f" that is a subpackage of a module marked external."
        )
    if last == "__init__.py":
        package.source_file = filename
    elif last.endswith(".py"):
        package_name = last[: -len(".py")]
        package.children[package_name] = ModuleNode(filename)


def add_extern(root: PackageNode, extern_name: str):
    """Marks `extern_name` as a module of the loading environment."""
    *prefix, last = extern_name.split(".")
    package = get_or_create_package(root, prefix)
    if isinstance(package, ExternNode):
        return  # the shorter extern covers this one
    package.children[last] = ExternNode()
