#!/usr/bin/python3
"""Import-scanning throughput: libtpkg's ScanImports() against torch's way
(torch.package's find_files_source_depends_on: CPython's ast.parse plus an
ast.NodeVisitor), over every .py of the Python 3.11 standard library and
dist-packages, in one run.

    scripts/bench_scan.py [--build-dir build] [ROOT ...]

Fairness: both sides get every file already in memory and only the scans are
timed. torch's side scans the decoded str (what its exporter passes);
ours scans the file's bytes (what the daemon has), including UTF-8
validation. Both use the same `package` per file (torch's rule). The C++
side runs in tests/tools/import_scan_dump --time (one process, steady_clock).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import time
import tokenize
import warnings

DEFAULT_ROOTS = [sysconfig.get_paths()["stdlib"], "/usr/lib/python3/dist-packages"]


def collect(roots):
    jobs = []
    for root in map(pathlib.Path, roots):
        for path in sorted(p for p in root.rglob("*.py") if p.is_file()):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            module = ".".join(parts)
            jobs.append((path, module if is_package else module.rsplit(".", 1)[0]))
    return jobs


def time_torch(jobs):
    from torch.package.find_file_dependencies import find_files_source_depends_on

    sources = []
    for path, package in jobs:
        try:
            with tokenize.open(path) as f:
                sources.append((f.read(), package))
        except (SyntaxError, UnicodeDecodeError, LookupError):
            pass
    errors = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        for src, package in sources:
            try:
                find_files_source_depends_on(src, package)
            except Exception:
                errors += 1
        seconds = time.perf_counter() - start
    return {"files": len(sources), "bytes": sum(len(s.encode("utf-8", "surrogatepass")) for s, _ in sources),
            "errors": errors, "seconds": seconds}


def time_ours(jobs, build_dir):
    tool = pathlib.Path(build_dir) / "tests" / "tools" / "import_scan_dump"
    if not tool.exists():
        sys.exit(f"{tool} is missing: build first (ninja -C {build_dir})")
    lines = "".join(f"{path}\t{package}\n" for path, package in jobs)
    out = subprocess.run([str(tool), "--time"], input=lines.encode(), check=True, capture_output=True).stdout
    return json.loads(out)


def report(name, r):
    mb = r["bytes"] / 1e6
    print(f"{name:<28} {r['files']:>6} files {mb:8.1f} MB {r['seconds']:8.2f} s "
          f"{r['files'] / r['seconds']:>10.0f} files/s {mb / r['seconds']:8.1f} MB/s  ({r['errors']} errors)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.environ.get("TPKG_BUILD_DIR", "build"))
    parser.add_argument("roots", nargs="*", default=DEFAULT_ROOTS)
    args = parser.parse_args()
    jobs = collect(args.roots)
    ours = time_ours(jobs, args.build_dir)
    torch_way = time_torch(jobs)
    report("libtpkg ScanImports", ours)
    report("torch (ast + NodeVisitor)", torch_way)
    ratio = (torch_way["seconds"] / torch_way["bytes"]) / (ours["seconds"] / ours["bytes"])
    print(f"ratio (MB/s ours / MB/s torch): {ratio:.1f}x  (target >= 20x)")


if __name__ == "__main__":
    main()
