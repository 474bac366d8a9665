"""Cases about packaged code: interning, externing, mocking, resources, hooks, repackaging."""
import os
import struct
import zipfile

import torch
import torch.package.package_exporter as package_exporter
from torch.package import PackageExporter, PackageImporter, sys_importer
from torch.package._mangling import demangle

from case_record import finish, new_facts
from interned_sources import RESPKG_INIT, import_source
from torch_facts import describe_tensor, exporter_info, sha256

MANGLED = "<torch_package_N>"  # the importer's number depends on how many came before


def qualified_class(obj):
    return demangle(type(obj).__module__) + "." + type(obj).__qualname__


def model_numpy():
    case, archive = "pkg_model_numpy", "pkg_model_numpy.pt"
    model = import_source("corpus_models.model")
    torch.manual_seed(0)
    net = model.TinyNet()
    with PackageExporter(archive) as exporter:
        exporter.extern("numpy.**")
        exporter.intern("corpus_models.**")
        exporter.save_pickle("model", "model.pkl", net)
    facts = new_facts(case, "A pickled nn.Module whose code is interned from the package "
                            "corpus_models (found through absolute, relative and package-level "
                            "imports); numpy, used by the code and by pickled arrays, is externed.")
    facts["export_calls"] = ["extern('numpy.**')", "intern('corpus_models.**')",
                             "save_pickle('model', 'model.pkl', TinyNet())"]
    facts["exporter"] = exporter_info(
        exporter, rdeps=["corpus_models.layers", "corpus_models", "numpy", "torch"],
        paths=[("<model.model.pkl>", "numpy"), ("corpus_models.model", "corpus_models.layers")])
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 8

    def verify(importer):
        m = importer.load_pickle("model", "model.pkl")
        with torch.no_grad():
            y = m(x)
        return {
            "class": qualified_class(m),
            "class_module_is_mangled": type(m).__module__.startswith("<torch_package_"),
            "input": "torch.arange(8, dtype=float32).reshape(2, 4) / 8",
            "output": describe_tensor(y),
            "state_dict": {k: describe_tensor(v) for k, v in m.state_dict().items()},
            "class_names": m.class_names.tolist(),
            "weights_np": m.weights_np.tolist(),
            "np_total": m.np_total(),
        }
    finish(case, archive, facts, verify)
    return archive


def mocked():
    case, archive = "pkg_mocked", "pkg_mocked.pt"
    net_module = import_source("corpus_mock.net")
    torch.manual_seed(1)
    net = net_module.MockNet()
    with PackageExporter(archive) as exporter:
        exporter.mock(["corpus_mock.heavy", "corpus_mock.heavy_pkg.**"])
        exporter.intern("corpus_mock.**")
        exporter.save_pickle("model", "net.pkl", net)
    facts = new_facts(case, "Interned code importing a module and a package that are both "
                            "mocked: each becomes a stub (heavy.py, heavy_pkg/__init__.py) and "
                            "torch's _mock.py is added.")
    facts["export_calls"] = ["mock(['corpus_mock.heavy', 'corpus_mock.heavy_pkg.**'])",
                             "intern('corpus_mock.**')",
                             "save_pickle('model', 'net.pkl', MockNet())"]
    facts["exporter"] = exporter_info(exporter, rdeps=["corpus_mock.heavy", "torch"],
                                      paths=[("corpus_mock.net", "corpus_mock.heavy")])
    with zipfile.ZipFile(archive) as z:
        mock_py = z.read(case + "/_mock.py")
        stub = z.read(case + "/corpus_mock/heavy.py")
        stub_package = z.read(case + "/corpus_mock/heavy_pkg/__init__.py")
    with open(os.path.join(os.path.dirname(package_exporter.__file__), "_mock.py"), "rb") as f:
        installed_mock_py = f.read()
    facts["mock_files"] = {
        "_mock.py_sha256": sha256(mock_py),
        "_mock.py_identical_to_installed_torch_package__mock.py": mock_py == installed_mock_py,
        "_mock.py_size": len(mock_py),
        "stub_module_text": stub.decode(),
        "stub_package_init_text": stub_package.decode(),
        "stub_texts_identical": stub == stub_package,
    }
    x = torch.tensor([[1.0, -2.0]])

    def verify(importer):
        m = importer.load_pickle("model", "net.pkl")
        with torch.no_grad():
            y = m(x)
        try:
            m.report()
            report = "no error"
        except NotImplementedError as e:
            report = "NotImplementedError: " + str(e).replace(importer.id(), MANGLED)
        attr = importer.import_module("corpus_mock.heavy").expensive_report
        return {
            "output": describe_tensor(y),
            "report_call": report,
            "mocked_attr_repr": repr(attr).replace(importer.id(), MANGLED),
            "mocked_attr_type": type(attr).__name__,
            "corpus_mock_package_is_implicit":
                importer.import_module("corpus_mock").__file__ is None,
        }
    finish(case, archive, facts, verify)
    return archive


def resources():
    case, archive = "pkg_resources", "pkg_resources.pt"
    blob = bytes(range(256))
    table = struct.pack("<4f", 1.0, 2.5, -3.25, 1e-3)
    with PackageExporter(archive) as exporter:
        exporter.save_source_string("respkg", RESPKG_INIT, is_package=True)
        exporter.save_source_string("respkg.sub.mod", "X = 5\n")
        exporter.save_text("respkg", "greeting.txt", "héllo wörld\n")
        exporter.save_binary("respkg", "blob.bin", blob)
        exporter.save_text("respkg.sub", "nested.txt", "nested resource")
        exporter.save_binary("assets", "table.bin", table)
    facts = new_facts(case, "Sources given as strings (a package __init__ and a submodule whose "
                            "parent stays implicit), text (non-ASCII) and binary resources, a "
                            "package holding only a resource, and packaged code that reads its "
                            "resources through importlib.resources and torch_package_importer.")
    facts["export_calls"] = [
        "save_source_string('respkg', <RESPKG_INIT>, is_package=True)",
        "save_source_string('respkg.sub.mod', 'X = 5\\n')",
        "save_text('respkg', 'greeting.txt', 'héllo wörld\\n')",
        "save_binary('respkg', 'blob.bin', bytes(range(256)))",
        "save_text('respkg.sub', 'nested.txt', 'nested resource')",
        "save_binary('assets', 'table.bin', struct.pack('<4f', 1.0, 2.5, -3.25, 1e-3))",
    ]
    facts["exporter"] = exporter_info(exporter, rdeps=["importlib.resources"])

    def verify(importer):
        m = importer.import_module("respkg")
        return {
            "read_greeting": m.read_greeting(),
            "via_files_api": m.via_files_api(),
            "via_importer": m.via_importer(),
            "read_blob_sha256": sha256(m.read_blob()),
            "list_contents": m.list_contents(),
            "load_text_nested": importer.load_text("respkg.sub", "nested.txt"),
            "load_binary_assets_table_hex": importer.load_binary("assets", "table.bin").hex(),
            "sub_mod_X": importer.import_module("respkg.sub.mod").X,
            "respkg_file_attr": m.__file__.replace(importer.id(), MANGLED),
            "respkg_name_attr": m.__name__.replace(importer.id(), MANGLED),
            "respkg_has___torch_package__": bool(m.__dict__.get("__torch_package__")),
            "respkg_sub_is_implicit_package":
                importer.import_module("respkg.sub").__file__ is None,
        }
    finish(case, archive, facts, verify)
    return archive


def reduce_package():
    case, archive = "pkg_reduce_package", "pkg_reduce_package.pt"
    vocab = import_source("corpus_reduce.vocab")
    v = vocab.Vocab(["alpha", "beta", "gamma"])
    with PackageExporter(archive) as exporter:
        exporter.intern("corpus_reduce.**")
        exporter.save_pickle("obj", "vocab.pkl",
                             {"first": v, "same_again": v, "other": vocab.Vocab(["x"])})
    facts = new_facts(case, "An interned class with a __reduce_package__ hook that saves a text "
                            "resource and returns (loader, args); one object is pickled twice. "
                            "The persistent id holds id(obj), so the pickle's bytes change from "
                            "run to run.")
    facts["export_calls"] = [
        "intern('corpus_reduce.**')",
        "save_pickle('obj', 'vocab.pkl', {'first': v, 'same_again': v, 'other': Vocab(['x'])})"]
    facts["exporter"] = exporter_info(exporter, rdeps=["corpus_reduce.vocab"])

    def verify(importer):
        o = importer.load_pickle("obj", "vocab.pkl")
        return {
            "first.words": o["first"].words,
            "other.words": o["other"].words,
            "first_is_same_again": o["first"] is o["same_again"],
            "class": qualified_class(o["first"]),
            "vocab_store_0": importer.load_text("vocab_store", "vocab_0.txt"),
        }
    finish(case, archive, facts, verify)
    return archive


def protocol4():
    case, archive = "pkg_protocol4", "pkg_protocol4.pt"
    records = import_source("corpus_p4.records")
    p = records.Point(1, 2, torch.tensor([3.0, 4.0]))
    with PackageExporter(archive) as exporter:
        exporter.intern("corpus_p4.**")
        exporter.save_pickle("data", "points.pkl", {"p": p, "pts": [p, records.Point(5, 6, None)]},
                             pickle_protocol=4)
    facts = new_facts(case, "Objects of an interned class pickled with protocol 4, where globals "
                            "are named by SHORT_BINUNICODE strings, STACK_GLOBAL and the memo "
                            "rather than by GLOBAL.")
    facts["export_calls"] = ["intern('corpus_p4.**')",
                             "save_pickle('data', 'points.pkl', {...}, pickle_protocol=4)"]
    facts["exporter"] = exporter_info(exporter, rdeps=["corpus_p4.records"])

    def verify(importer):
        o = importer.load_pickle("data", "points.pkl")
        return {"p.x": o["p"].x, "p.y": o["p"].y, "p.payload": describe_tensor(o["p"].payload),
                "pts0_is_p": o["pts"][0] is o["p"],
                "pts1": [o["pts"][1].x, o["pts"][1].y, o["pts"][1].payload]}
    finish(case, archive, facts, verify)
    return archive


def repackaged(mocked_archive):
    case, archive = "pkg_repackaged", "pkg_repackaged.pt"
    source = PackageImporter(mocked_archive)
    net = source.load_pickle("model", "net.pkl")
    with PackageExporter(archive, importer=(source, sys_importer)) as exporter:
        exporter.intern("**")
        exporter.save_pickle("model", "net.pkl", net)
    facts = new_facts(case, "pkg_mocked.pt loaded, then exported again through "
                            "importer=(its importer, sys_importer) with intern('**'). The _mock "
                            "module is taken over as a repackaged mock, and both stubs are now "
                            "written as <name>/__init__.py because a stub answers every attribute, "
                            "__path__ included.")
    facts["export_calls"] = [
        "PackageExporter('pkg_repackaged.pt', "
        "importer=(PackageImporter('pkg_mocked.pt'), sys_importer))",
        "intern('**')", "save_pickle('model', 'net.pkl', <net loaded from pkg_mocked.pt>)"]
    facts["exporter"] = exporter_info(exporter, rdeps=["_mock"])
    x = torch.tensor([[1.0, -2.0]])

    def verify(importer):
        m = importer.load_pickle("model", "net.pkl")
        with torch.no_grad():
            y = m(x)
        return {"output": describe_tensor(y)}
    finish(case, archive, facts, verify)
    return archive
