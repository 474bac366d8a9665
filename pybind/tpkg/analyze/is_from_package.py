from types import ModuleType
from typing import Any

from .._mangling import is_mangled


def is_from_package(obj: Any) -> bool:
    """Whether an object (or module) was loaded from a package. Objects of
    externed classes give False. Works for torch.package's importers too."""
    if type(obj) == ModuleType:
        return is_mangled(obj.__name__)
    return is_mangled(type(obj).__module__)
