"""`tpkg scan --format sarif`: valid SARIF 2.1.0, and what GitHub code scanning needs of it.

The schema is the SARIF SDK's copy of the SARIF 2.1.0 JSON schema, kept in the repository
(tests/data/sarif-schema-2.1.0.json; origin and licence beside it), validated with Debian's
python3-jsonschema. GitHub's own requirements beyond the schema are the ones the SARIF SDK's
validator encodes as its "GH" rules (Sarif.Multitool 5.7.0 `validate --rule-kind Gh`), checked
here one by one:
  GH1001/GH1016/GH1017  every result location has physicalLocation.artifactLocation.uri
  GH1003/GH1017         ... and a region with startLine >= 1
  GH1005                locations are relative references or absolute file: URIs
  GH1006                absolute file: URIs need the checkout path: invocations[].workingDirectory
  GH1007/GH1015         results have message.text and 1..10 locations (more are not shown)
  GH1013/GH1014/GH1018  $schema, version 2.1.0, runs (at most 20), tool.driver.name and rules,
                        results (even empty)
  GH2012                rules have id, shortDescription, fullDescription and help.text
and from the SARIF rules of the same validator: SARIF1001 (a rule's name differs from its id),
SARIF1004 (a relative reference does not start with a slash), SARIF2005 (driver version).
partialFingerprints are optional for GitHub; they are given, stable across runs.
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.parse
import zipfile

import pytest

jsonschema = pytest.importorskip(
    "jsonschema", reason="python3-jsonschema (scripts/packages.list) validates the SARIF output")

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
SCHEMA = REPO / "tests" / "data" / "sarif-schema-2.1.0.json"
# RFC 3986 characters of a URI reference (percent signs only before two hex digits).
URI_REFERENCE = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")


def sarif(tpkg_bin, *paths, cwd=None):
    result = subprocess.run([tpkg_bin, "scan", "--format", "sarif", *map(str, paths)],
                            capture_output=True, timeout=300, cwd=cwd)
    assert result.returncode in (0, 1, 2), result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def outputs(tpkg_bin, corpus_dir, tmp_path_factory):
    """SARIF of every kind of run: relative and absolute paths, odd names, a package folder
    with a finding in a source, clean files, unreadable files."""
    hostile = tmp_path_factory.mktemp("hostile")
    subprocess.run([sys.executable, str(REPO / "tests" / "hostile" / "make_hostile_corpus.py"),
                    "--out", str(hostile)], check=True, timeout=60)
    odd = tmp_path_factory.mktemp("odd") / "odd dir #1"
    odd.mkdir()
    shutil.copy(hostile / "global_os_system.pkl", odd / "mödel:1 (copy).pkl")
    package = tmp_path_factory.mktemp("package")
    with zipfile.ZipFile(corpus_dir / "pkg_model_numpy.pt") as z:
        z.extractall(package)
    [package_root] = [p for p in package.iterdir() if p.is_dir()]
    (package_root / "corpus_models" / "util.py").write_text("import os\nos.system('id')\n")
    runs = {
        "hostile, relative": sarif(tpkg_bin, hostile.name, cwd=hostile.parent),
        "hostile, absolute": sarif(tpkg_bin, *sorted(hostile.iterdir())),
        "odd names": sarif(tpkg_bin, odd.name, cwd=odd.parent),
        "odd names, absolute": sarif(tpkg_bin, odd),
        "package folder": sarif(tpkg_bin, package_root.name, cwd=package),
        "clean": sarif(tpkg_bin, corpus_dir / "pkg_dtypes.pt"),
        "unreadable": sarif(tpkg_bin, hostile / "truncated.pkl"),
    }
    return runs, {"odd": odd, "package_root": package_root}


def test_sarif_validates_against_the_2_1_0_schema(outputs, validator):
    runs, _ = outputs
    for name, (_, doc) in runs.items():
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, (name, errors[:10])


def test_the_schema_refuses_what_it_must(validator, outputs):
    """The validator is live: a result without a message, a wrong version are refused."""
    runs, _ = outputs
    _, doc = runs["hostile, relative"]
    broken = json.loads(json.dumps(doc))
    del broken["runs"][0]["results"][0]["message"]
    assert list(validator.iter_errors(broken))
    broken = json.loads(json.dumps(doc))
    broken["version"] = "2.0.0"
    assert list(validator.iter_errors(broken))


def all_locations(run):
    for result in run["results"]:
        yield from result["locations"]
    for invocation in run.get("invocations", []):
        for notification in invocation.get("toolExecutionNotifications", []):
            yield from notification.get("locations", [])


def test_sarif_meets_github_code_scanning_requirements(outputs):
    runs, _ = outputs
    for name, (status, doc) in runs.items():
        assert doc["$schema"] and doc["version"] == "2.1.0", name
        assert 1 <= len(doc["runs"]) <= 20, name
        for run in doc["runs"]:
            driver = run["tool"]["driver"]
            assert driver["name"] == "tpkg-scan" and isinstance(driver["rules"], list), name
            assert driver["version"] and driver["semanticVersion"], name
            assert isinstance(run["results"], list), name
            for rule in driver["rules"]:
                assert rule["id"], name
                assert rule.get("name", "") != rule["id"], (name, rule)
                for key in ("shortDescription", "fullDescription", "help"):
                    assert rule[key]["text"].strip(), (name, rule)
                assert rule["shortDescription"]["text"] != rule["id"], (name, rule)
            for result in run["results"]:
                assert result["ruleId"] and result["message"]["text"], (name, result)
                assert 1 <= len(result["locations"]) <= 10, (name, result)
                for location in result["locations"]:
                    region = location["physicalLocation"]["region"]
                    assert region["startLine"] >= 1, (name, result)
            absolute = False
            for location in all_locations(run):
                uri = location["physicalLocation"]["artifactLocation"]["uri"]
                assert URI_REFERENCE.match(uri), (name, uri)
                if uri.startswith("file:///"):
                    absolute = True
                else:
                    assert ":" not in uri.split("/")[0] and not uri.startswith("/"), (name, uri)
            if absolute:
                assert run["invocations"][0]["workingDirectory"]["uri"].startswith("file:///")
            assert run["invocations"][0]["exitCode"] == status, name


def test_sarif_uris_name_the_scanned_files(outputs):
    runs, places = outputs
    odd = places["odd"]
    [file_name] = [p.name for p in odd.iterdir()]
    for name, expected in (("odd names", f"{odd.name}/{file_name}"),
                           ("odd names, absolute", str(odd / file_name))):
        _, doc = runs[name]
        uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
                for loc in all_locations(doc["runs"][0])}
        paths = {urllib.parse.unquote(u.removeprefix("file://")) for u in uris}
        assert paths == {expected}, (name, uris)


def test_sarif_places_package_folder_findings_in_their_source(outputs):
    runs, places = outputs
    status, doc = runs["package folder"]
    assert status == 1
    [result] = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "source.dangerous-call"]
    [location] = result["locations"]
    root = places["package_root"].name
    assert location["physicalLocation"]["artifactLocation"]["uri"] == \
        f"{root}/corpus_models/util.py"
    assert location["physicalLocation"]["region"]["startLine"] == 2
    assert result["level"] == "error"


def test_sarif_fingerprints_are_stable_and_distinct(tpkg_bin, outputs):
    runs, _ = outputs
    _, first = runs["hostile, absolute"]
    prints = [r["partialFingerprints"]["tpkgScanFinding/v1"] for r in first["runs"][0]["results"]]
    assert len(prints) == len(set(prints))
    paths = sorted({loc["physicalLocation"]["artifactLocation"]["uri"].removeprefix("file://")
                    for loc in all_locations(first["runs"][0])})
    _, again = sarif(tpkg_bin, *map(urllib.parse.unquote, paths))
    assert [r["partialFingerprints"] for r in again["runs"][0]["results"]] == \
        [r["partialFingerprints"] for r in first["runs"][0]["results"]]


def test_clean_and_unreadable_runs(outputs):
    runs, _ = outputs
    status, doc = runs["clean"]
    assert status == 0 and doc["runs"][0]["results"] == []
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is True
    status, doc = runs["unreadable"]
    assert status == 2
    invocation = doc["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["level"] == "error"
