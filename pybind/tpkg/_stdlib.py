"""Which modules belong to the standard library (implicitly externed)."""
import sys


def is_stdlib_module(module: str) -> bool:
    base_module = module.partition(".")[0]
    return base_module in _get_stdlib_modules()


def _get_stdlib_modules():
    # tpkg targets Python >= 3.10, where the interpreter knows its own stdlib.
    return sys.stdlib_module_names  # type: ignore[attr-defined]
