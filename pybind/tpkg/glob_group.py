"""GlobGroup: the include/exclude name patterns of intern()/extern()/mock()/
deny() and file_structure(); matching is done by libtpkg (tpkg/glob.h)."""
from typing import Iterable, List, Union

from . import _core

GlobPattern = Union[str, Iterable[str]]


def _as_list(elems: GlobPattern) -> List[str]:
    patterns = [elems] if isinstance(elems, str) else list(elems)
    for pattern in patterns:
        if not isinstance(pattern, str):
            # What torch raises, splitting the pattern into segments (b"json" gives ints).
            raise AttributeError(f"'{type(pattern).__name__}' object has no attribute 'split'")
    return patterns


class GlobGroup:
    """A set of patterns that candidate strings will be matched against.

    A candidate is composed of a list of segments separated by ``separator``, e.g. "foo.bar.baz".

    A pattern contains one or more segments. Segments can be:
        - A literal string (e.g. "foo"), which matches exactly.
        - A string containing a wildcard (e.g. "torch*", or "foo*baz*"). The wildcard matches
          any string, including the empty string.
        - A double wildcard ("**"). This matches against zero or more complete segments.

    Examples:
        ``torch.**``: matches ``torch`` and all its submodules, e.g. ``torch.nn`` and ``torch.nn.functional``.
        ``torch.*``: matches ``torch.nn`` or ``torch.functional``, but not ``torch.nn.functional``.
        ``torch*.**``: matches ``torch``, ``torchvision``, and all their submodules.

    A candidate matches the ``GlobGroup`` if it matches any of the ``include``
    patterns and none of the ``exclude`` patterns.

    Raises:
        ValueError: ``**`` mixed with other text in one segment.
    """

    def __init__(self, include: GlobPattern, *, exclude: GlobPattern = (), separator: str = "."):
        # str() of the arguments exactly as given: the text of error messages.
        include_repr, exclude_repr = f"{include}", f"{exclude}"
        self._dbg = f"GlobGroup(include={include_repr}, exclude={exclude_repr})"
        self._group = _core.GlobGroup(
            _as_list(include), include_repr, _as_list(exclude), exclude_repr, separator
        )
        self.separator = separator

    def __str__(self):
        return self._dbg

    def __repr__(self):
        return self._dbg

    def matches(self, candidate: str) -> bool:
        if not isinstance(candidate, str):  # torch adds the separator to it first
            raise TypeError(f'can only concatenate str (not "{type(candidate).__name__}") to str')
        return self._group.matches(candidate)
