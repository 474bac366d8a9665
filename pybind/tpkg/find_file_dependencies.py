"""Which modules a source file imports: libtpkg's import scanner
(tpkg/import_scan.h), equal to torch.package's ast-based visitor."""
import ast
from typing import List, Optional, Tuple

from . import _core

_RELATIVE_BEYOND_TOP = "attempted relative import beyond top-level package"


def find_files_source_depends_on(src: str, package: str) -> List[Tuple[str, Optional[str]]]:
    """(module, attribute-or-None) candidates of every import in `src`, in
    torch's order; `package` is the package relative imports start from.

    Raises what torch raises: the SyntaxError of ``ast.parse`` for invalid
    source, ValueError for a relative import beyond the top-level package.
    """
    try:
        return _core.scan_imports(src, package)
    except ValueError:
        # The scanner refused the source: reproduce Python's own exception
        # (its text is what PackagingError reports as context).
        ast.parse(src)
        raise ValueError(_RELATIVE_BEYOND_TOP) from None
