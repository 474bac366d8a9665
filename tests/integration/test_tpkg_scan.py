"""`tpkg scan`: verdicts on the hostile corpus (tests/hostile/make_hostile_corpus.py,
one file per published class of scanner bypass, its expected verdict recorded
beside it), no finding on what real torch writes (the build's corpus, the
torch 2.6 archives in tests/data/torch2/, a legacy torch.save and a mounted-style
package folder made here), exit statuses, and the JSON and SARIF shapes.
"""
import json
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
TORCH2 = REPO / "tests" / "data" / "torch2"
TORCH_PYTHON = "/usr/bin/python3"
SEVERITY_RANK = {"info": 0, "suspicious": 1, "malicious": 2}


def run(*args):
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=300)


def scan_json(tpkg_bin, *paths):
    result = run(tpkg_bin, "scan", "--format", "json", *paths)
    assert result.returncode in (0, 1, 2), result.stderr
    doc = json.loads(result.stdout)
    assert doc["exit_status"] == result.returncode
    return result.returncode, doc


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    subprocess.run([sys.executable, str(REPO / "tests" / "hostile" / "make_hostile_corpus.py"),
                    "--out", str(out)], check=True, timeout=60)
    return out, json.loads((out / "EXPECTED.json").read_text())


def hostile_names():
    sys.path.insert(0, str(REPO / "tests" / "hostile"))
    import make_hostile_corpus
    return sorted(make_hostile_corpus.CASES)


@pytest.mark.parametrize("name", hostile_names())
def test_hostile_case_gets_its_recorded_verdict(tpkg_bin, hostile, name):
    folder, expected = hostile
    want = expected[name]
    status, doc = scan_json(tpkg_bin, folder / name)
    [result] = doc["files"]
    assert result["verdict"] == want["verdict"], result
    assert status == {"clean": 0, "findings": 1, "unreadable": 2}[want["verdict"]]
    rules = {f["rule"] for f in result["findings"]}
    for rule in want["rules"]:
        assert rule in rules, result
    if want["severity"]:
        worst = max(SEVERITY_RANK[f["severity"]] for f in result["findings"])
        assert worst == SEVERITY_RANK[want["severity"]], result
    for f in result["findings"]:
        if f["rule"].startswith("pickle.") and f["rule"] != "pickle.trailing-data":
            assert f["offset"] is not None and f["offset"] >= 0, f
        if f["rule"] in ("pickle.global-not-allowed", "pickle.computed-global"):
            assert f["opcode"] in ("GLOBAL", "STACK_GLOBAL", "INST"), f


def test_hostile_folder_scan_reports_every_file(tpkg_bin, hostile):
    folder, expected = hostile
    status, doc = scan_json(tpkg_bin, folder)
    assert status == 2  # truncated.pkl and not_a_pickle.pkl cannot be read: never clean
    scanned = {pathlib.Path(f["path"]).name for f in doc["files"]}
    assert scanned == set(expected)


def real_torch_files(corpus_dir):
    files = [p for p in sorted(corpus_dir.iterdir())
             if p.suffix in (".pt", ".pth", ".pt2") and not p.name.startswith("bad_")]
    files += sorted(TORCH2.rglob("*.pt")) + sorted(TORCH2.rglob("*.pt2"))
    return files


def test_every_real_torch_file_has_no_finding(tpkg_bin, corpus_dir):
    files = real_torch_files(corpus_dir)
    assert len(files) >= 20
    status, doc = scan_json(tpkg_bin, *files)
    for result in doc["files"]:
        assert result["verdict"] == "clean" and result["findings"] == [], result
    assert status == 0


def test_kinds_are_recognised(tpkg_bin, corpus_dir):
    _, doc = scan_json(tpkg_bin, corpus_dir / "pkg_model_numpy.pt",
                       corpus_dir / "torch_save_checkpoint.pth", TORCH2 / "save.pt",
                       TORCH2 / "exported.pt2", TORCH2 / "scripted.pt")
    assert [f["kind"] for f in doc["files"]] == ["torch.package", "torch.save", "torch.save",
                                                 "torch.export", "torchscript"]


def test_legacy_and_torchscript_files_from_real_torch_are_clean(tpkg_bin, tmp_path):
    script = f"""
import torch
torch.save({{'w': torch.ones(3), 'n': torch.arange(4)}}, {str(tmp_path / 'legacy.pt')!r},
           _use_new_zipfile_serialization=False)
torch.save(torch.nn.Linear(2, 3).state_dict(), {str(tmp_path / 'linear.pt')!r})
torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), {str(tmp_path / 'scripted.pt')!r})
"""
    subprocess.run([TORCH_PYTHON, "-c", script], check=True, timeout=240, capture_output=True)
    status, doc = scan_json(tpkg_bin, tmp_path / "legacy.pt", tmp_path / "linear.pt",
                            tmp_path / "scripted.pt")
    assert [f["kind"] for f in doc["files"]] == ["torch.save (legacy)", "torch.save",
                                                 "torchscript"]
    for result in doc["files"]:
        assert result["verdict"] == "clean", result
    assert status == 0


def test_package_folder_is_scanned_as_one_package(tpkg_bin, corpus_dir, tmp_path):
    with zipfile.ZipFile(corpus_dir / "pkg_model_numpy.pt") as z:
        z.extractall(tmp_path)
    [root] = [p for p in tmp_path.iterdir() if p.is_dir()]
    status, doc = scan_json(tpkg_bin, root)
    assert status == 0
    assert [f["kind"] for f in doc["files"]] == ["directory (torch.package)"]
    (root / "corpus_models" / "util.py").write_text("import os\nos.system('id')\n")
    status, doc = scan_json(tpkg_bin, root)
    assert status == 1
    [finding] = doc["files"][0]["findings"]
    assert finding["rule"] == "source.dangerous-call" and finding["severity"] == "malicious"
    assert finding["line"] == 2
    # Named as in the archive, not after the folder again (it was "<root>!corpus_models/...").
    assert finding["record"] == "corpus_models/util.py"
    text = run(tpkg_bin, "scan", root).stdout.decode()
    assert f" {root}!corpus_models/util.py:2: calls os.system" in text, text
    sarif = json.loads(run(tpkg_bin, "scan", "--format", "sarif", root).stdout)
    [result] = sarif["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("corpus_models/util.py"), location


def test_a_folder_without_model_files_is_named_on_stderr(tpkg_bin, corpus_dir, tmp_path):
    empty, other = tmp_path / "empty", tmp_path / "other"
    empty.mkdir()
    other.mkdir()
    (other / "readme.txt").write_text("no model here\n")
    shutil.copyfile(corpus_dir / "pkg_model_numpy.pt", tmp_path / "model.pt")
    for form in ("text", "json"):
        result = run(tpkg_bin, "scan", "--format", form, empty, f"{other}/", tmp_path / "model.pt")
        assert result.returncode == 0, result.stderr
        assert result.stderr.decode().splitlines() == [
            f"tpkg: scan: {empty}: no model file in this folder (nothing was scanned)",
            f"tpkg: scan: {other}/: no model file in this folder (nothing was scanned)"]
    # A folder with a model file in it says nothing more.
    result = run(tpkg_bin, "scan", tmp_path)
    assert result.returncode == 0 and result.stderr == b"", result.stderr


def test_a_subfolder_that_cannot_be_read_is_named_and_the_rest_scanned(tpkg_bin, corpus_dir):
    """As a user who may not read one subfolder (root reads every one): the files after it in
    the walk are still scanned, and the subfolder is named as unreadable."""
    import tempfile
    top = pathlib.Path(tempfile.mkdtemp(prefix="tpkg-scan-", dir="/tmp"))  # nobody walks /tmp
    try:
        for name in ("aa.pt", "locked", "zz.pt"):
            if name == "locked":
                (top / name).mkdir()
                shutil.copyfile(corpus_dir / "pkg_model_numpy.pt", top / name / "hidden.pt")
            else:
                shutil.copyfile(corpus_dir / "pkg_model_numpy.pt", top / name)
        (top / "locked").chmod(0o000)
        top.chmod(0o755)
        result = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                 str(tpkg_bin), "scan", "--format", "json", str(top)],
                                capture_output=True, timeout=300)
        doc = json.loads(result.stdout)
        assert result.returncode == doc["exit_status"] == 2, result.stderr
        results = {pathlib.Path(r["path"]).name: r for r in doc["files"]}
        assert set(results) == {"aa.pt", "locked", "zz.pt"}, results
        assert results["locked"]["unreadable"] == [f"{top}/locked: cannot walk the folder: "
                                                   "Permission denied"]
        assert not results["zz.pt"]["unreadable"]
    finally:
        (top / "locked").chmod(0o700)
        shutil.rmtree(top)


def test_text_output_and_exit_statuses(tpkg_bin, hostile, corpus_dir):
    folder, _ = hostile
    result = run(tpkg_bin, "scan", folder / "global_os_system.pkl")
    assert result.returncode == 1
    text = result.stdout.decode()
    assert "malicious pickle.global-not-allowed" in text and "os.system" in text
    result = run(tpkg_bin, "scan", corpus_dir / "pkg_dtypes.pt")
    assert result.returncode == 0 and "no findings" in result.stdout.decode()
    result = run(tpkg_bin, "scan", folder / "truncated.pkl")
    assert result.returncode == 2 and "not clean" in result.stdout.decode()
    result = run(tpkg_bin, "scan", folder / "does-not-exist.pkl")
    assert result.returncode == 2
    result = run(tpkg_bin, "scan")
    assert result.returncode == 2 and b"usage" in result.stderr
    result = run(tpkg_bin, "scan", "--format", "xml", folder / "truncated.pkl")
    assert result.returncode == 2


def test_policy_file_extends_the_allowlist(tpkg_bin, hostile, tmp_path):
    folder, _ = hostile
    target = folder / "package_module_not_provided.pt"
    printed = run(tpkg_bin, "scan", "--print-policy", folder / "obj_call.pkl")
    policy = json.loads(printed.stdout)
    assert policy["allow"] == {"torch.save": ["os.system"]}
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(printed.stdout.decode())
    assert run(tpkg_bin, "scan", folder / "obj_call.pkl").returncode == 1
    assert run(tpkg_bin, "scan", "--policy", policy_file, folder / "obj_call.pkl").returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text("{\"allow\": 3}")
    assert run(tpkg_bin, "scan", "--policy", bad, target).returncode == 2
    default = run(tpkg_bin, "scan", "--print-default-policy")
    assert default.returncode == 0
    assert "torch._utils._rebuild_tensor_v2" in json.loads(default.stdout)["allow"]["torch.save"]


def test_sarif_has_the_2_1_0_structure(tpkg_bin, hostile):
    folder, _ = hostile
    result = run(tpkg_bin, "scan", "--format", "sarif", folder / "zip_duplicate_names.pt",
                 folder / "package_interned_source_os_system.pt", folder / "truncated.pkl")
    assert result.returncode == 2
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    [run_] = sarif["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] and isinstance(driver["rules"], list)
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        float(rule["properties"]["security-severity"])
    assert run_["results"]
    for r in run_["results"]:
        assert r["ruleId"] == rule_ids[r["ruleIndex"]]
        assert r["level"] in ("error", "warning", "note")
        assert r["message"]["text"]
        [loc] = r["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"]
        assert loc["physicalLocation"]["region"]["startLine"] >= 1
    [invocation] = run_["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["level"] == "error"


def test_check_says_safety_is_scans_job(tpkg_bin):
    result = run(tpkg_bin, "check", "--help")
    assert b"tpkg scan" in result.stdout
