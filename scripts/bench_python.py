"""tpkg vs torch.package on one workload (run by scripts/bench_python.sh).

The workload: a generated package of GROUPS x PER_GROUP interned modules
(absolute, relative and stdlib imports; the model's module imports every
group) and a model with 100 storages. Each phase of each
library runs in fresh interpreters (ROUNDS of them, alternating libraries),
exports with the modules already imported (as when a user exports a model
they hold); the figure is the best of ROUNDS x REPEATS:
  export       PackageExporter: intern("bench.**"), save_pickle(model), close
  import+load  PackageImporter(path), load_pickle (executes every module), a forward pass
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap

GROUPS, PER_GROUP, LAYERS, REPEATS, ROUNDS = 40, 52, 50, 3, 3

MODULE = '''\
"""Generated module {g}.{m}."""
import os
import json
from collections import OrderedDict
{imports}

CONSTANT_{m} = {m}


class Thing{m}:
    """A class with a few methods."""

    def __init__(self, value=CONSTANT_{m}):
        self.value = value
        self.table = OrderedDict(a=1, b=2)

    def describe(self):
        return json.dumps({{"value": self.value, "sep": os.sep}})

    def twice(self):
        return self.value * 2


def helper_{m}(x):
    if x > 0:
        return x - 1
    return Thing{m}(x).twice()
'''

MODEL = '''\
import torch
{group_imports}


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(64, 64) for _ in range({layers}))

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x
'''


def generate(root):
    pkg = os.path.join(root, "bench")
    os.makedirs(pkg)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    for g in range(GROUPS):
        gdir = os.path.join(pkg, f"g{g}")
        os.makedirs(gdir)
        with open(os.path.join(gdir, "__init__.py"), "w") as f:
            members = ", ".join(f"m{m}" for m in range(PER_GROUP))
            f.write(f'"""Group {g}."""\nfrom . import {members}\n')
        for m in range(PER_GROUP):
            imports = []
            if m > 0:
                imports.append(f"from . import m{m - 1}")
            if g > 0:
                imports.append(f"import bench.g{g - 1}.m{m}")
            if m > 1:
                imports.append(f"from .m{m - 2} import helper_{m - 2}")
            with open(os.path.join(gdir, f"m{m}.py"), "w") as f:
                f.write(MODULE.format(g=g, m=m, imports="\n".join(imports)))
    with open(os.path.join(pkg, "model.py"), "w") as f:
        group_imports = "\n".join(f"import bench.g{g}" for g in range(GROUPS))
        f.write(MODEL.format(group_imports=group_imports, layers=LAYERS))


CHILD = textwrap.dedent('''
    import gc, importlib, json, sys, time
    sys.path.insert(0, SRC)
    import torch
    lib = importlib.import_module(LIB)
    import bench.model
    torch.manual_seed(0)
    model = bench.model.Model()
    x = torch.ones(2, 64)

    def export(path):
        with lib.PackageExporter(path) as pe:
            pe.intern("bench.**")
            pe.save_pickle("model", "model.pkl", model)
        return {"interned": len(pe.interned_modules()), "storages": sum(1 for _ in model.parameters())}

    def load(path):
        imp = lib.PackageImporter(path)
        y = imp.load_pickle("model", "model.pkl")(x)
        assert torch.equal(y, model(x))
        return {}

    times = []
    for i in range(REPEATS):
        gc.collect()
        t = time.perf_counter()
        facts = export(f"{OUT}.{i}.pt") if MODE == "export" else load(f"{OUT}.0.pt")
        times.append(time.perf_counter() - t)
    print(json.dumps(dict(facts, seconds=min(times))))
''')


def run(lib, mode, src, out):
    """One fresh interpreter: `mode` (export or load) with `lib`, best of REPEATS."""
    prelude = f"LIB = {lib!r}\nMODE = {mode!r}\nSRC = {src!r}\nOUT = {out!r}\nREPEATS = {REPEATS}\n"
    done = subprocess.run([sys.executable, "-c", prelude + CHILD], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{lib} {mode} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main():
    with tempfile.TemporaryDirectory(prefix="tpkg-bench-") as tmp:
        src = os.path.join(tmp, "src")
        generate(src)
        libs = ("torch.package", "tpkg")
        seconds = {(lib, mode): [] for lib in libs for mode in ("export", "load")}
        facts = {}
        # Fresh processes, alternating libraries, so that load on the shared
        # machine and leftovers of one phase never favour one side.
        for _ in range(ROUNDS):
            for mode in ("export", "load"):
                for lib in libs:
                    os.makedirs(os.path.join(tmp, lib), exist_ok=True)
                    result = run(lib, mode, src, os.path.join(tmp, lib, "model"))
                    seconds[(lib, mode)].append(result.pop("seconds"))
                    facts.update(result)
        ours, theirs = (open(os.path.join(tmp, lib, "model.0.pt"), "rb").read() for lib in ("tpkg", "torch.package"))
    print(f"workload: {facts['interned']} interned modules, {facts['storages']} storages; "
          f"best of {ROUNDS} processes x {REPEATS} runs each; archive {len(ours)} bytes, "
          f"byte-identical to torch's: {ours == theirs}")
    print(f"{'':14}{'torch.package':>15}{'tpkg':>12}{'ratio':>10}{'target':>10}")
    for mode, label, target in (("export", "export", "<= 0.30"), ("load", "import+load", "<= 1.00")):
        t, o = min(seconds[("torch.package", mode)]), min(seconds[("tpkg", mode)])
        print(f"{label:14}{t * 1000:13.1f}ms{o * 1000:10.1f}ms{o / t:10.2f}{target:>10}")


if __name__ == "__main__":
    main()
