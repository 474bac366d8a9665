"""The `<archive>.expected.json` of one case: common facts, then the file itself.

A case builds its archive, starts its facts with `new_facts()`, adds what is
particular to it, and calls `finish()` with a `verify(importer)` function
that returns the values a correct loader must reproduce. `finish()` adds the
facts every archive has (container, reader, pickles, package metadata, loads
from the archive and from its unpacked folder) and writes the JSON file.
"""
import json
import os
import platform

import numpy as np
import torch
from torch.package import PackageImporter

from pickle_facts import all_pickles
from torch_facts import directory_load, package_info, torch_reader_info
from zip_layout import describe_zip

PACKAGE = "torch.package"
TORCH_SAVE = "torch.save"
INVALID = "invalid"


def new_facts(case, description, kind=PACKAGE):
    return {
        "case": case,
        "kind": kind,
        "description": description,
        "generated_with": {"torch": torch.__version__, "python": platform.python_version(),
                           "numpy": np.__version__},
    }


def expected_path(archive):
    return archive + ".expected.json"


def read_facts(archive):
    with open(expected_path(archive), encoding="utf-8") as f:
        return json.load(f)


def write_facts(archive, facts):
    with open(expected_path(archive), "w", encoding="utf-8") as f:
        json.dump(facts, f, indent=1, ensure_ascii=False)
        f.write("\n")


def finish(case, archive, facts, verify):
    """Adds the common facts of `archive` (a path relative to the output folder) and writes them.

    `verify` receives a PackageImporter for packages, the archive's path for
    torch.save files; None skips the loads."""
    facts["archive"] = archive
    facts["zip"] = describe_zip(archive)
    facts["torch_reader"] = torch_reader_info(archive)
    if facts["kind"] != INVALID:
        facts["pickles"] = all_pickles(archive)
    if facts["kind"] == PACKAGE:
        facts["package"] = package_info(archive)
    if verify is not None:
        if facts["kind"] == PACKAGE:
            facts["loads"] = verify(PackageImporter(archive))
            from_folder = directory_load(case, archive, verify)
            from_folder["values_equal_to_zip_load"] = (
                from_folder["loads"] == facts["loads"] if from_folder["ok"] else None)
            facts["directory_load"] = from_folder
        else:
            facts["loads"] = verify(archive)
    write_facts(archive, facts)
    print("wrote %-34s %8d bytes" % (archive, os.path.getsize(archive)))
