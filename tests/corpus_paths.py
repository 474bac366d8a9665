"""Where the tests find the test corpus, and whether it is still what was made.

The corpus (real PyTorch archives and their `<archive>.expected.json` facts)
is made by the build: tests/corpus/make_corpus.py writes it into
<builddir>/tests/corpus, MANIFEST.json last. The build folder comes from
TPKG_BUILD_DIR (default: build/ in the repository; a relative one is taken from the
folder pytest started in, once, so that tests that change folder still find it). Tests only read it:
anything that may write works on a copy (tests/conftest.py checks at the
end of the session that nothing changed).
"""
import hashlib
import json
import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("TPKG_BUILD_DIR", REPO / "build")).resolve()
CORPUS = BUILD / "tests" / "corpus"
MANIFEST = CORPUS / "MANIFEST.json"

HOW_TO_MAKE = (f"make it with `ninja -C {BUILD}` (it runs tests/corpus/make_corpus.py with "
               f"/usr/bin/python3 and zip), or point TPKG_BUILD_DIR at a build that has it")


def missing():
    """Why the corpus cannot be used, or None when it is there."""
    if not MANIFEST.is_file():
        return f"the test corpus is missing ({MANIFEST} does not exist): {HOW_TO_MAKE}"
    return None


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def changes():
    """Every difference between the corpus folder and its MANIFEST.json: files changed,
    gone or added (a journal left beside an archive, for example)."""
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))
    listed = {MANIFEST.name}
    found = []
    for entry in entries:
        for name, digest in ((entry["archive"], entry["sha256"]),
                             (entry["expected"], entry.get("expected_sha256"))):
            listed.add(name)
            path = CORPUS / name
            if not path.is_file():
                found.append(f"{name} is gone")
            elif digest is not None and _sha256(path) != digest:
                found.append(f"{name} was modified")
    found += [f"{p.name} was added" for p in sorted(CORPUS.iterdir()) if p.name not in listed]
    return found
