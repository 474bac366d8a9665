"""The Python sources the import-scan differential tests read: the library of the
interpreter running them (its standard library, and the site-packages under its
own prefix: /usr/lib/python3.X and /usr/lib/python3/dist-packages on Debian),
never /usr/local nor anything else outside the repository. On Debian 12 that is
Python 3.11's tree and torch 1.13; on Debian 13 (scripts/debian13.sh), Python
3.13's and torch 2.6.
"""
import pathlib
import site
import sys
import sysconfig


def library_roots():
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"]).resolve()
    own_lib = pathlib.Path(sys.base_prefix).resolve() / "lib"
    roots = [stdlib]
    for entry in site.getsitepackages():
        path = pathlib.Path(entry).resolve()
        inside_a_root = any(path.is_relative_to(root) for root in roots)
        if path.is_dir() and path.is_relative_to(own_lib) and not inside_a_root:
            roots.append(path)
    return roots


def python_files(root):
    """Every .py below root, sorted."""
    return sorted(p for p in root.rglob("*.py") if p.is_file())
