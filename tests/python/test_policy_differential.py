"""Exporter policy differential: tpkg::ExportPolicy against real torch.

Each scenario is a tiny module tree written to a temporary directory plus a
list of exporter calls. For save_pickle, torch pickles a real object and our
side scans the bytes torch wrote (pickle_scan.h), so pickle dependencies are
compared too, torch 1.13's mocked-object quirk included (policy.h). Real
torch.package.PackageExporter runs them
(policy_torch_runner.py, one process for all scenarios) and so does our
policy (tests/tools/policy_run, one process per scenario); the node actions
and attributes, dependency_graph_string(), the *_modules() lists, the
records close() writes, .data/extern_modules, the hook calls and the error
type and text must all be identical.
"""
import importlib.metadata
import json
import pathlib
import py_compile
import subprocess
import sys

import pytest

pytest.importorskip("torch.package")
TORCH_VERSION = importlib.metadata.version("torch")

HERE = pathlib.Path(__file__).resolve().parent
TUPLE = {"tuple": []}


def rule(kind, include, exclude=TUPLE, allow_empty=True):
    return [kind, include, exclude] + ([] if kind == "deny" else [allow_empty])


APP = {
    "app/__init__.py": "CONST = 1\n",
    "app/main.py": (
        "import json\nimport numpy as np\nimport torch.nn\nfrom . import util\n"
        "from app import CONST\nfrom app.helpers import helper\nimport app.heavy\n"
        "from app import secret\n"
        "try:\n    import app.optional_missing\nexcept ImportError:\n    pass\n"
        "def f():\n    import os.path\n    from json import decoder\n"
    ),
    "app/util.py": (
        "import math\nfrom .helpers import helper\n"
        "class Thing:\n    def __init__(self):\n        import numpy, torch, collections\n"
        "        self.a = numpy.arange(3)\n        self.t = torch.ones(2)\n"
        "        self.d = collections.OrderedDict(x=1)\n"
    ),
    "app/helpers.py": "import collections\nimport app.util\ndef helper():\n    pass\n",
    "app/heavy/__init__.py": "import app.heavy.part\ndef f():\n    import scipy_not_installed_anywhere\n",
    "app/heavy/part.py": "X = 1\n",
    "app/secret.py": "import sys\n",
}

THING = "__import__('app.util', fromlist=['Thing']).Thing()"
HEAVY_F = "__import__('app.heavy', fromlist=['f']).f"
THING_CLASS = "__import__('app.util', fromlist=['Thing']).Thing"
# torch 1.13's check for objects of mocked modules looks only at the module
# its opcode loop saw last, and then flags every module of the pickle.
MOCKED_OBJECT_RULES = [
    rule("extern", "numpy.**"), rule("mock", "app.heavy"), rule("intern", "app.**")]

SCENARIOS = {
    "intern_and_extern": (APP, [
        rule("extern", "numpy.**"), rule("mock", "app.heavy.**"), rule("extern", "app.secret"),
        rule("intern", "app.**"), ["save_module", "app.main", True], ["close"]]),
    "mocked_package_writes_init_stub_and_mock_file_once": (APP, [
        rule("extern", "numpy.**"), rule("mock", ["app.heavy", "app.secret"]),
        rule("intern", "app.**"), ["save_module", "app.main", True],
        ["add_dependency", "_mock"], ["close"]]),
    "deny_reports_the_module": (APP, [
        rule("extern", "numpy.**"), rule("deny", "app.secret"), rule("mock", "app.heavy"),
        rule("intern", "app.**"), ["save_module", "app.main", True], ["close"]]),
    "exclude_removes_from_a_rule": (APP, [
        rule("extern", "numpy.**"), rule("intern", "app.**", ["app.heavy", "app.secret"]),
        rule("mock", "app.**"), ["save_module", "app.main", True], ["close"]]),
    "first_match_wins_extern_before_intern": (APP, [
        rule("extern", ["app.util", "numpy.**"]), rule("intern", "app.**"),
        rule("mock", "app.**"), ["save_module", "app.main", True], ["close"]]),
    "first_match_wins_intern_before_extern": (APP, [
        rule("intern", "app.**", ["app.heavy", "app.secret"]), rule("extern", "**"),
        ["save_module", "app.main", True], ["close"]]),
    "allow_empty_false_unmatched_is_empty_match_error": (APP, [
        rule("extern", "numpy.**"), rule("mock", ["app.heavy", "app.secret"]),
        rule("intern", "app.**"), rule("extern", "nothing.**", allow_empty=False),
        ["save_module", "app.main", True], ["close"]]),
    "allow_empty_false_list_and_tuple_reprs": (APP, [
        rule("extern", ["numpy.**", "nope"], {"tuple": ["x", "y"]}, allow_empty=False),
        rule("mock", {"tuple": ["zzz"]}, [], allow_empty=False), rule("intern", "app.**"),
        rule("mock", "**"), ["save_module", "app.util", True], ["close"]]),
    "allow_empty_false_matched_is_fine": (APP, [
        rule("extern", "numpy.**", allow_empty=False), rule("mock", "app.heavy", allow_empty=False),
        rule("mock", "app.secret"), rule("intern", "app.**", allow_empty=False),
        ["save_module", "app.main", True], ["close"]]),
    "unmatched_modules_grouped_by_reason": (APP, [
        rule("deny", "app.heavy"), rule("intern", ["app.main", "app.util", "app.secret"]),
        ["save_module", "app.main", True], ["close"]]),
    "implicit_extern_beats_user_patterns_but_not_sys": (APP, [
        rule("mock", "json.**"), rule("deny", ["os.**", "math"]), rule("intern", "torch.**"),
        rule("intern", "app.**"), rule("mock", "**"), ["save_module", "app.main", True], ["close"]]),
    "interning_a_builtin_has_no_dunder_file": (APP, [
        rule("extern", "numpy.**"), rule("mock", "app.heavy.**"), rule("intern", "**"),
        ["save_module", "app.main", True], ["close"]]),
    "dependencies_false_follows_nothing": (APP, [
        ["save_module", "app.main", False], ["close"]]),
    "save_source_string_relative_and_errors": ({}, [
        rule("extern", "**"),
        ["save_source_string", "pkg", "from . import sub\nfrom .sub import thing\n", True, True],
        ["save_source_string", "pkg.sub", "from .. import pkg\nfrom ... import x\n", False, True],
        ["save_source_string", "top", "from . import sibling\nimport json\n", False, True],
        ["close"]]),
    "syntax_error_is_dependency_resolution_failed": ({}, [
        ["save_source_string", "broken", "import json\nx = = 1  # !!syntax error!!\n", False, True],
        ["close"]]),
    "hooks_run_in_registration_order_and_can_be_removed": (APP, [
        rule("extern", "numpy.**"), rule("mock", "app.heavy"), rule("mock", "app.secret"),
        rule("intern", "app.**"),
        ["hook", "intern", "i1"], ["hook", "extern", "e1"], ["hook", "intern", "i2"],
        ["hook", "mock", "m1"], ["hook", "extern", "e2"], ["remove_hook", "e1"],
        ["save_module", "app.main", True], ["close"]]),
    "skip_and_repackaged_mock": ({}, [
        ["add_dependency", "torch_package_importer"], ["add_dependency", "_mock"],
        ["add_dependency", "torch_package_importer"], ["close"]]),
    "cycles_terminate_in_torch_order": ({
        "cyc/__init__.py": "from cyc import a\n",
        "cyc/a.py": "import cyc.b\nimport cyc\n",
        "cyc/b.py": "from cyc import a, c\n",
        "cyc/c.py": "import cyc.a\nimport cyc.b\n",
    }, [rule("intern", "cyc.**"), ["save_module", "cyc", True], ["close"]]),
    "namespace_packages_and_missing_parents": ({
        "nsp/mod.py": "import nsp\nimport nsp.other\nfrom nsp import other as o2\n",
        "nsp/other.py": "",
    }, [rule("intern", "nsp.**"), ["save_module", "nsp.mod", True], ["close"]]),
    "c_extension_module_cannot_be_interned": ({
        "ext_user.py": "from numpy.core import _multiarray_umath\nimport numpy\n",
    }, [rule("intern", ["ext_user", "numpy.core._multiarray_umath"]), rule("extern", "numpy.**"),
        ["save_module", "ext_user", True], ["close"]]),
    "sourceless_module_has_no_source_file": ({
        "pyc_user.py": "import compiled_only\n",
        "compiled_only.pyc": None,
    }, [rule("intern", "**"), ["save_module", "pyc_user", True], ["close"]]),
    "unknown_module_is_module_not_found": ({}, [
        rule("intern", "**"), ["add_dependency", "definitely_not_a_module"], ["close"]]),
    "pickles_protocol_3_and_4_follow_their_modules": (APP, [
        rule("extern", "numpy.**"), rule("mock", "app.heavy"), rule("intern", "app.**"),
        ["save_pickle", "data", "thing.pkl", THING, 3, True],
        ["save_pickle", "data.sub", "things.pkl", "[" + THING + ", 3]", 4, True],
        ["save_pickle", "data", "plain.pkl", "{'a': 1}", 3, True], ["close"]]),
    "pickle_without_dependencies_is_only_a_node": (APP, [
        ["save_pickle", "data", "thing.pkl", THING, 3, False], ["close"]]),
    "pickle_modules_need_patterns_too": (APP, [
        rule("extern", "numpy.**"), ["save_pickle", "data", "thing.pkl", THING, 4, True], ["close"]]),
    "mocked_object_in_pickle_is_reported": (APP, MOCKED_OBJECT_RULES + [
        ["save_pickle", "data", "f.pkl", HEAVY_F, 3, True], ["close"]]),
    "mocked_object_last_flags_every_module_protocol_4": (APP, MOCKED_OBJECT_RULES + [
        ["save_pickle", "data", "f.pkl", f"[{THING_CLASS}, {HEAVY_F}]", 4, True], ["close"]]),
    "mocked_object_not_last_is_missed_protocol_3": (APP, MOCKED_OBJECT_RULES + [
        ["save_pickle", "data", "f.pkl", f"[{HEAVY_F}, {THING_CLASS}]", 3, True], ["close"]]),
    "mocked_object_not_last_is_missed_protocol_4": (APP, MOCKED_OBJECT_RULES + [
        ["save_pickle", "data", "f.pkl", f"[{HEAVY_F}, {THING_CLASS}, 'trailing']", 4, True], ["close"]]),
    "same_pattern_twice_is_two_rules": (APP, [
        rule("extern", "numpy.**"), rule("mock", "app.heavy.**"), rule("mock", "app.secret"),
        rule("intern", "app.**"), rule("intern", "app.**", allow_empty=False),
        ["save_module", "app.util", True], ["close"]]),
}


def write_tree(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".pyc"):  # compiled from a throwaway source, kept without it
            src = root / "_tmp_src.py"
            src.write_text("VALUE = 1\n")
            py_compile.compile(str(src), cfile=str(path), doraise=True)
            src.unlink()
        else:
            path.write_text(text)


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    out = {}
    for name, (files, steps) in SCENARIOS.items():
        root = tmp_path_factory.mktemp(name)
        write_tree(root, files)
        # policy_run reproduces the exporter of the torch this stack runs.
        out[name] = {"roots": [str(root)], "steps": steps, "torch": TORCH_VERSION}
    return out


@pytest.fixture(scope="module")
def torch_results(specs, tmp_path_factory):
    names = list(specs)
    archives = tmp_path_factory.mktemp("archives")
    proc = subprocess.run([sys.executable, str(HERE / "policy_torch_runner.py"), str(archives)],
                          input=json.dumps([specs[n] for n in names]),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return dict(zip(names, json.loads(proc.stdout)))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_policy_matches_torch_exporter(name, specs, torch_results, build_dir):
    theirs = dict(torch_results[name])
    theirs.pop("archive")
    pickles = iter(theirs.pop("pickles"))
    # Our side gets the bytes torch pickled, in place of the Python expression.
    steps = [s[:3] + [next(pickles), s[5]] if s[0] == "save_pickle" else s
             for s in specs[name]["steps"]]
    exe = build_dir / "tests" / "tools" / "policy_run"
    proc = subprocess.run([str(exe)], input=json.dumps(dict(specs[name], steps=steps)),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)
    for key in theirs:
        assert ours[key] == theirs[key], f"{name}: {key} differs"


# Metadata regeneration (metadata.h) on the archives torch wrote above: the
# records alone must give back torch's .data/extern_modules and graph. Not
# applicable where the archive cannot tell how it was made:
NOT_FROM_RECORDS = {
    # save_module(..., dependencies=False): the archive does not say that
    # imports were not followed, so regeneration follows them.
    "dependencies_false_follows_nothing",
    # save_pickle(..., dependencies=False): likewise for the pickle's modules.
    "pickle_without_dependencies_is_only_a_node",
    # torch 1.13's quirk let a pickle that uses an object of a mocked module
    # through; regeneration checks each module on its own and reports it.
    "mocked_object_not_last_is_missed_protocol_3",
    "mocked_object_not_last_is_missed_protocol_4",
}


def test_metadata_regenerated_from_every_torch_archive(torch_results, build_dir):
    """Every scenario whose export succeeded (the others wrote no archive)."""
    exe = build_dir / "tests" / "tools" / "metadata_run"
    compared, diffs = [], []
    for name, theirs in torch_results.items():
        if name in NOT_FROM_RECORDS or theirs["archive"] is None:
            continue
        proc = subprocess.run([str(exe), theirs["archive"]], capture_output=True, text=True)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        ours = json.loads(proc.stdout)
        compared.append(name)
        for key, want in [("problems", ""), ("extern_modules", theirs["extern_modules"]),
                          ("dot", theirs["dot"]), ("mocked", theirs["mocked"])]:
            if ours[key] != want:
                diffs.append((name, key, ours[key], want))
    assert not diffs, diffs
    assert len(compared) >= 10, compared
