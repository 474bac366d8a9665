"""The Python facts libtpkg is built with are the running interpreter's: the
committed stdlib table of its version (src/lib/package/python_tables/) and the
build's configured_python.inc (made from -Dpython at build time)."""
import _imp
import importlib.machinery
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import sysconfig

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
TABLES = REPO / "src" / "lib" / "package" / "python_tables"
BUILD = pathlib.Path(os.environ.get("TPKG_BUILD_DIR", REPO / "build"))


def array(text, identifier):
    """The string literals of `inline constexpr std::string_view <identifier>[] = {...};`."""
    body = re.search(re.escape(identifier) + r"\[\] = \{\n(.*?)\n\};", text, re.S).group(1)
    return re.findall(r'^    "((?:[^"\\]|\\.)*)",$', body, re.M)


def scalar(text, identifier):
    return re.search(re.escape(identifier) + r' = "((?:[^"\\]|\\.)*)";', text).group(1)


def test_committed_table_of_this_version_is_sys_stdlib_module_names():
    v = sys.version_info
    table = (TABLES / f"stdlib_{v.major}_{v.minor}.inc").read_text()
    assert array(table, f"kStdlib{v.major}_{v.minor}") == sorted(sys.stdlib_module_names)


def test_tables_exist_for_debian_12_and_13():
    assert {p.name for p in TABLES.glob("stdlib_*.inc")} >= {"stdlib_3_11.inc", "stdlib_3_13.inc"}


def test_generator_reports_no_stale_table():
    script = REPO / "scripts" / "gen_python_env_tables.py"
    subprocess.run([sys.executable, str(script), "--check"], check=True)


@pytest.fixture
def configured():
    path = BUILD / "src" / "lib" / "package" / "configured_python.inc"
    if not path.exists():
        pytest.skip(f"{path} is not built")
    text = path.read_text()
    if scalar(text, "kConfiguredExecutable") != sys.executable:
        pytest.skip(f"the build is configured for {scalar(text, 'kConfiguredExecutable')}")
    return text


def test_configured_facts_are_this_interpreters(configured):
    assert scalar(configured, "kConfiguredVersion") == platform.python_version()
    assert scalar(configured, "kConfiguredStdlibDir") == sysconfig.get_paths()["stdlib"]
    assert array(configured, "kConfiguredExtensionSuffixes") == \
        importlib.machinery.EXTENSION_SUFFIXES
    assert array(configured, "kConfiguredStdlib") == sorted(sys.stdlib_module_names)
    builtins = set(array(configured, "kConfiguredBuiltins"))
    assert builtins >= set(sys.builtin_module_names) | set(_imp._frozen_module_names())
    code = "import json, sys; print(json.dumps(sys.path))"
    plain = subprocess.run([sys.executable, "-E", "-s", "-c", code],
                           check=True, capture_output=True, text=True).stdout
    assert array(configured, "kConfiguredSearchPath") == \
        [p for p in json.loads(plain) if p and not p.endswith(".zip")]
