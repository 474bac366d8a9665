#!/usr/bin/env python3
"""Build the hostile corpus of `tpkg scan`: one file per published class of
scanner bypass, each with the verdict a correct scanner must give.

    python3 tests/hostile/make_hostile_corpus.py --out DIR

Writes the files and DIR/EXPECTED.json: {file: {"verdict": "findings" |
"unreadable" | "clean", "rules": [rule ids that must appear], "severity": the
worst severity expected (or null)}}. Only the standard library is used:
every byte is written here, nothing is loaded (never unpickle these files).
"""
import argparse
import io
import json
import pathlib
import pickle
import struct
import warnings
import zipfile

CASES = {}


def case(name, verdict, rules=(), severity=None):
    def register(make):
        CASES[name] = (make, {"verdict": verdict, "rules": list(rules), "severity": severity})
        return make
    return register


def unicode4(s):  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def short_bytes(b):  # SHORT_BINBYTES / BINBYTES
    return (b"C" + bytes([len(b)]) + b) if len(b) < 256 else (b"B" + struct.pack("<I", len(b)) + b)


OS_SYSTEM_P0 = b"cos\nsystem\n(S'echo pwned'\ntR."


def zip_bytes(records, prefix="archive", before=b""):
    """A ZIP of (name, bytes) in order (duplicates allowed), stored, after `before`."""
    buf = io.BytesIO()
    buf.write(before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for name, data in records:
                info = zipfile.ZipInfo(f"{prefix}/{name}" if prefix else name,
                                       date_time=(2023, 1, 2, 3, 4, 6))
                z.writestr(info, data)
    return buf.getvalue()


def benign_state_dict_pickle(protocol=2):
    """What torch.save writes for {'w': tensor} minus the tensor: an OrderedDict of ints."""
    import collections
    return pickle.dumps(collections.OrderedDict([("w", 1)]), protocol=protocol)


def torch_save_zip(data_pkl, extra=(), before=b""):
    return zip_bytes([("data.pkl", data_pkl), ("byteorder", b"little"), *extra,
                      ("version", b"3\n")], before=before)


def package_zip(records, extern="torch\ncollections\n"):
    return zip_bytes([(".data/version", b"6\n"), *records, (".data/extern_modules", extern.encode())])


# --- pickles as CPython runs them -----------------------------------------

@case("global_os_system.pkl", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    return OS_SYSTEM_P0


@case("stack_global_from_memo.pkl", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    # The strings are memoized, popped, then fetched back for STACK_GLOBAL:
    # scanners that look at the two opcodes before STACK_GLOBAL miss it.
    return (b"\x80\x04" + unicode4("os") + b"\x94" + unicode4("system") + b"\x94" + b"00"
            + b"h\x00h\x01\x93" + unicode4("echo pwned") + b"\x85R.")


@case("stack_global_computed.pkl", "findings", ["pickle.computed-global"], "malicious")
def _():
    # The module name is the result of a call: only the running program knows it.
    return (b"\x80\x04c__builtin__\nstr\n" + unicode4("os") + b"\x85R"
            + unicode4("system") + b"\x93" + unicode4("echo pwned") + b"\x85R.")


@case("ext_code.pkl", "findings", ["pickle.extension-code"], "suspicious")
def _():
    # EXT1 loads whatever copyreg's extension registry maps code 1 to.
    return b"\x80\x02\x82\x01U\x0aecho pwned\x85R."


@case("inst_builtins_eval.pkl", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    return b"(S'print(1)'\nibuiltins\neval\n."


@case("obj_call.pkl", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    return b"(cos\nsystem\nS'echo pwned'\no."


@case("newobj_ex_subprocess.pkl", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    return (b"\x80\x04" + unicode4("subprocess") + unicode4("Popen") + b"\x93"
            + unicode4("echo") + b"\x85}\x92.")


@case("python2_builtin_names.pkl", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    # fix_imports maps __builtin__ to builtins for protocols < 3.
    return b"\x80\x02c__builtin__\neval\nU\x08print(1)\x85R."


@case("nested_pickle.pkl", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    inner = b"\x80\x02" + OS_SYSTEM_P0
    return b"\x80\x03c_pickle\nloads\n" + short_bytes(inner) + b"\x85R."


@case("second_pickle_in_stream.pkl", "findings",
      ["pickle.several-pickles", "pickle.global-not-allowed"], "malicious")
def _():
    return benign_state_dict_pickle() + OS_SYSTEM_P0


@case("frame_crossing.pkl", "findings", ["pickle.frame-anomaly"], "suspicious")
def _():
    body = unicode4("abcdef") + b"."
    # The frame claims 3 bytes: the string opcode runs past its end, which
    # the C unpickler accepts and pickle._Unpickler refuses.
    return b"\x80\x04\x95" + struct.pack("<Q", 3) + body


@case("build_setstate_os.pkl", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    return b"\x80\x02cos\n_wrap_close\n)\x81}b."


@case("truncated.pkl", "unreadable")
def _():
    return OS_SYSTEM_P0[:-6]


@case("not_a_pickle.pkl", "unreadable")
def _():
    return b"\x80\x02\xff\xfe garbage"


@case("clean_ordered_dict.pkl", "clean")
def _():
    return benign_state_dict_pickle()


# --- torch.save: ZIP and legacy ---------------------------------------------

@case("torch_save_os_system.pt", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    return torch_save_zip(b"\x80\x02" + OS_SYSTEM_P0)


@case("legacy_torch_save_os_system.pt", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    out = io.BytesIO()
    pickle.dump(0x1950a86a20f9469cfc6c, out, protocol=2)  # torch's MAGIC_NUMBER
    pickle.dump(1001, out, protocol=2)                    # PROTOCOL_VERSION
    pickle.dump({"protocol_version": 1001, "little_endian": True}, out, protocol=2)
    out.write(b"\x80\x02" + OS_SYSTEM_P0)
    pickle.dump([], out, protocol=2)                      # storage keys
    return out.getvalue()


@case("legacy_torch_save_clean.pt", "clean")
def _():
    out = io.BytesIO()
    for obj in (0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001}):
        pickle.dump(obj, out, protocol=2)
    out.write(benign_state_dict_pickle())
    pickle.dump([], out, protocol=2)
    return out.getvalue() + b"\x00" * 64  # raw storage bytes follow the pickles


@case("zip_duplicate_names.pt", "findings", ["zip.container", "pickle.global-not-allowed"],
      "malicious")
def _():
    # torch's reader loads the first data.pkl; scanners that index by name see the last.
    return zip_bytes([("data.pkl", b"\x80\x02" + OS_SYSTEM_P0), ("byteorder", b"little"),
                      ("data.pkl", benign_state_dict_pickle()), ("version", b"3\n")])


@case("zip_case_differing_names.pt", "findings", ["zip.container", "pickle.global-not-allowed"],
      "malicious")
def _():
    return zip_bytes([("data.pkl", benign_state_dict_pickle()),
                      ("DATA.pkl", b"\x80\x02" + OS_SYSTEM_P0), ("version", b"3\n")])


@case("zip_local_vs_central_name.pt", "findings", ["zip.container", "pickle.global-not-allowed"],
      "malicious")
def _():
    data = bytearray(torch_save_zip(benign_state_dict_pickle(),
                                    extra=[("xtra.pkl", b"\x80\x02" + OS_SYSTEM_P0)]))
    # Rename the record in its local header only (same length).
    i = data.index(b"archive/xtra.pkl")
    data[i:i + 16] = b"archive/evil.txt"
    return bytes(data)


@case("nested_archive.zip", "findings", ["zip.nested-archive", "pickle.global-not-allowed"],
      "malicious")
def _():
    inner = torch_save_zip(b"\x80\x02" + OS_SYSTEM_P0)
    return zip_bytes([("model.pt", inner)], prefix="bundle")


@case("polyglot_pickle_then_zip.pt", "findings",
      ["zip.data-before-archive", "pickle.global-not-allowed"], "malicious")
def _():
    # torch.load unpickles a file that does not start with a ZIP local header;
    # tools reading the ZIP from its end see a clean torch.save archive.
    return torch_save_zip(benign_state_dict_pickle(), before=b"\x80\x02" + OS_SYSTEM_P0)


# --- torch.export (.pt2 as torch 2.x writes it: Python's zipfile, no prefix folder) ---

def pt2_bytes(records):
    return zip_bytes([("serialized_exported_program.json", b'{"graph_module": {}}'), *records,
                      ("version", b"7.0")], prefix=None)


@case("pt2_weights_os_system.pt2", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    # The weights are a torch.save archive nested as a record; torch.load runs its data.pkl.
    return pt2_bytes([("serialized_state_dict.pt", torch_save_zip(b"\x80\x02" + OS_SYSTEM_P0)),
                      ("serialized_constants.pt", torch_save_zip(benign_state_dict_pickle()))])


@case("pt2_duplicate_weights.pt2", "findings", ["zip.container", "pickle.global-not-allowed"],
      "malicious")
def _():
    # torch.export.load reads with Python's zipfile, which takes the last copy of a name.
    return pt2_bytes([("serialized_state_dict.pt", torch_save_zip(benign_state_dict_pickle())),
                      ("serialized_state_dict.pt", torch_save_zip(b"\x80\x02" + OS_SYSTEM_P0))])


# --- torch.package ------------------------------------------------------------

@case("package_interned_source_os_system.pt", "findings", ["source.dangerous-call"], "malicious")
def _():
    source = b"import os\nos.system('echo pwned')\n\nclass Thing:\n    pass\n"
    return package_zip([("evil/__init__.py", source), ("model/model.pkl", b"\x80\x03cevil\nThing\n)\x81.")])


@case("package_interned_source_aliased_subprocess.pt", "findings",
      ["source.dangerous-call", "source.dangerous-import"], "malicious")
def _():
    source = (b"from subprocess import check_output as co\n"
              b"def helper():\n    return 1\n"
              b"RESULT = co(['id'])\n")
    return package_zip([("evil.py", source), ("model.pkl", b"\x80\x03cevil\nhelper\n)R.")])


@case("package_reduce_package_os_system.pt", "findings", ["pickle.global-not-allowed"],
      "malicious")
def _():
    # A __reduce_package__ persistent id: torch calls func(importer, *args).
    pid = (b"(" + b"X\x0e\x00\x00\x00reduce_package" + b"X\x01\x00\x00\x000"
           + b"cos\nsystem\n" + b"X\x0a\x00\x00\x00echo pwnedq\x00\x85t")
    return package_zip([("obj/thing.pkl", b"\x80\x03" + pid + b"Q.")], extern="os\n")


@case("package_mangled_name.pt", "findings", ["pickle.mangled-name", "pickle.global-not-allowed"],
      "malicious")
def _():
    return package_zip([("model.pkl", b"\x80\x03c<torch_package_0>.os\nsystem\n"
                        b"X\x0a\x00\x00\x00echo pwned\x85R.")], extern="os\n")


@case("package_attribute_path_from_allowed_module.pt", "findings",
      ["pickle.global-not-allowed"], "malicious")
def _():
    # Protocol 4 walks dotted names from the module: torch.nn.modules.linear
    # imports torch, torch.serialization imports os. A wildcard allowing
    # classes of torch.nn.modules must not allow this path to os.system.
    return package_zip([("model.pkl", b"\x80\x04" + unicode4("torch.nn.modules.linear")
                         + unicode4("torch.serialization.os.system") + b"\x93"
                         + unicode4("echo pwned") + b"\x85R.")],
                       extern="torch\n")


@case("package_interned_os_shadowing.pt", "findings",
      ["package.shadowing-module", "source.introspection"], "suspicious")
def _():
    # The package brings its own `os`: a pickle's os.system resolves to it,
    # and it reaches subprocess without naming it in an import or a call.
    source = b"system = __builtins__['__imp' + 'ort__']('subpro' + 'cess').call\n"
    return package_zip([("os.py", source), ("model.pkl", b"\x80\x03cos\nsystem\nN\x85R.")])


@case("package_module_not_provided.pt", "findings", ["package.module-not-provided"],
      "suspicious")
def _():
    return package_zip([("model.pkl", b"\x80\x03cshutil\nrmtree\nX\x01\x00\x00\x00/\x85R.")])


@case("package_dangerous_extern.pt", "findings", ["package.dangerous-extern"], "suspicious")
def _():
    return package_zip([("m.py", b"X = 1\n")], extern="subprocess\n")


@case("package_pickle_in_resource.pt", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    # load_pickle() loads any resource: a pickle needs no .pkl name.
    return package_zip([("res/config.txt", b"\x80\x03cbuiltins\nexec\nX\x01\x00\x00\x00x\x85R.")],
                       extern="builtins\n")


# --- protocol 0/1 streams (no PROTO header) as resources and records ----------
# load_pickle() and pickle.load() run each opcode as they read it: a stream
# that breaks after its call has run the call (scan/pickle_sniff.h).

P0_CALL_THEN_CUT = OS_SYSTEM_P0[:-1]  # REDUCE has run; the STOP is missing


@case("package_p0_resource.pt", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    return package_zip([("res/settings.txt", OS_SYSTEM_P0)], extern="os\n")


@case("package_p1_resource.pt", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    # Protocol 1 opcodes (BINUNICODE, TUPLE1), still without a header.
    return package_zip([("res/blob", b"cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R.")],
                       extern="os\n")


@case("package_p0_resource_truncated.pt", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    return package_zip([("res/settings.txt", P0_CALL_THEN_CUT)], extern="os\n")


@case("package_p0_resource_call_then_text.pt", "findings", ["pickle.global-not-allowed"],
      "malicious")
def _():
    # The call, then prose: CPython fails at the newline after REDUCE.
    return package_zip([("res/README", P0_CALL_THEN_CUT + b"\nThis model classifies images.\n")],
                       extern="os\n")


@case("package_p0_reduce_package_truncated.pt", "findings", ["pickle.global-not-allowed"],
      "malicious")
def _():
    # BINPERSID of ('reduce_package', func, args): PackageUnpickler calls func, then the stream ends.
    return package_zip([("res/state", b"(S'reduce_package'\ncos\nsystem\n(S'echo pwned'\nttQ")],
                       extern="os\n")


@case("zip_p0_record_truncated.zip", "findings", ["pickle.global-not-allowed"], "malicious")
def _():
    return zip_bytes([("payload", P0_CALL_THEN_CUT + b" garbage"), ("notes.txt", b"Nothing.\n")],
                     prefix="bundle")


@case("p0_truncated_after_call.pkl", "unreadable", ["pickle.global-not-allowed"], "malicious")
def _():
    # Given as a file: never clean (it cannot be read to its end), and the call is reported.
    return P0_CALL_THEN_CUT


@case("package_text_resources_clean.pt", "clean")
def _():
    # Texts whose first bytes are protocol 0 opcodes (GLOBAL, MARK, INT, STRING,
    # PERSID, NONE) but that call nothing before they break.
    texts = {
        "res/devices.txt": b"cuda\ncpu\nmps\n",
        "res/copyright.txt": b"(c) 2024 Example Inc.\nconfig\nvalue\n",
        "res/scores.csv": b"ID,name,value\n1,conv,0.5\n",
        "res/quotes.txt": b"S'hello'\nS'world'\n",
        "res/labels.txt": b"Negative\nPositive\n",
        "res/notes.md": b"PyTorch model, see README.\n",
        "res/config.json": b"{\"lr\": 0.1}\n",
        "res/global_only.txt": b"cos\nsystem\n",
        "res/calls_with_none.txt": b"cos\nsystem\nNR",
    }
    return package_zip(list(texts.items()), extern="os\n")


@case("package_clean.pt", "clean")
def _():
    source = b"import torch\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
    return package_zip([("net/model.py", source),
                        ("model/model.pkl", b"\x80\x03cnet.model\nNet\n)\x81}b.")])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (make, verdict) in CASES.items():
        (args.out / name).write_bytes(make())
        expected[name] = verdict
    (args.out / "EXPECTED.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
