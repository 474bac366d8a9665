"""The pickle sniff (src/lib/scan/pickle_sniff.h) and the machine's calls
(Observer::OnCall) against CPython's own unpicklers.

A headerless (protocol 0/1) stream that breaks before its STOP still counts
as a pickle when what CPython reads before the break has called a global:
pickle.load and torch.package's load_pickle run each opcode as they read it.
The reference here runs the same bytes through pickle._Unpickler (the class
torch.package's PackageUnpickler derives from, with its `reduce_package`
persistent ids) and the C pickle.Unpickler, with a find_class that imports
nothing and returns a recorder class: a call of it (its metaclass __call__,
or __new__ for NEWOBJ) is recorded, nothing else runs. A module or name that
is not a dotted identifier fails, as __import__ / getattr would.

Checked: the recorded calls equal the machine's calls on every sample (the
hostile streams below, texts of every kind, every record of the real torch
archives of this stack); the sniff says "pickle" for a broken stream exactly
when CPython called something; and no text gets that verdict.
"""
import csv
import io
import json
import pathlib
import pickle
import subprocess
import sysconfig
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
TORCH2 = REPO / "tests" / "data" / "torch2"


# ---------------------------------------------------------------- reference

class _Recorder(type):
    """Metaclass of what find_class returns: calls are recorded, never run."""
    calls = []

    def __call__(cls, *args, **kwargs):
        _Recorder.calls.append((cls.module, cls.qualname))
        return object.__new__(_Recorded)

    def __iter__(cls):  # func(*global) works in pickle._Unpickler if the global is iterable
        return iter(())


class _Recorded(metaclass=_Recorder):
    module = qualname = None

    def __new__(cls, *args, **kwargs):  # NEWOBJ: cls.__new__(cls, *args)
        _Recorder.calls.append((cls.module, cls.qualname))
        return object.__new__(_Recorded)

    # What a pickle may do with what a call returned: accepted, so that the
    # reference goes on as far as the bytes do (calling it is no global's call).
    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def __call__(self, *args, **kwargs):
        return self

    def __iter__(self):
        return iter(())


def _dotted_identifier(text):
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _unpickler(base):
    class Reference(base):
        def find_class(self, module, name):
            if not (_dotted_identifier(module) and _dotted_identifier(name)):
                raise ModuleNotFoundError(module)  # what __import__ / getattr would do
            return _Recorder("R", (_Recorded,), {"module": module, "qualname": name})

        def persistent_load(self, pid):
            # torch.package's PackageUnpickler: ('reduce_package', [id,] func, args)
            # returns func(importer, *args); anything else loads as the id itself.
            if isinstance(pid, tuple) and pid and pid[0] == "reduce_package" and \
                    len(pid) in (3, 4):
                func, args = pid[-2], pid[-1]
                if isinstance(func, _Recorder):
                    return func(self, *args)
            return pid
    return Reference


def cpython_calls(raw):
    """(module, name) of every call either unpickler made before it stopped or failed."""
    called = set()
    for base in (pickle._Unpickler, pickle.Unpickler):
        _Recorder.calls = []
        try:
            _unpickler(base)(io.BytesIO(raw)).load()
        except Exception:  # noqa: BLE001 - any failure: what ran before it is recorded
            pass
        called.update(_Recorder.calls)
    return called


# ---------------------------------------------------------------- samples

# Broken headerless streams that call os.system / subprocess.Popen before the break.
CALLING = {
    "p0_reduce_then_garbage": b"cos\nsystem\n(S'id'\ntR garbage, not a pickle",
    "p0_reduce_then_cut": b"cos\nsystem\n(S'id'\ntR",
    "p0_reduce_then_text": b"cos\nsystem\n(S'id'\ntR\nThis is a README.\n",
    "p1_binunicode_tuple1": b"cos\nsystem\nX\x02\x00\x00\x00id\x85R\xff",
    "p0_obj": b"(cos\nsystem\nS'id'\no\x00",
    "p0_inst": b"(S'id'\nios\nsystem\n",
    "p0_memo_global": b"csubprocess\nPopen\np0\n0g0\n(S'id'\ntR junk",
    "p2_newobj_no_header": b"csubprocess\nPopen\n)\x81",
    "p4_stack_global_no_header": b"\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R",
    "p0_list_args": b"cos\nsystem\n(lS'id'\naR",  # pickle._Unpickler calls func(*list)
    "p0_reduce_package_pid": b"(S'reduce_package'\ncos\nsystem\n(S'id'\nttQ",
    "p0_dotted_name": b"ctorch.serialization\nos.system\n(S'id'\ntR",
}

# Broken streams that call nothing: the sniff must not take them for pickles.
NOT_CALLING = {
    "p0_cut_before_reduce": b"cos\nsystem\n(S'id'\nt",
    "p0_inst_without_mark": b"ios\nsystem\n(S'id'\nt",
    "p0_none_args": b"cos\nsystem\nNR",
    "p0_int_args": b"cos\nsystem\nI1\nR",
    "p0_module_not_identifier": b"cos path\nsystem\n(S'id'\ntR",
    "p0_name_not_identifier": b"cos\nsys tem\n(S'id'\ntR",
    "p0_empty_name": b"cos\n\n(S'id'\ntR",
    "global_only": b"cos\nsystem\n",
    "two_identifier_lines": b"(cpu\ncuda\n",
}

TEXTS = {
    "readme": b"# Model card\n\nThis model classifies images. See LICENSE.\n",
    "copyright": b"Copyright (c) 2024 Example Inc. All rights reserved.\n",
    "parenthesised": b"(c) 2024 Example\nconfig\nvalue\n(note)\ntrue\n",
    "device_list": b"cuda\ncpu\nmps\n",
    "class_source": b"class Net:\n    def forward(self, x):\n        return x\n",
    "python_calling_os": b"import os\nos.system('id')\n",
    "python_source_c": b"config = dict(lr=0.1)\nrun(config)\n",
    "json_object": json.dumps({"lr": 0.1, "layers": [1, 2, 3]}).encode(),
    "json_list": b"[1, 2, 3]\n",
    "csv_header_I": b"ID,name,value\n1,conv,0.5\n2,linear,1.5\n",
    "csv_numbers": b"1,2,3\n4,5,6\n",
    "ini": b"[model]\nname = resnet\n",
    "yaml": b"model:\n  name: resnet\n  layers: [1, 2]\n",
    "labels": b"Negative\nPositive\nNeutral\n",
    "vocab": b"[PAD]\n[UNK]\nthe\nof\nand\n",
    "single_letters": b"c\nR\n",
    "S_quoted_lines": b"S'hello'\nS'world'\n",
}


def csv_text():
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Sample", "conv1.weight", "os.system", "Reduce"])
    for i in range(50):
        writer.writerow([f"row{i}", i * 0.5, "cos", "R"])
    return out.getvalue().encode()


def stdlib_sources(limit=1500):
    """Python sources, and the stdlib's own text and data files, spread over the tree."""
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*")
                   if p.suffix in (".py", ".txt", ".csv", ".json", ".cfg", ".html", ".xml")
                   and "packages" not in p.parts[-2] and p.is_file())
    step = max(1, len(files) // limit)
    return {f"stdlib/{p.relative_to(stdlib)}": p.read_bytes() for p in files[::step]}


def repository_texts():
    texts = {}
    for pattern in ("README.md", "doc/*.md", "scripts/*.py", "scripts/*.sh", "tests/**/*.py",
                    "src/lib/safety/default_policy.json", "meson.build"):
        for path in sorted(REPO.glob(pattern)):
            texts[str(path.relative_to(REPO))] = path.read_bytes()
    return texts


def torch_records(corpus_dir):
    """Every record of every real torch archive of this stack (1 MB at most each)."""
    archives = [p for p in sorted(corpus_dir.iterdir()) if p.suffix in (".pt", ".pth")]
    archives += sorted(TORCH2.rglob("*.pt")) + sorted(TORCH2.rglob("*.pt2"))
    records = {}
    for archive in archives:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir() and info.file_size <= 1 << 20:
                    records[f"{archive.name}!{info.filename}"] = z.read(info)
    return records


# ---------------------------------------------------------------- the machine

@pytest.fixture(scope="module")
def sniff(build_dir, tmp_path_factory):
    tool = build_dir / "tests" / "tools" / "pickle_sniff_dump"
    if not tool.exists():
        pytest.skip(f"{tool} is not built")
    workdir = tmp_path_factory.mktemp("sniff")

    def run(samples):
        names = list(samples)
        paths = []
        for i, name in enumerate(names):
            path = workdir / f"{i}.bin"
            path.write_bytes(samples[name])
            paths.append(str(path))
        results = {}
        for start in range(0, len(paths), 500):  # keep the command line short
            out = subprocess.run([str(tool), *paths[start:start + 500]], check=True,
                                 capture_output=True, timeout=300).stdout
            for line in out.decode("utf-8", errors="surrogateescape").splitlines():
                doc = json.loads(line)
                results[names[int(pathlib.Path(doc["file"]).stem)]] = doc
        return results

    return run


def machine_calls(doc):
    # The sniff counts a call only when module and name are dotted identifiers.
    return {(m, n) for m, n, _ in doc["calls"] if _dotted_identifier(m) and _dotted_identifier(n)}


def check_against_cpython(sniff, samples):
    results = sniff(samples)
    verdicts = {}
    for name, raw in samples.items():
        doc = results[name]
        reference = cpython_calls(raw)
        assert machine_calls(doc) == reference, (name, raw[:200], doc)
        verdicts[name] = doc["sniff"]
        if doc["sniff"] == "headerless-calls-before-break":
            assert doc["error"] is not None and reference, (name, doc)
        if doc["error"] is not None and doc["sniff"] in ("no", "headerless-calls-before-break"):
            assert (doc["sniff"] != "no") == bool(reference), (name, doc)
    return verdicts


def test_broken_streams_that_call_are_pickles(sniff):
    verdicts = check_against_cpython(sniff, CALLING)
    for name, raw in CALLING.items():
        assert verdicts[name] == "headerless-calls-before-break", name
        assert cpython_calls(raw), name


def test_broken_streams_that_call_nothing_are_not_pickles(sniff):
    verdicts = check_against_cpython(sniff, NOT_CALLING)
    for name, raw in NOT_CALLING.items():
        assert verdicts[name] == "no", name
        assert not cpython_calls(raw), name


def test_texts_are_not_pickles(sniff):
    texts = {**TEXTS, "csv_generated": csv_text(), **stdlib_sources(), **repository_texts()}
    assert len(texts) > 500
    verdicts = check_against_cpython(sniff, texts)
    taken = {name for name, v in verdicts.items() if v != "no"}
    assert not taken, taken


def test_every_record_torch_writes_matches_cpython(sniff, corpus_dir):
    records = torch_records(corpus_dir)
    assert len(records) >= 100
    verdicts = check_against_cpython(sniff, records)
    # Pickles have a header; what torch writes beside them never reads as a pickle.
    for name, verdict in verdicts.items():
        if not records[name].startswith(b"\x80"):
            assert verdict == "no", (name, records[name][:80])
