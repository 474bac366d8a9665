"""Import mangling: every PackageImporter prefixes its module names with
``<torch_package_N>`` so that packaged code never collides with
``sys.modules`` or with another importer (torch.package's mangling.md).

The counter N is process-wide, and it is *shared with torch.package* when
torch.package is loaded: objects from a tpkg importer and from a
torch.package importer can then live in one process (and be re-exported
through one ``OrderedImporter``) without two importers claiming the same
``<torch_package_N>`` prefix.
"""
import re
import sys

_mangle_index = 0

_MANGLED = re.compile(r"<torch_package_\d+>")


def keep_torch_counter_in_step():
    """Moves torch.package's counter past every N tpkg handed out (torch may
    have been imported after them), when torch.package is loaded."""
    torch_mangling = sys.modules.get("torch.package._mangling")
    if torch_mangling is not None and torch_mangling._mangle_index < _mangle_index:
        torch_mangling._mangle_index = _mangle_index


def _next_index() -> int:
    """Hands out the next N, keeping torch.package's counter in step."""
    global _mangle_index
    torch_mangling = sys.modules.get("torch.package._mangling")
    index = _mangle_index
    if torch_mangling is not None:
        index = max(index, torch_mangling._mangle_index)
        torch_mangling._mangle_index = index + 1
    _mangle_index = index + 1
    return index


class PackageMangler:
    """Used on import, to ensure that all modules imported have a shared mangle parent."""

    def __init__(self):
        self._mangle_index = _next_index()
        # Angle brackets: no real module can be named like this.
        self._mangle_parent = f"<torch_package_{self._mangle_index}>"

    def mangle(self, name) -> str:
        assert len(name) != 0
        return self._mangle_parent + "." + name

    def demangle(self, mangled: str) -> str:
        """Strips only this mangler's own prefix; other names pass through."""
        if mangled.startswith(self._mangle_parent + "."):
            return mangled.partition(".")[2]
        return mangled

    def parent_name(self):
        return self._mangle_parent


def is_mangled(name: str) -> bool:
    return bool(_MANGLED.match(name))


def demangle(name: str) -> str:
    """Strips any importer's prefix (``<torch_package_3>.a.b`` -> ``a.b``;
    a bare ``<torch_package_3>`` -> ``""``)."""
    if is_mangled(name):
        _, sep, last = name.partition(".")
        return last if sep else ""
    return name


def get_mangle_prefix(name: str) -> str:
    return name.partition(".")[0] if is_mangled(name) else name
