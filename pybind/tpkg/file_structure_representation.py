"""Directory: the tree PackageImporter.file_structure() returns and prints."""
from typing import Dict, List

from .glob_group import GlobGroup, GlobPattern

__all__ = ["Directory"]

_SPACE = "    "
_BRANCH = "│   "
_TEE = "├── "
_LAST = "└── "


class Directory:
    """A file structure representation. Organized as Directory nodes that have
    lists of their Directory children. Made by
    :meth:`PackageImporter.file_structure`."""

    def __init__(self, name: str, is_dir: bool):
        self.name = name
        self.is_dir = is_dir
        self.children: Dict[str, Directory] = {}

    def _get_dir(self, dirs: List[str]) -> "Directory":
        """The Directory at path `dirs` below this one, creating missing ones."""
        node = self
        for dir_name in dirs:
            if dir_name not in node.children:
                node.children[dir_name] = Directory(dir_name, True)
            node = node.children[dir_name]
        return node

    def _add_file(self, file_path: str):
        """Adds a file: the last path element is the file, the others directories."""
        *dirs, file = file_path.split("/")
        self._get_dir(dirs).children[file] = Directory(file, False)

    def has_file(self, filename: str) -> bool:
        """Whether the `/`-separated path `filename` is present (file or directory)."""
        child, _, grandchildren = filename.partition("/")
        if child not in self.children:
            return False
        if "/" not in filename:
            return True
        return self.children[child].has_file(grandchildren)

    def __str__(self):
        str_list: List[str] = []
        self._stringify_tree(str_list)
        return "".join(str_list)

    def _stringify_tree(self, str_list: List[str], preamble: str = "", dir_ptr: str = "─── "):
        """Directories first (sorted), then files (sorted); the last child gets └──."""
        str_list.append(f"{preamble}{dir_ptr}{self.name}\n")
        preamble = preamble + (_BRANCH if dir_ptr == _TEE else _SPACE)

        dir_keys = sorted(k for k, v in self.children.items() if v.is_dir)
        file_keys = sorted(k for k, v in self.children.items() if not v.is_dir)
        for index, key in enumerate(dir_keys):
            last = index == len(dir_keys) - 1 and not file_keys
            self.children[key]._stringify_tree(str_list, preamble, _LAST if last else _TEE)
        for index, file in enumerate(file_keys):
            pointer = _LAST if index == len(file_keys) - 1 else _TEE
            str_list.append(f"{preamble}{pointer}{file}\n")


def _create_directory_from_file_list(
    filename: str,
    file_list: List[str],
    include: "GlobPattern" = "**",
    exclude: "GlobPattern" = (),
) -> Directory:
    """A Directory named `filename` holding the files of `file_list` that the
    `/`-separated glob patterns select."""
    glob_pattern = GlobGroup(include, exclude=exclude, separator="/")
    top_dir = Directory(filename, True)
    for file in file_list:
        if glob_pattern.matches(file):
            top_dir._add_file(file)
    return top_dir
