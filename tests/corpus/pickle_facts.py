"""Opcode-level facts about the pickles of an archive, found without importing anything.

Every global a pickle names is replaced by a fresh stub class and every
persistent id is recorded and returned as is, so neither the packaged code
nor torch's storage machinery runs: the facts are what the bytes say.
"""
import io
import pickle
import pickletools
import zipfile

ID_PLACEHOLDER = "<id(obj) at export time>"  # a memory address: differs on every run


class StubObject:
    """Stands for any global a pickle references; accepts whatever is done to it."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):  # dict subclasses such as OrderedDict
        self.__dict__.setdefault("items", []).append((key, value))

    def append(self, value):  # list subclasses
        self.__dict__.setdefault("appended", []).append(value)

    def extend(self, values):
        self.__dict__.setdefault("appended", []).extend(values)


def _as_json(value, depth=0):
    """A persistent id (or part of one) as JSON, naming stubs by their global."""
    if isinstance(value, type) and issubclass(value, StubObject):
        return "GLOBAL " + value.__module__ + "." + value.__name__
    if isinstance(value, StubObject):
        return "<instance of %s.%s>" % (type(value).__module__, type(value).__name__)
    if isinstance(value, (tuple, list)):
        return [_as_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        if depth > 1:
            return "<dict with %d keys>" % len(value)
        return {str(k): _as_json(item, depth + 1) for k, item in value.items()}
    if isinstance(value, bytes):
        return "bytes:" + value.hex()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return "<%s>" % type(value).__name__


def pickle_summary(raw):
    """Protocol, opcodes, globals (first-use order) and persistent ids (load order)."""
    opcodes = sorted({op.name for op, _, _ in pickletools.genops(raw)})
    globals_used = []
    persistent_ids = []

    class RecordingUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            globals_used.append(module + "." + name)
            return type(name, (StubObject,), {"__module__": module})

        def persistent_load(self, pid):
            recorded = _as_json(pid)
            if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == "reduce_package":
                recorded[1] = ID_PLACEHOLDER
            persistent_ids.append(recorded)
            return pid

    RecordingUnpickler(io.BytesIO(raw)).load()
    return {"protocol_byte": raw[1] if raw[:1] == b"\x80" else None,
            "size": len(raw),
            "opcodes_used": opcodes,
            "globals_in_first_use_order": globals_used,
            "persistent_ids_in_load_order": persistent_ids}


def all_pickles(path):
    """{record name without the prefix folder: pickle_summary} for every *.pkl record."""
    summaries = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(".pkl"):
                summaries[name.split("/", 1)[1]] = pickle_summary(archive.read(name))
    return summaries
