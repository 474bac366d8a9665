"""Cases about the container: the smallest package, a package re-zipped by Info-ZIP, and a
zip without the prefix folder."""
import os
import shutil
import subprocess
import zipfile

import torch
from torch.package import PackageExporter, PackageImporter

from case_record import INVALID, finish, new_facts, read_facts, write_facts
from torch_facts import UNPACKED, describe_tensor, exporter_info, one_line_error

# 2023-01-02 03:04:06 UTC: every file handed to zip gets this time, so that
# the DOS and Unix times in its headers do not depend on the day of the run.
FIXED_TIME = 1672628646


def minimal_text_only():
    case, archive = "pkg_minimal_text_only", "pkg_minimal_text_only.pt"
    with PackageExporter(archive) as exporter:
        exporter.save_text("notes", "readme.txt", "only a text resource\n")
    facts = new_facts(case, "The smallest package: a single text resource, no code, no pickle, "
                            "nothing externed (extern_modules is one newline; the graph has no "
                            "edge).")
    facts["export_calls"] = ["save_text('notes', 'readme.txt', 'only a text resource\\n')"]
    facts["exporter"] = exporter_info(exporter)

    def verify(importer):
        return {"readme": importer.load_text("notes", "readme.txt"),
                "extern_modules_attr": list(importer.extern_modules)}
    finish(case, archive, facts, verify)
    return archive


def _zip_tool_version(zip_program):
    try:
        run = subprocess.run([zip_program, "-v"], capture_output=True, text=True)
        return run.stdout.splitlines()[1].strip()
    except (OSError, IndexError):
        return None


def deflated_by_zip_tool(source_archive, zip_program):
    """`source_archive` unpacked and zipped again by Info-ZIP's zip -9 (`zip_program`)."""
    case, archive = "pkg_deflated_by_zip_tool", "pkg_deflated_by_zip_tool.pt"
    work = os.path.join(UNPACKED, "zipwork")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    with zipfile.ZipFile(source_archive) as z:
        z.extractall(work)
    paths = []
    for root, dirs, files in os.walk(work):
        paths += [os.path.relpath(os.path.join(root, n), work) for n in dirs + files]
    for p in paths + ["."]:
        os.utime(os.path.join(work, p), (FIXED_TIME, FIXED_TIME))
    paths.sort(key=lambda s: s.encode())  # byte order, whatever the locale
    if os.path.exists(archive):
        os.remove(archive)
    listing = "".join(p + "\n" for p in paths)
    subprocess.run([zip_program, "-q", "-9", "-@", os.path.abspath(archive)],
                   input=listing.encode(), cwd=work, check=True, env=dict(os.environ, TZ="UTC"))
    facts = new_facts(case, "pkg_model_numpy.pt unpacked and zipped again by Info-ZIP (zip -9): "
                            "deflated and stored entries, directory entries, the UT and ux extra "
                            "fields, no alignment and no data descriptor. The prefix folder is "
                            "still pkg_model_numpy, and torch still loads it.")
    facts["made_with"] = ("unpack, give every file and folder the time 2023-01-02T03:04:06Z, then "
                          "pass the byte-sorted list of all folders and files to "
                          "`zip -q -9 -@ OUT` with TZ=UTC")
    facts["zip_tool_version"] = _zip_tool_version(zip_program)
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 8

    def verify(importer):
        m = importer.load_pickle("model", "model.pkl")
        with torch.no_grad():
            y = m(x)
        return {"output": describe_tensor(y),
                "state_dict": {k: describe_tensor(v) for k, v in m.state_dict().items()}}
    finish(case, archive, facts, verify)
    facts = read_facts(archive)
    original = read_facts(source_archive)
    facts["output_equals_original_pkg_model_numpy"] = (
        facts["loads"]["output"] == original["loads"]["output"])
    write_facts(archive, facts)
    return archive


def bad_no_prefix(source_archive):
    """The records of `source_archive` zipped without their prefix folder."""
    case, archive = "bad_no_prefix", "bad_no_prefix.zip"
    with zipfile.ZipFile(source_archive) as zin, \
            zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            rel = info.filename.split("/", 1)[1]
            zout.writestr(zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0)), zin.read(info))
    facts = new_facts(case, "Invalid: the records of pkg_minimal_text_only.pt zipped without "
                            "their prefix folder, as `zip -r` run inside the folder would do. "
                            "PyTorch refuses it.", kind=INVALID)
    for label, attempt in [("PyTorchFileReader", lambda: torch._C.PyTorchFileReader(archive)),
                           ("PackageImporter", lambda: PackageImporter(archive))]:
        try:
            attempt()
            facts[label] = "opened (unexpected)"
        except Exception as e:
            facts[label] = one_line_error(e)
    finish(case, archive, facts, None)
    return archive
