"""Runs policy scenarios through real torch.package.PackageExporter.

Used by test_policy_differential.py: reads a JSON list of
{"roots": [dir], "steps": [...]} specs (the format of tests/tools/policy_run)
on stdin and prints a JSON list of results in the shape policy_run prints.
All scenarios run in this one process (importing torch takes seconds); each
one's modules are dropped from sys.modules afterwards.
"""
import importlib
import io
import json
import os
import sys
import tempfile
import zipfile

from torch.package import EmptyMatchError, PackageExporter, PackagingError


def pattern(p):
    return tuple(p["tuple"]) if isinstance(p, dict) else p


def node_facts(graph):
    out = []
    for name, attrs in graph.nodes.items():
        error = attrs.get("error")
        out.append([name, attrs["action"].name if "action" in attrs else None,
                    attrs.get("provided") is True, attrs.get("is_package"),
                    attrs.get("is_pickle") is True, error.value if error is not None else None,
                    attrs.get("error_context")])
    return out


def run_steps(exporter, steps, hooks, handles, state):
    for step in steps:
        op, args = step[0], step[1:]
        if op == "save_pickle":  # [package, resource, python expression, protocol, dependencies]
            exporter.save_pickle(args[0], args[1], eval(args[2], {}), dependencies=args[4],
                                 pickle_protocol=args[3])
            continue
        if op in ("intern", "extern", "mock"):
            getattr(exporter, op)(pattern(args[0]), exclude=pattern(args[1]), allow_empty=args[2])
        elif op == "deny":
            exporter.deny(pattern(args[0]), exclude=pattern(args[1]))
        elif op == "save_module":
            exporter.save_module(args[0], dependencies=args[1])
        elif op == "save_source_string":
            exporter.save_source_string(args[0], args[1], is_package=args[2], dependencies=args[3])
        elif op == "add_dependency":
            exporter.add_dependency(args[0])
        elif op == "hook":
            kind, label = args
            hook = lambda exp, name, label=label: hooks.append([label, name])
            handles[label] = getattr(exporter, f"register_{kind}_hook")(hook)
        elif op == "remove_hook":
            handles[args[0]].remove()
        elif op == "close":
            exporter.close()
            state["closed"] = True
        else:
            raise AssertionError(op)


def read_archive(path):
    with zipfile.ZipFile(path) as z:
        names = [n.split("/", 1)[1] for n in z.namelist()]
        writes = [n for n in names if n.endswith(".py") and not n.startswith(".data/")]
        prefix = z.namelist()[0].split("/", 1)[0]
        return writes, z.read(prefix + "/.data/extern_modules").decode()


def run_scenario(index, spec, workdir):
    roots = spec["roots"]
    sys.path[:0] = roots
    importlib.invalidate_caches()
    archive = os.path.join(workdir, f"out{index}.pt")
    exporter = PackageExporter(archive)
    hooks, handles, state, error = [], {}, {"closed": False}, None
    pickles = []  # the bytes of every save_pickle record, for our side to scan
    write = exporter._write

    def capture(filename, data):
        if filename.endswith(".pkl"):
            pickles.append(bytes(data).hex())
        return write(filename, data)

    exporter._write = capture
    try:
        run_steps(exporter, spec["steps"], hooks, handles, state)
    except (PackagingError, EmptyMatchError, ModuleNotFoundError) as e:
        error = [type(e).__name__, str(e)]
    writes, extern_modules = read_archive(archive) if state["closed"] else ([], None)
    result = {
        "nodes": node_facts(exporter.dependency_graph),
        "dot": exporter.dependency_graph_string(),
        "externed": exporter.externed_modules(), "interned": exporter.interned_modules(),
        "mocked": exporter.mocked_modules(), "denied": exporter.denied_modules(),
        "writes": writes, "extern_modules": extern_modules, "hooks": hooks, "error": error,
        "pickles": pickles, "archive": archive if state["closed"] else None,
    }
    del sys.path[: len(roots)]
    tops = {n.split(".")[0] for root in roots for n in os.listdir(root)}
    for name in list(sys.modules):
        if name.split(".")[0] in tops:
            del sys.modules[name]
    return result


def main():
    """argv[1], if given, is a directory that keeps the archives torch wrote."""
    specs = json.load(sys.stdin)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        workdir = sys.argv[1] if len(sys.argv) > 1 else scratch
        for index, spec in enumerate(specs):
            results.append(run_scenario(index, spec, workdir))
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
