#!/usr/bin/env python3
"""Check the include directions of libtpkg's clusters (doc/design.md).

    base <- {zip, scan} <- package <- {journal, safety}

A file of a cluster may include headers of its own cluster and of the
clusters to its left, public (include/tpkg/) or private (src/lib/<cluster>/).
Code outside libtpkg (src/fs, src/tools, pybind) may include only the public
headers. Prints one line per violation and exits 1; exits 0 when clean.
"""
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
LIB = REPO / "src" / "lib"
PUBLIC = REPO / "include" / "tpkg"

# Which clusters each cluster may include (itself included).
ALLOWED = {
    "base": {"base"},
    "zip": {"base", "zip"},
    "scan": {"base", "scan"},
    "package": {"base", "zip", "scan", "package"},
    "journal": {"base", "zip", "scan", "package", "journal"},
    "safety": {"base", "zip", "scan", "package", "safety"},
}

# The cluster each public header belongs to.
PUBLIC_CLUSTER = {
    "error.h": "base",
    "scoped_fd.h": "base",
    "file_io.h": "base",
    "file_stamp.h": "base",
    "crc32.h": "base",
    "background_thread.h": "base",
    "line_escape.h": "base",
    "counted.h": "base",
    "torch_release.h": "base",
    "progress.h": "base",
    "temp_file_cleanup.h": "base",
    "zip_reader.h": "zip",
    "zip_writer.h": "zip",
    "zip_repack.h": "zip",
    "record_path.h": "zip",
    "serialization_id.h": "zip",
    "torch_writer_trailer.h": "zip",
    "pickle_scan.h": "scan",
    "pickle_tensors.h": "scan",
    "pickle_dis.h": "scan",
    "import_scan.h": "scan",
    "glob.h": "package",
    "dep_graph.h": "package",
    "module_env.h": "package",
    "python_env.h": "package",
    "policy.h": "package",
    "metadata.h": "package",
    "analysis_cache.h": "package",
    "torch_records.h": "package",
    "file_structure.h": "package",
    "model_file.h": "package",
    "model_report.h": "package",
    "export_program.h": "package",
    "package_files.h": "package",
    "model_tensors.h": "package",
    "model_diff.h": "package",
    "record_attributes.h": "package",
    "journal.h": "journal",
    "record_patch.h": "journal",
    "write_back.h": "journal",
    "save_log.h": "journal",
    "journal_records.h": "journal",
    "scan.h": "safety",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCES = ("*.h", "*.cc", "*.inc")


def cluster_of_include(name):
    """The cluster an include names, or None for a header outside libtpkg."""
    if name.startswith("tpkg/"):
        return PUBLIC_CLUSTER.get(name[len("tpkg/"):], "unknown-public")
    head = name.split("/", 1)[0]
    return head if head in ALLOWED and "/" in name else None


def files_under(folder):
    for pattern in SOURCES:
        yield from sorted(folder.rglob(pattern))


def main():
    problems = []
    unknown_public = sorted(p.name for p in PUBLIC.glob("*.h") if p.name not in PUBLIC_CLUSTER)
    for name in unknown_public:
        problems.append(f"include/tpkg/{name}: public header has no cluster in scripts/check_includes.py")

    for path in files_under(LIB):
        rel = path.relative_to(LIB)
        if len(rel.parts) < 2:
            if path.suffix in (".cc", ".h", ".inc"):
                problems.append(f"src/lib/{rel}: source file at the top level of src/lib (put it in a cluster)")
            continue
        own = rel.parts[0]
        for inc in INCLUDE.findall(path.read_text(errors="replace")):
            target = cluster_of_include(inc)
            if target is None:
                problems.append(f"src/lib/{rel}: includes \"{inc}\", not in the \"cluster/file.h\" form")
            elif target not in ALLOWED.get(own, set()):
                problems.append(f"src/lib/{rel}: {own} may not include \"{inc}\" ({target})")

    for path in files_under(PUBLIC):
        own = PUBLIC_CLUSTER.get(path.name)
        for inc in INCLUDE.findall(path.read_text(errors="replace")):
            target = cluster_of_include(inc)
            if not inc.startswith("tpkg/"):
                problems.append(f"include/tpkg/{path.name}: public header includes private \"{inc}\"")
            elif own and target not in ALLOWED[own]:
                problems.append(f"include/tpkg/{path.name}: {own} may not include \"{inc}\" ({target})")

    for outside in ("src/fs", "src/tools", "pybind"):
        for path in files_under(REPO / outside):
            for inc in INCLUDE.findall(path.read_text(errors="replace")):
                if cluster_of_include(inc) is not None and not inc.startswith("tpkg/"):
                    problems.append(f"{path.relative_to(REPO)}: includes libtpkg's private \"{inc}\"")

    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
