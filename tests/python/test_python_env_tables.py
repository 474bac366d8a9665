"""The generated module-name tables match the running /usr/bin/python3."""
import _imp
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent.parent


def literals(path):
    return set(re.findall(r'^"([^"]*)",$', path.read_text(), re.M))


def test_stdlib_table_is_sys_stdlib_module_names():
    assert literals(REPO / "src" / "lib" / "package" / "stdlib_modules.inc") == set(sys.stdlib_module_names)


def test_builtin_table_is_builtin_and_frozen_modules():
    expected = set(sys.builtin_module_names) | set(_imp._frozen_module_names())
    assert literals(REPO / "src" / "lib" / "package" / "builtin_modules.inc") == expected


def test_generator_reports_no_stale_table():
    script = REPO / "scripts" / "gen_python_env_tables.py"
    subprocess.run([sys.executable, str(script), "--check"], check=True)
