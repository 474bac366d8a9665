"""ScanPickle() against real CPython and real torch 1.13.

References, all run in this process with /usr/bin/python3:
* globals and persistent ids: CPython's own C unpickler, with find_class and
  persistent_load overridden so that nothing is imported (the way the corpus
  recorded its `pickles` facts);
* modules: torch's PackageExporter itself (the successors of the pickle's
  node in its dependency graph) for pickles that torch.package writes, and a
  transcription of save_pickle's genops loop for the other pickles;
* the inputs of the mocked-object check: the same transcription (every
  (module, field) pair it checks, and its `module` variable at the end);
* protocol: pickletools.genops.

The C++ side runs through the test-only tool tests/tools/pickle_scan_dump.
"""
import collections
import importlib.metadata
import io
import json
import pickle
import pickletools
import subprocess
import zipfile

import pytest

torch = pytest.importorskip("torch")
# The dump's module list of the save_pickle loop of this stack's torch
# (pickle_scan.h: `modules` is torch 1.13's, `modules_torch2` torch 2.x's).
STACK_MODULES = "modules_torch2" if int(importlib.metadata.version("torch").split(".")[0]) >= 2 else "modules"
from torch.package import PackageExporter, sys_importer  # noqa: E402


@pytest.fixture(scope="module")
def dump(build_dir, tmp_path_factory):
    tool = build_dir / "tests" / "tools" / "pickle_scan_dump"
    if not tool.exists():
        pytest.skip(f"{tool} is not built")
    workdir = tmp_path_factory.mktemp("pickles")

    def run(blobs):
        """Scans every bytes object in `blobs`; returns one dict per blob."""
        paths = []
        for i, raw in enumerate(blobs):
            path = workdir / f"{i}.pkl"
            path.write_bytes(raw)
            paths.append(str(path))
        out = subprocess.run([str(tool), *paths], check=True, capture_output=True).stdout
        out = out.decode("utf-8", errors="surrogateescape")
        return [json.loads(line) for line in out.splitlines()]

    return run


# ---------------------------------------------------------------- references

class _Stub:
    """Stand-in for every global, accepting whatever the pickle does with it."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


def unpickler_reference(raw):
    """Globals and persistent ids as CPython's unpickler sees them."""
    found_globals, storages, reduce_packages = [], [], []

    class Reader(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in found_globals:
                found_globals.append((module, name))
            return type(name, (_Stub,), {"__module__": module, "_global": (module, name)})

        def persistent_load(self, pid):
            if isinstance(pid, tuple) and pid and pid[0] == "storage":
                cls, key, location, numel = pid[1:]
                storages.append([*cls._global, str(key), isinstance(key, int), location, numel])
            elif isinstance(pid, tuple) and pid and pid[0] == "reduce_package":
                func = pid[2] if len(pid) == 4 else pid[1]
                reduce_packages.append([*func._global, len(pid) == 4])
            return None

    Reader(io.BytesIO(raw)).load()
    return [list(g) for g in found_globals], storages, reduce_packages


def protocol_reference(raw):
    for opcode, arg, _ in pickletools.genops(raw):
        if opcode.name == "PROTO":
            return arg
    return 0


def torch_loop_reference(raw, protocol):
    """Transcription of the genops loop in torch 1.13's PackageExporter.save_pickle
    (torch/package/package_exporter.py), run with pickle_protocol=4 for
    protocols >= 4 and 3 otherwise, quirks included."""
    return torch_loop_with_mock_check(raw, protocol)[0]


def torch_loop_with_mock_check(raw, protocol):
    """The same loop; also returns what it hands _check_mocked_error (every
    (module, field) pair, in opcode order) and its `module` variable at the
    end, which its mocked-object test reads ("" when not a str)."""
    pickle_protocol = 4 if protocol >= 4 else 3
    all_dependencies, checked = [], []
    module = field = None
    memo = collections.defaultdict(None)
    memo_count = 0
    for opcode, arg, pos in pickletools.genops(raw):
        if pickle_protocol == 4:
            if opcode.name == "SHORT_BINUNICODE" or opcode.name == "BINUNICODE8":
                module, field = field, arg
                memo[memo_count] = arg
            elif opcode.name in ("BINGET_LONG", "BINGET", "GET"):
                module, field = field, memo.get(arg, None)
            elif opcode.name == "MEMOIZE":
                memo_count += 1
            elif opcode.name == "STACK_GLOBAL":
                assert isinstance(module, str)
                if module not in all_dependencies:
                    all_dependencies.append(module)
                if isinstance(field, str):
                    checked.append([module, field])
        elif pickle_protocol == 3 and opcode.name == "GLOBAL":
            module, field = arg.split(" ")
            if module not in all_dependencies:
                all_dependencies.append(module)
            checked.append([module, field])
    last_module = module if isinstance(module, str) else ""
    return all_dependencies, {"globals": checked, "last_module": last_module}


def assert_matches_torch_loop(raw, got):
    modules, mock_check = torch_loop_with_mock_check(raw, got["protocol"])
    assert got["modules"] == modules
    assert got["mock_check"] == mock_check


def assert_matches_unpickler(raw, got):
    assert "error" not in got, got
    globals_, storages, reduce_packages = unpickler_reference(raw)
    assert got["protocol"] == protocol_reference(raw)
    assert got["globals"] == globals_
    assert got["storages"] == storages
    assert got["reduce_packages"] == reduce_packages


# ---------------------------------------------------------------- the corpus

def _corpus_pickles(corpus_dir):
    for expected_path in sorted(corpus_dir.glob("*.expected.json")):
        expected = json.loads(expected_path.read_text())
        archive = corpus_dir / expected_path.name[: -len(".expected.json")]
        if not expected.get("pickles"):
            continue
        with zipfile.ZipFile(archive) as z:
            by_record = {n.split("/", 1)[1]: n for n in z.namelist() if "/" in n}
            for record, facts in expected["pickles"].items():
                yield archive.name, record, facts, z.read(by_record[record]), expected.get("exporter")


def _pickle_node_successors(exporter, record):
    """Edges of the pickle's node `<package.resource>` in torch's recorded graph,
    or None when torch's exporter did not write this pickle."""
    if not exporter:
        return None
    names = {n["name"] for n in exporter["graph_nodes_in_insertion_order"]}
    parts = record.split("/")
    for k in range(1, len(parts)):
        node = "<" + ".".join(parts[:k]) + "." + "/".join(parts[k:]) + ">"
        if node in names:
            prefix = f'"{node}" -> "'
            return [line[len(prefix):-2] for line in exporter["dependency_graph_string"].splitlines()
                    if line.startswith(prefix)]
    return None


def test_corpus_pickles_match_recorded_facts(corpus_dir, dump):
    cases = list(_corpus_pickles(corpus_dir))
    assert len(cases) >= 16
    results = dump([raw for _, _, _, raw, _ in cases])
    checked_against_graph = 0
    for (archive, record, facts, raw, exporter), got in zip(cases, results):
        where = f"{archive}:{record}"
        assert "error" not in got, (where, got)
        assert got["protocol"] == (facts["protocol_byte"] or 0), where
        recorded = list(dict.fromkeys(facts["globals_in_first_use_order"]))
        assert [m + "." + n for m, n in got["globals"]] == recorded, where
        pids = []
        for m, n, key, key_is_int, location, numel in got["storages"]:
            pids.append(["storage", f"GLOBAL {m}.{n}", int(key) if key_is_int else key, location, numel])
        for m, n, has_id in got["reduce_packages"]:
            pids.append(["reduce_package", f"GLOBAL {m}.{n}"])
        recorded_pids = [p if p[0] == "storage" else ["reduce_package", p[2] if len(p) == 4 else p[1]]
                         for p in facts["persistent_ids_in_load_order"]]
        # Storage ids and reduce_package ids interleave in load order; ours are
        # grouped by kind, so compare each kind's sequence.
        for kind in ("storage", "reduce_package"):
            assert [p for p in pids if p[0] == kind] == [p for p in recorded_pids if p[0] == kind], where
        successors = _pickle_node_successors(exporter, record)
        if successors is not None:
            assert got["modules"] == successors, where
            checked_against_graph += 1
        else:
            assert got["modules"] == torch_loop_reference(raw, got["protocol"]), where
        assert got["mock_check"] == torch_loop_with_mock_check(raw, got["protocol"])[1], where
        assert_matches_unpickler(raw, got)
    assert checked_against_graph >= 12


# ------------------------------------------------- generated torch pickles

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def _objects():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    many_strings = [f"s{i}" for i in range(400)]  # memo indices past 255
    shared = ("shared", 1, 2.5)
    return {
        "tensor": torch.ones(3),
        "views": [base, base[1], base[:, 2], base.t(), base[1:3, 2:5]],
        "dtypes": [torch.zeros(2, dtype=d) for d in (torch.float16, torch.bfloat16, torch.int8, torch.uint8,
                                                     torch.int64, torch.bool, torch.complex64)],
        "module": torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.BatchNorm1d(4)),
        "state_dict": torch.nn.Linear(5, 2).state_dict(),
        "ordered_dict": collections.OrderedDict([("a", 1), ("b", torch.ones(1))]),
        "sets": {"plain": {1, 2, 3}, "frozen": frozenset({"x"})},
        "nested": {"a": [(1, 2), {"b": [None, True, 3.5, b"bytes", bytearray(b"ba")]}], "c": (((),),)},
        "memo_heavy": [shared] * 50 + many_strings + [collections.OrderedDict(), collections.Counter("ab"),
                                                        torch.ones(2), many_strings, shared],
        "custom_class": [Point(1, 2), Point(3, torch.zeros(1))],
        "big_int": [2 ** 70, -(2 ** 40), 255, 256, 65536, -1],
        "parameter": torch.nn.Parameter(torch.ones(2, 2)),
    }


def _torch_save_pickle(obj, protocol):
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_torch_save_pickles_match_cpython_unpickler(dump, protocol):
    objects = _objects()
    if protocol < 2:  # protocols 0-1 cannot pickle objects without a no-arg constructor path
        objects = {k: v for k, v in objects.items() if k not in ("custom_class",)}
    blobs = [_torch_save_pickle(obj, protocol) for obj in objects.values()]
    for name, raw, got in zip(objects, blobs, dump(blobs)):
        assert_matches_unpickler(raw, got), name
        assert_matches_torch_loop(raw, got), name


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_plain_pickles_match_cpython_unpickler(dump, protocol):
    objects = {k: v for k, v in _objects().items() if k in ("nested", "sets", "big_int", "custom_class")}
    objects["builtins"] = [len, collections.OrderedDict, pickle.Pickler, Point]
    blobs = [pickle.dumps(obj, protocol=protocol) for obj in objects.values()]
    blobs += [pickle._dumps(obj, protocol=protocol) for obj in objects.values()]  # pure-Python pickler
    for raw, got in zip(blobs, dump(blobs)):
        assert_matches_unpickler(raw, got)
        assert_matches_torch_loop(raw, got)


def _export(obj, protocol, repackaging):
    """Pickles `obj` with torch's PackageExporter and returns (pickle bytes,
    torch's module list for it). `repackaging` selects torch's pure-Python
    PackagePickler (what an importer other than sys_importer gets)."""
    buf = io.BytesIO()
    importer = (sys_importer,) if repackaging else sys_importer
    with PackageExporter(buf, importer=importer) as exporter:
        exporter.extern("**")
        exporter.save_pickle("res", "obj.pkl", obj, pickle_protocol=protocol)
        modules = list(exporter.dependency_graph.successors("<res.obj.pkl>"))
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        raw = z.read(next(n for n in z.namelist() if n.endswith("res/obj.pkl")))
    return raw, modules


@pytest.mark.parametrize("protocol", [3, 4])
@pytest.mark.parametrize("repackaging", [False, True], ids=["c_pickler", "package_pickler"])
def test_package_exporter_pickles_give_torchs_modules(dump, protocol, repackaging):
    objects = _objects()
    exported = [_export(obj, protocol, repackaging) for obj in objects.values()]
    results = dump([raw for raw, _ in exported])
    for name, (raw, modules), got in zip(objects, exported, results):
        assert got[STACK_MODULES] == modules, name
        assert_matches_unpickler(raw, got)
        assert_matches_torch_loop(raw, got)


def test_long_binget_quirk_is_reproduced_from_real_torch(dump):
    """With more than 256 memo entries, protocol 4 fetches a module string
    through LONG_BINGET, which torch's loop misses: its module list then holds
    the wrong string. Ours must hold the same wrong string."""
    strings = [f"m{i}" for i in range(300)]
    obj = [strings, collections.OrderedDict(), collections.Counter()]
    raw, modules = _export(obj, 4, repackaging=True)
    got = dump([raw])[0]
    assert got[STACK_MODULES] == modules
    assert_matches_torch_loop(raw, got)
    real_modules = list(dict.fromkeys(m for m, _ in got["globals"]))
    if STACK_MODULES == "modules":
        assert modules != real_modules  # the quirk really fired (torch 1.13)
    else:
        assert modules == real_modules  # torch 2.x follows LONG_BINGET


# ---------------------------------------------------------------- hostile input

def test_hostile_pickles_give_an_error_or_a_result(dump):
    valid = pickle.dumps({"a": [1, 2, (3, "x")], "b": collections.OrderedDict()}, protocol=4)
    blobs = [valid[:n] for n in range(len(valid))]                       # truncations
    blobs += [valid[:k] + bytes([b]) + valid[k + 1:] for k in range(2, len(valid), 3) for b in (0x00, 0xff, 0x8d)]
    blobs += [b"(" * 100000 + b".", b"\x80\x04\x8d" + b"\xff" * 8, b"\x80\x02j\xff\xff\xff\xff."]
    results = dump(blobs)
    assert len(results) == len(blobs)
    for got in results:
        assert "error" in got or "globals" in got
