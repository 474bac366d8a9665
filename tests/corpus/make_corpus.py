#!/usr/bin/python3
"""Make the test corpus: real torch.package (and torch.save) archives, and what torch says of them.

    /usr/bin/python3 tests/corpus/make_corpus.py --out DIR

Run it with the interpreter that has PyTorch (the build does, into
<builddir>/tests/corpus). For every archive X it writes X.expected.json, the
facts real PyTorch reported while making and loading X, then MANIFEST.json
(name, size and sha256 of every file) last: a folder without MANIFEST.json
is not a corpus. Nothing is written outside DIR.

The archives are made with relative paths from inside DIR, so no machine path
gets into them, and they are byte-identical from run to run except where
PyTorch itself varies: id(obj) in the pickles of pkg_reduce_package,
pkg_torchscript and pkg_fx_graph_module. See README.md for the cases.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # never leave __pycache__ in the source tree

MANIFEST = "MANIFEST.json"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write the corpus into")
    parser.add_argument("--zip", default="zip", help="Info-ZIP's zip program (default: on PATH)")
    parser.add_argument("--keep-build", action="store_true",
                        help="keep the staged sources and unpacked archives (for debugging)")
    return parser.parse_args()


def pin_hash_seed():
    """Runs the script again under PYTHONHASHSEED=0 unless it already is.

    torch.fx writes the import lines of its generated code in the iteration
    order of a set of names, which follows the per-process string hash: with
    a fixed seed pkg_fx_graph_module comes out the same on every run."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def import_torch_or_exit():
    try:
        import torch
    except ImportError as e:
        sys.exit(f"make_corpus.py: needs PyTorch ({e}); run it with /usr/bin/python3 "
                 f"(python3-torch), not {sys.executable}")
    if not torch.__version__.startswith("1.13"):
        print(f"make_corpus.py: note: made with torch {torch.__version__}; the tests were "
              "written against 1.13", file=sys.stderr)


def remove_previous_corpus():
    """Deletes what an earlier run listed, so that no stale case is left behind."""
    if not os.path.exists(MANIFEST):
        return
    with open(MANIFEST, encoding="utf-8") as f:
        entries = json.load(f)
    os.remove(MANIFEST)  # first: an interrupted run must not look complete
    for entry in entries:
        for name in (entry["archive"], entry["expected"]):
            if os.path.exists(name):
                os.remove(name)


def make_all_cases(zip_program):
    """Runs every case in the current folder; returns the archive names in order."""
    import cases_code
    import cases_containers
    import cases_tensors

    model_numpy = cases_code.model_numpy()
    mocked = cases_code.mocked()
    made = [model_numpy, mocked, cases_code.resources(), cases_tensors.shared_views(),
            cases_code.reduce_package(), cases_tensors.dtypes(), cases_tensors.torchscript(),
            cases_tensors.fx_graph_module()]
    minimal = cases_containers.minimal_text_only()
    made += [minimal, cases_code.protocol4(), cases_code.repackaged(mocked),
             cases_tensors.torch_save_checkpoint(),
             cases_containers.deflated_by_zip_tool(model_numpy, zip_program),
             cases_containers.bad_no_prefix(minimal)]
    return made


def absolute_paths_in(archives):
    """(file, needle) for every machine path found in the archives, their records or facts."""
    import zipfile

    needles = [os.getcwd().encode(), b"/tmp/", b"/usr/lib/python3", b"/home/", b"/root/"]
    found = []
    for archive in archives:
        for path in (archive, archive + ".expected.json"):
            with open(path, "rb") as f:
                data = f.read()
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as z:
                    data += b"".join(z.read(n) for n in z.namelist())
            found += [(path, n.decode()) for n in needles if n in data]
    return found


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_manifest(archives):
    entries = [{"archive": a, "size": os.path.getsize(a), "sha256": sha256_of(a),
                "expected": a + ".expected.json",
                "expected_sha256": sha256_of(a + ".expected.json")} for a in archives]
    with open(MANIFEST + ".tmp", "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")
    os.replace(MANIFEST + ".tmp", MANIFEST)


def main():
    args = parse_args()
    pin_hash_seed()
    started = time.monotonic()
    import_torch_or_exit()
    zip_program = shutil.which(args.zip)
    if zip_program is None:
        sys.exit(f"make_corpus.py: needs Info-ZIP's zip ({args.zip} not found: "
                 "apt-get install zip, or scripts/setup.sh)")
    # The helpers beside this script stay importable (sys.path[0]) once the
    # output folder becomes the current one.
    os.makedirs(args.out, exist_ok=True)
    os.chdir(args.out)
    remove_previous_corpus()

    import interned_sources
    import torch_facts

    interned_sources.install_sources()
    try:
        archives = make_all_cases(zip_program)
    finally:
        if not args.keep_build:
            shutil.rmtree(interned_sources.STAGING, ignore_errors=True)
            shutil.rmtree(torch_facts.UNPACKED, ignore_errors=True)
    for path, needle in absolute_paths_in(archives):
        print(f"make_corpus.py: warning: {path} contains the machine path {needle}",
              file=sys.stderr)
    write_manifest(archives)
    print(f"made {len(archives)} archives in {os.getcwd()} "
          f"({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
