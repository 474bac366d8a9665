"""GlobGroup differential: our C++ GlobGroup against real torch.package.GlobGroup.

Every (include, exclude, separator, candidate) query is answered by
torch (in this process) and by tests/tools/glob_match (one subprocess for
the whole table); match results, repr() texts and ValueError messages must
be identical.
"""
import itertools
import random
import subprocess

import pytest

torch_package = pytest.importorskip("torch.package")
GlobGroup = torch_package.GlobGroup

# doc/format.md §6.5 and torch's docstrings, plus corner cases.
PATTERNS = [
    "torch.**", "torch.*", "torch*.**", "**.linear", "a.**.c", "foo*bar", "numpy", "*", "**",
    "", ".", "..", "a.", ".a", "a..b", "**.**", "a.**.**.b", "*.*", "*.**", "**.*", "a*b*c",
    "*a*", "a.*.c", "a.**.c.**", "my.**", "torch.nn.modules.linear", "a**", "**a", "a.b**",
    "***", "*.**a", "_*", "fx-generated.**", "x$y", "a+b", "(a)", "[ab]", "a?b", "\\d", "é*",
]
NAMES = [
    "", "a", "b", "c", "a.b", "a.c", "a.b.c", "a.b.d.c", "a..b", ".a", "a.", "a..", "torch",
    "torchvision", "torch.nn", "torch.nn.functional", "torch_x", "torchvision.models", "linear",
    "torch.nn.modules.linear", "linear.x", "foobar", "foo_x_bar", "foo.bar", "numpy", "numpy.core",
    "my", "my.x", "my.private", "my.private.sub", "my.x.y", "my.x.y.z", "abc", "aXbYc", "ab", "a*b",
    "fx-generated._0", "x$y", "a+b", "(a)", "[ab]", "a", "axb", "\\d", "é", "éa", "a.é",
]
SLASH_PATTERNS = ["res/*.txt", "**", "*", "res/**", "**/*.py", ".data/**", "a/**/c", "*/"]
SLASH_NAMES = ["res/a.txt", "res/sub/a.txt", "a/b", ".data/x", "", "a/", "a", "x.py", "a/b/c.py",
               "a/c", "a/b/c", ".data/version"]


def forms(patterns):
    """The Python objects a pattern argument can be, with our wire encoding."""
    yield patterns[0], "s:" + patterns[0]
    yield list(patterns), "l:" + "\x1f".join(patterns)
    yield tuple(patterns), "t:" + "\x1f".join(patterns)


def torch_answer(include, exclude, sep, name):
    try:
        group = GlobGroup(include, exclude=exclude, separator=sep)
    except ValueError as e:
        return "E\t" + str(e)
    return ("1" if group.matches(name) else "0") + "\t" + repr(group)


def run_ours(build_dir, wire_queries):
    exe = build_dir / "tests" / "tools" / "glob_match"
    out = subprocess.run([str(exe)], input="".join(q + "\n" for q in wire_queries),
                         capture_output=True, text=True, check=True).stdout
    return out.split("\n")[: len(wire_queries)]


def compare(build_dir, queries):
    wire = [f"{wi}\t{we}\t{sep}\t{name}" for _, wi, _, we, sep, name in queries]
    ours = run_ours(build_dir, wire)
    expected = [torch_answer(i, e, sep, name) for i, _, e, _, sep, name in queries]
    diffs = [(w, o, x) for w, o, x in zip(wire, ours, expected) if o != x]
    assert not diffs, f"{len(diffs)} of {len(queries)} differ, first: {diffs[:5]}"
    return len(queries)


def test_single_patterns_match_torch(build_dir):
    queries = []
    for pattern, name in itertools.product(PATTERNS, NAMES):
        queries.append((pattern, "s:" + pattern, (), "t:", ".", name))
    for pattern, name in itertools.product(SLASH_PATTERNS, SLASH_NAMES):
        queries.append((pattern, "s:" + pattern, (), "t:", "/", name))
    compare(build_dir, queries)


def test_include_exclude_lists_and_reprs_match_torch(build_dir):
    groups = [
        (["my.**"], ["my.private", "my.x.*"]),
        (["torch.**", "numpy.**"], ["torch.cuda.**"]),
        (["a", "b"], []),
        (["**"], ["a.**", "b"]),
        (["it's", 'say "hi"'], ["both'\""]),
        (["tab\\x"], ["a**"]),
    ]
    queries = []
    for include, exclude in groups:
        for (inc, winc), (exc, wexc), name in itertools.product(
                forms(include), forms(exclude) if exclude else [((), "t:"), ([], "l:")], NAMES):
            queries.append((inc, winc, exc, wexc, ".", name))
    compare(build_dir, queries)


def test_random_patterns_match_torch(build_dir):
    rng = random.Random(1913)
    atoms = ["a", "b", "ab", "*", "**", "a*", "*b", "a*b", ""]
    name_atoms = ["a", "b", "ab", "ba", "aab", "", "abab"]
    queries = []
    for sep in [".", "/", "::", "-"]:
        for _ in range(400):
            pattern = sep.join(rng.choice(atoms) for _ in range(rng.randint(1, 4)))
            for _ in range(6):
                name = sep.join(rng.choice(name_atoms) for _ in range(rng.randint(1, 4)))
                queries.append((pattern, "s:" + pattern, (), "t:", sep, name))
    compare(build_dir, queries)
