import sys
from typing import Any, Callable, Iterable, List, Tuple

__all__ = ["trace_dependencies"]


def trace_dependencies(callable: Callable[[Any], Any], inputs: Iterable[Tuple[Any, ...]]) -> List[str]:
    """The names of the modules whose functions `callable` calls, for every
    tuple of arguments in `inputs` (a profiler hook records them)."""
    modules_used = set()

    def record_used_modules(frame, event, arg):
        if event != "call":
            return
        name = frame.f_code.co_name
        module = None
        # The function's module: from the frame's globals, its locals, or
        # the method of the same name on `self`.
        if name in frame.f_globals:
            module = frame.f_globals[name].__module__
        elif name in frame.f_locals:
            module = frame.f_locals[name].__module__
        elif "self" in frame.f_locals:
            method = getattr(frame.f_locals["self"], name, None)
            module = method.__module__ if method else None
        if module:
            modules_used.add(module)

    try:
        sys.setprofile(record_used_modules)
        for inp in inputs:
            callable(*inp)
    finally:
        sys.setprofile(None)
    return list(modules_used)
