"""The `loads` facts of the corpus, computed from any importer.

Each function below computes, from an opened importer, exactly the facts
that tests/corpus/make_corpus.py recorded with real torch.package into the
`loads` key of `<archive>.expected.json`, so a loader passes when its facts
equal the recorded ones.
"""
import hashlib
import re

_MANGLED = re.compile(r"<torch_package_\d+>")


def _demangle(name):
    return _MANGLED.sub("", name).lstrip(".")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def describe_tensor(t):
    import torch

    d = {
        "type": type(t).__name__,
        "dtype": str(t.dtype),
        "shape": list(t.shape),
        "stride": list(t.stride()),
        "storage_offset": t.storage_offset(),
        "storage_numel": t.storage().size(),
        "requires_grad": bool(t.requires_grad),
    }
    t = t.detach()
    c = t.contiguous()
    if t.is_complex():
        s = complex(c.to(torch.complex128).sum().item())
        d["sum"] = [s.real, s.imag]
        vals = [[z.real, z.imag] for z in c.to(torch.complex128).flatten().tolist()]
    elif t.dtype == torch.bool:
        d["sum"] = int(c.sum().item())
        vals = c.flatten().tolist()
    elif t.is_floating_point():
        d["sum"] = float(c.to(torch.float64).sum().item())
        vals = c.to(torch.float64).flatten().tolist()
    else:
        d["sum"] = int(c.to(torch.int64).sum().item())
        vals = c.flatten().tolist()
    if len(vals) <= 32:
        d["values_flat"] = vals
    d["contiguous_bytes_sha256"] = sha256(bytes(c.reshape(-1).view(torch.uint8).tolist()) if c.numel() else b"")
    return d


def storage_groups(named):
    groups = {}
    for name, t in named.items():
        groups.setdefault(t.storage().data_ptr(), []).append(name)
    return sorted(sorted(g) for g in groups.values())


def model_numpy(imp):
    import torch

    x = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 8
    m = imp.load_pickle("model", "model.pkl")
    with torch.no_grad():
        y = m(x)
    return {
        "class": _demangle(type(m).__module__) + "." + type(m).__qualname__,
        "class_module_is_mangled": type(m).__module__.startswith("<torch_package_"),
        "input": "torch.arange(8, dtype=float32).reshape(2, 4) / 8",
        "output": describe_tensor(y),
        "state_dict": {k: describe_tensor(v) for k, v in m.state_dict().items()},
        "class_names": m.class_names.tolist(),
        "weights_np": m.weights_np.tolist(),
        "np_total": m.np_total(),
    }


def deflated(imp):
    import torch

    x = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 8
    m = imp.load_pickle("model", "model.pkl")
    with torch.no_grad():
        y = m(x)
    return {"output": describe_tensor(y), "state_dict": {k: describe_tensor(v) for k, v in m.state_dict().items()}}


def mocked(imp):
    import torch

    x = torch.tensor([[1.0, -2.0]])
    m = imp.load_pickle("model", "net.pkl")
    with torch.no_grad():
        y = m(x)
    try:
        m.report()
        rep = "no error"
    except NotImplementedError as e:
        rep = "NotImplementedError: " + str(e).replace(imp.id(), "<torch_package_N>")
    heavy = imp.import_module("corpus_mock.heavy")
    attr = heavy.expensive_report
    return {
        "output": describe_tensor(y),
        "report_call": rep,
        "mocked_attr_repr": repr(attr).replace(imp.id(), "<torch_package_N>"),
        "mocked_attr_type": type(attr).__name__,
        "corpus_mock_package_is_implicit": imp.import_module("corpus_mock").__file__ is None,
    }


def resources(imp):
    m = imp.import_module("respkg")
    return {
        "read_greeting": m.read_greeting(),
        "via_files_api": m.via_files_api(),
        "via_importer": m.via_importer(),
        "read_blob_sha256": sha256(m.read_blob()),
        "list_contents": m.list_contents(),
        "load_text_nested": imp.load_text("respkg.sub", "nested.txt"),
        "load_binary_assets_table_hex": imp.load_binary("assets", "table.bin").hex(),
        "sub_mod_X": imp.import_module("respkg.sub.mod").X,
        "respkg_file_attr": m.__file__.replace(imp.id(), "<torch_package_N>"),
        "respkg_name_attr": m.__name__.replace(imp.id(), "<torch_package_N>"),
        "respkg_has___torch_package__": bool(m.__dict__.get("__torch_package__")),
        "respkg_sub_is_implicit_package": imp.import_module("respkg.sub").__file__ is None,
    }


def shared_views(imp):
    a = imp.load_pickle("views", "a.pkl")
    b = imp.load_pickle("views", "b.pkl")
    return {
        "a.pkl": {k: describe_tensor(v) for k, v in a.items()},
        "b.pkl": {k: describe_tensor(v) for k, v in b.items()},
        "a.pkl_storage_groups": storage_groups(a),
        "b.pkl_storage_groups": storage_groups(b),
        "a.base_and_b.again_base_share_storage_after_load":
            a["base"].storage().data_ptr() == b["again_base"].storage().data_ptr(),
    }


def reduce_package(imp):
    o = imp.load_pickle("obj", "vocab.pkl")
    return {
        "first.words": o["first"].words,
        "other.words": o["other"].words,
        "first_is_same_again": o["first"] is o["same_again"],
        "class": _demangle(type(o["first"]).__module__) + "." + type(o["first"]).__qualname__,
        "vocab_store_0": imp.load_text("vocab_store", "vocab_0.txt"),
    }


def dtypes(imp):
    o = imp.load_pickle("tensors", "all.pkl")
    p = imp.load_pickle("tensors", "param.pkl")
    return {"all.pkl": {k: describe_tensor(v) for k, v in o.items()},
            "param.pkl": describe_tensor(p),
            "param_type": type(p).__name__}


def torchscript(imp):
    import torch

    x = torch.tensor([[1.0, 2.0, 3.0]])
    o = imp.load_pickle("model", "scripted.pkl")
    alone = imp.load_pickle("model", "scripted_alone.pkl")
    with torch.no_grad():
        y = o["script"](x)
    return {
        "script_type": type(o["script"]).__name__,
        "script_is_script_again": o["script"] is o["script_again"],
        "output_for_[[1,2,3]]": describe_tensor(y),
        "w_shared": describe_tensor(o["w_shared"]),
        "w_shared_shares_storage_with_script_w":
            o["w_shared"].storage().data_ptr() == o["script"].w.storage().data_ptr(),
        "scripted_alone_output": describe_tensor(alone(x).detach()),
    }


def fx(imp):
    import torch

    x = torch.tensor([[0.5, -1.0]])
    g = imp.load_pickle("model", "gm.pkl")
    with torch.no_grad():
        y = g(x)
    return {"output": describe_tensor(y), "code_contains_relu": "relu" in g.code}


def minimal(imp):
    return {"readme": imp.load_text("notes", "readme.txt"), "extern_modules_attr": list(imp.extern_modules)}


def protocol4(imp):
    o = imp.load_pickle("data", "points.pkl")
    return {"p.x": o["p"].x, "p.y": o["p"].y, "p.payload": describe_tensor(o["p"].payload),
            "pts0_is_p": o["pts"][0] is o["p"],
            "pts1": [o["pts"][1].x, o["pts"][1].y, o["pts"][1].payload]}


def repackaged(imp):
    import torch

    x = torch.tensor([[1.0, -2.0]])
    m = imp.load_pickle("model", "net.pkl")
    with torch.no_grad():
        y = m(x)
    return {"output": describe_tensor(y)}


FACTS = {
    "pkg_model_numpy.pt": model_numpy,
    "pkg_deflated_by_zip_tool.pt": deflated,
    "pkg_mocked.pt": mocked,
    "pkg_resources.pt": resources,
    "pkg_shared_views.pt": shared_views,
    "pkg_reduce_package.pt": reduce_package,
    "pkg_dtypes.pt": dtypes,
    "pkg_torchscript.pt": torchscript,
    "pkg_fx_graph_module.pt": fx,
    "pkg_minimal_text_only.pt": minimal,
    "pkg_protocol4.pt": protocol4,
    "pkg_repackaged.pt": repackaged,
}
